"""The two methods a user would otherwise pick, run on exactly what our models get (issue 15):

* ``cv2_grabcut``: OpenCV's ``cv2.grabCut`` (``GC_INIT_WITH_MASK``, 5 iterations by default): the marker
  pixels are sure foreground, the background seeds (the 1-px image border and any background strokes)
  sure background, every other pixel "probably background";
* ``random_walker``: scikit-image's ``random_walker`` on the colour image (label 1 on the marker pixels,
  label 2 on the background seeds), ``beta`` tuned on the val split.

Both work on the working-size image (long side ``max_side``) with the marker mask the pipeline gives
our models (``pipeline.to_working``), and their masks are upsampled the same way, so only the method
differs. ``seeds`` builds the foreground / background seed masks once for all three families.
"""

from __future__ import annotations

import time
import warnings

import cv2
import numpy as np
from skimage.segmentation import random_walker as skimage_random_walker

ANCHORS = ("cv2_grabcut", "random_walker")


def border_mask(shape: tuple[int, int], width: int = 1) -> np.ndarray:
    """True on the ``width``-pixel frame of an (H, W) grid (the border prior: the product is not cut
    by the photo's edge)."""
    mask = np.zeros(shape, dtype=bool)
    if width > 0:
        mask[:width], mask[-width:], mask[:, :width], mask[:, -width:] = True, True, True, True
    return mask


def background_seeds(shape: tuple[int, int], background: np.ndarray | None, border: int) -> np.ndarray:
    """The image border (``border`` px, 0: none) plus the background marker mask, if any."""
    bg = border_mask(shape, border)
    if background is not None:
        bg |= background.astype(bool)
    return bg


def grabcut_mask(image: np.ndarray, fg: np.ndarray, bg: np.ndarray, iterations: int = 5, seed: int = 0) -> np.ndarray:
    """``cv2.grabCut`` from seed masks: image (H, W, 3) uint8 RGB, fg / bg (H, W) bool -> (H, W) bool.

    Foreground seeds win where both are set. Without any background seed grabCut has no background
    model, so every pixel that is not a foreground seed becomes "probably background" only."""
    mask = np.full(image.shape[:2], cv2.GC_PR_BGD, dtype=np.uint8)
    mask[bg] = cv2.GC_BGD
    mask[fg] = cv2.GC_FGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    bgr = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
    cv2.setRNGSeed(seed)  # its GMMs start from k-means on OpenCV's global RNG: seeded, the mask depends only
    # on the inputs (unseeded, k=3 test DSC moved from 0.672 to 0.721 with the calls that came before)
    cv2.grabCut(bgr, mask, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    return (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)


def random_walker_prob(image: np.ndarray, fg: np.ndarray, bg: np.ndarray, beta: float = 130.0) -> np.ndarray:
    """scikit-image ``random_walker`` foreground probability: image (H, W, 3) in [0, 1] (any scale: it
    is divided by its std inside), fg / bg (H, W) bool -> (H, W) float in [0, 1]."""
    labels = np.zeros(image.shape[:2], dtype=np.int32)
    labels[bg] = 2
    labels[fg] = 1
    if not bg.any():  # one label only: random_walker would return it everywhere
        return np.ones(image.shape[:2], dtype=np.float32)
    with warnings.catch_warnings():  # CG residuals of ~1e-3 put a few probabilities just outside [0, 1]
        warnings.filterwarnings("ignore", message="The probability range is outside", category=UserWarning)
        prob = skimage_random_walker(image.astype(np.float64), labels, beta=beta, mode="cg_j", tol=1e-3,
                                     channel_axis=-1, return_full_prob=True)
    return np.clip(prob[0], 0.0, 1.0).astype(np.float32)


def run_anchor(name: str, image: np.ndarray, fg: np.ndarray, bg: np.ndarray, options: dict) -> tuple[np.ndarray,
                                                                                                        float]:
    """(foreground probability at working size, seconds of the method call) for anchor ``name``.
    ``image`` is the working-size (H, W, 3) float image on the 0-1 scale."""
    start = time.perf_counter()
    if name == "cv2_grabcut":
        rgb = np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)
        prob = grabcut_mask(rgb, fg, bg, int(options.get("iterations", 5))).astype(np.float32)
    elif name == "random_walker":
        prob = random_walker_prob(image, fg, bg, float(options.get("beta", 130.0)))
    else:
        raise ValueError(f"unknown anchor {name!r}; choose one of {', '.join(ANCHORS)}")
    return prob, time.perf_counter() - start
