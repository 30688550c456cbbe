"""Pseudo-label statistics logged every step: mask ratio per threshold level, history agreement, and,
where the unlabelled crops carry ground truth (``gt``, 255 = unknown), what the confident pseudo-labels
are made of and how often they are right."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from projects.semiseg.pseudo_labels import IGNORE, PseudoLabels

BACKGROUND = 0


def pseudo_label_stats(teacher: PseudoLabels, history: PseudoLabels | None, thresholds: Sequence[float],
                       gt: torch.Tensor | None = None,
                       class_names: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
    """``mask_ratio@t``: share of non-padded weak-view pixels with teacher conf >= t;
    ``hist_agree``: share where the historical ensemble's label equals the teacher's; with ``gt``
    (see :func:`ground_truth_stats`) the foreground share and accuracy of the confident labels."""
    valid = teacher.ignore != IGNORE
    n = valid.sum().clamp_min(1).float()
    levels = sorted(set(thresholds))
    out = {f"mask_ratio@{t:g}": ((teacher.conf >= t) & valid).sum() / n for t in levels}
    if history is not None:
        out["hist_agree"] = ((history.label == teacher.label) & valid).sum() / n
        out["hist_mask_ratio@max"] = ((history.conf >= max(thresholds)) & valid).sum() / n
    if gt is not None:
        out.update(ground_truth_stats(teacher, gt, levels, class_names))
    return out


def ground_truth_stats(teacher: PseudoLabels, gt: torch.Tensor, levels: Sequence[float],
                       class_names: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
    """Against the ground truth of the unlabelled crops, on the pixels where it is known:

    * ``gt_known``: share of non-padded pixels with a ground-truth label (0 when the data has none);
    * ``gt_fg``: the ground truth's foreground share (class != 0);
    * ``pl_acc``: accuracy of the teacher's argmax on every known pixel;
    * ``pl_fg@t`` / ``pl_acc@t``: foreground share / accuracy of the labels with conf >= t;
    * ``pl_class@<max t>/<class>`` and ``gt_class/<class>``: class histograms of the most confident labels
      and of the ground truth (with ``class_names``).
    A share with no pixels in this batch is NaN (the keys stay the same every step)."""
    valid = teacher.ignore != IGNORE
    known = valid & (gt != IGNORE)
    n_valid, n_known = valid.sum().float(), known.sum().float()
    nan = torch.tensor(float("nan"), device=gt.device)

    def share(part: torch.Tensor, whole: torch.Tensor) -> torch.Tensor:
        total = whole.sum()
        return (part & whole).sum() / total.float() if total > 0 else nan

    correct = teacher.label == gt
    out = {"gt_known": n_known / n_valid if n_valid > 0 else nan,
           "gt_fg": share(gt != BACKGROUND, known), "pl_acc": share(correct, known)}
    for t in levels:
        confident = (teacher.conf >= t) & valid
        out[f"pl_fg@{t:g}"] = share(teacher.label != BACKGROUND, confident)
        out[f"pl_acc@{t:g}"] = share(correct, confident & known)
    if class_names:
        top = (teacher.conf >= max(levels)) & valid
        for c, name in enumerate(class_names):
            out[f"pl_class@{max(levels):g}/{name}"] = share(teacher.label == c, top)
            out[f"gt_class/{name}"] = share(gt == c, known)
    return out
