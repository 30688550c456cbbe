"""Classical no-reference measures, no learned weights: what a platform gets without a network.

Six measures, each computed on the image at the working size (uint8 RGB):

==============  ===============================================================  ============  ==============
measure         definition                                                       bad when      flags defect
==============  ===============================================================  ============  ==============
laplacian_var   log(1 + variance of ``cv2.Laplacian`` of the grey image)          low           blur
noise_sigma     Immerkaer (1996) fast noise sigma of grey (Laplacian-difference)  high          noise
blockiness      mean |column/row step| on the 8-px JPEG grid / off the grid       high          jpeg
lum_p95         95th percentile of luminance (Rec. 601, in [0, 1])                low           underexposed
lum_p05         5th percentile of luminance                                       high          overexposed
grey_world      chroma sqrt(a*^2 + b*^2) of the mean Lab colour (grey-world cast)  high          colour_cast
==============  ===============================================================  ============  ==============

**From measures to accept / score (no labels used).** The measures are *calibrated on pristine
training photos only* (the accept class of the train split; no defect labels are looked at): for
each measure the median ``m`` and the robust scale ``s = 1.4826 * MAD`` (``1.2533 * mean |x - m|`` when
the MAD is 0 because over half the photos tie, e.g. p95 = 1 on white backgrounds). For an image, each
measure gives a one-sided robust z-score ``z = d * (x - m) / s`` (``d`` = +1 when high is bad, -1
when low is bad). A defect is flagged when its ``z > z_threshold`` (3 by default, fixed a priori,
not tuned); the image is rejected when any defect is flagged. The quality score is
``1 / (1 + max(0, max z) / z_threshold)`` in (0, 1] (1 = inside the pristine range on every measure);
``p_reject = 1 - score`` ranks images for AUROC, and the decision is exactly ``p_reject > 0.5``.
``low_resolution``, ``framing`` and ``clutter`` have no classical measure here and are reported as
not covered.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from shared.augment import IMAGENET_MEAN, IMAGENET_STD
from shared.errors import ConfigError

# measure -> (direction: +1 high is bad / -1 low is bad, defect it flags)
MEASURES: dict[str, tuple[int, str]] = {
    "laplacian_var": (-1, "blur"),
    "noise_sigma": (1, "noise"),
    "blockiness": (1, "jpeg"),
    "lum_p95": (-1, "underexposed"),
    "lum_p05": (1, "overexposed"),
    "grey_world": (1, "colour_cast"),
}


def noise_sigma(grey: np.ndarray) -> float:
    """J. Immerkaer, "Fast noise variance estimation", CVIU 1996: the image filtered with the difference
    of two Laplacians (which cancels smooth structure), ``sigma = sqrt(pi/2) * mean|I * N| / 6``.
    (scikit-image's wavelet ``estimate_sigma`` would need PyWavelets, which is not installed.)"""
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float64)
    response = cv2.filter2D(grey, cv2.CV_64F, kernel)[1:-1, 1:-1]
    return float(np.sqrt(np.pi / 2) * np.abs(response).mean() / 6)


def blockiness(grey: np.ndarray, block: int = 8) -> float:
    """Ratio of the mean absolute step across 8-px block borders to the mean step elsewhere (1 = none)."""
    dx = np.abs(np.diff(grey, axis=1))
    dy = np.abs(np.diff(grey, axis=0))
    on_x = (np.arange(dx.shape[1]) % block) == block - 1
    on_y = (np.arange(dy.shape[0]) % block) == block - 1
    on = dx[:, on_x].mean() + dy[on_y].mean()
    off = dx[:, ~on_x].mean() + dy[~on_y].mean()
    return float((on + 1e-3) / (off + 1e-3))


def measure(image: np.ndarray) -> dict[str, float]:
    """All measures of one uint8 RGB image."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64)
    lum = grey / 255.0
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float64)  # 8-bit Lab: a, b offset by 128
    a, b = lab[..., 1].mean() - 128, lab[..., 2].mean() - 128
    return {
        "laplacian_var": float(np.log1p(cv2.Laplacian(grey, cv2.CV_64F).var())),
        "noise_sigma": noise_sigma(lum),
        "blockiness": blockiness(grey),
        "lum_p95": float(np.percentile(lum, 95)),
        "lum_p05": float(np.percentile(lum, 5)),
        "grey_world": float(np.hypot(a, b)),
    }


def calibrate(images: list[np.ndarray]) -> dict[str, dict[str, float]]:
    """Median and robust scale of every measure over pristine images."""
    if len(images) < 5:
        raise ConfigError(f"classical calibration needs at least 5 pristine images, got {len(images)}")
    values = {k: np.array([m[k] for m in map(measure, images)]) for k in MEASURES}
    out = {}
    for k, v in values.items():
        med = float(np.median(v))
        scale = 1.4826 * float(np.median(np.abs(v - med)))
        if scale == 0:  # over half the values tie (e.g. p95 = 1.0 on white studio backgrounds)
            scale = 1.2533 * float(np.mean(np.abs(v - med)))  # mean absolute deviation, Gaussian-consistent
        out[k] = {"median": med, "scale": max(scale, 1e-6), "n": len(v)}
    return out


def to_uint8(x: torch.Tensor) -> list[np.ndarray]:
    """Undo the ImageNet normalisation of a (N, 3, H, W) batch."""
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    arr = ((x * std + mean).clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    return list(arr)


class ClassicalIQA(nn.Module):
    """No trainable parameters; ``calibration`` is set by :meth:`fit_pristine` or loaded from JSON."""

    def __init__(self, defect_names: list[str], z_threshold: float = 3.0,
                 calibration: dict | str | None = None) -> None:
        super().__init__()
        self.defect_names, self.z_threshold = list(defect_names), float(z_threshold)
        if isinstance(calibration, str):
            calibration = self.load(calibration)
        self.calibration: dict | None = calibration
        self.covered = [d in {v[1] for v in MEASURES.values()} for d in self.defect_names]

    @staticmethod
    def load(path: str | Path) -> dict:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"classical calibration file not found: {path} (written by "
                              f"`make eval PROJECT=quality ARGS='model=classical ...'` into its run folder)")
        return json.loads(path.read_text())["calibration"]

    def save(self, path: str | Path, image_size: int | list[int] | None = None) -> Path:
        """The measures depend on scale, so the working size of the calibration images is kept too."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"z_threshold": self.z_threshold, "image_size": image_size,
                                    "calibration": self.calibration}, indent=2))
        return path

    def fit_pristine(self, images: list[np.ndarray]) -> None:
        self.calibration = calibrate(images)

    def zscores(self, images: list[np.ndarray]) -> np.ndarray:
        if self.calibration is None:
            raise ConfigError("the classical model is not calibrated: evaluate it on a dataset first or pass "
                              "its calibration JSON (CKPT=.../classical_calibration.json)")
        rows = []
        for m in map(measure, images):
            rows.append([d * (m[k] - self.calibration[k]["median"]) / self.calibration[k]["scale"]
                         for k, (d, _) in MEASURES.items()])
        return np.array(rows, dtype=np.float64).reshape(len(images), len(MEASURES))

    def predict_images(self, images: list[np.ndarray]) -> dict[str, torch.Tensor]:
        z = self.zscores(images)
        worst = np.clip(z.max(axis=1), 0, None)
        score = 1.0 / (1.0 + worst / self.z_threshold)
        flags = np.full((len(images), len(self.defect_names)), np.nan)
        for j, (_, defect) in enumerate(MEASURES.values()):
            if defect in self.defect_names:
                flags[:, self.defect_names.index(defect)] = (z[:, j] > self.z_threshold).astype(float)
        return {"p_reject": torch.tensor(1 - score, dtype=torch.float32),
                "reject": torch.tensor(worst > self.z_threshold),
                "score": torch.tensor(score, dtype=torch.float32),
                "p_defects": torch.tensor(flags, dtype=torch.float32)}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.predict_images(to_uint8(x))
