"""Where each model family catches defects: reject rate on the constructed test split per defect and
per severity (and the false-reject rate on pristine photos), for the table runs' val-selected
checkpoints. Writes a markdown table and ``reject_rate_by_severity.png``.

    python -m projects.quality.analysis [--runs runs/quality/sweeps/bench] [--out runs/quality/analysis]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from projects.quality.datasets import real_arrays  # noqa: E402
from projects.quality.degradations import DEFECTS, SEVERITIES  # noqa: E402
from projects.quality.module import QualityModule  # noqa: E402
from shared.augment import build_transforms  # noqa: E402
from shared.checkpoints import load_module  # noqa: E402
from shared.datasets.registry import discover  # noqa: E402
from shared.paths import REPO_ROOT, data_root  # noqa: E402

FAMILIES = {"classical": "classical", "seed_cnn": "seed CNN", "timm_iqa": "timm 3-head"}


def load(run: Path) -> QualityModule:
    metrics = json.loads((run / "metrics.json").read_text())
    if "best_checkpoint" in metrics:
        return load_module(QualityModule, metrics["best_checkpoint"]).eval()
    calibration = run / "classical_calibration.json"  # an eval run of the classical model (no checkpoint)
    model = {"name": "classical", "kind": "classical", "calibration": str(calibration)}
    return QualityModule(model, json.loads(calibration.read_text())["image_size"]).eval()


def reject_decisions(module: QualityModule, images: np.ndarray, batch: int = 64) -> np.ndarray:
    transform = build_transforms("eval", module.hparams.image_size)
    out = []
    with torch.inference_mode():
        for i in range(0, len(images), batch):
            x = torch.stack([transform(image=im)["image"] for im in images[i:i + batch]])
            out.append(module.predict_batch(x)["reject"].numpy())
    return np.concatenate(out).astype(bool)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=Path, default=REPO_ROOT / "runs" / "quality" / "sweeps" / "bench")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "runs" / "quality" / "analysis")
    args = parser.parse_args()
    discover()
    test = real_arrays(data_root(), "test")
    severity, label = test["severity"], test["label"]
    rates: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    by_sev: dict[str, list[np.ndarray]] = defaultdict(list)
    for run in sorted(p for p in args.runs.iterdir() if (p / "metrics.json").is_file()):
        family = run.name.split("-s")[0]
        reject = reject_decisions(load(run), test["images"])
        rates[family]["pristine (false reject)"].append(float(reject[label == 0].mean()))
        for j, d in enumerate(DEFECTS):
            rates[family][d].append(float(reject[severity[:, j] > 0].mean()))
        top = severity.max(axis=1)  # an image's worst severity
        by_sev[family].append(np.array([reject[top == s].mean() for s in SEVERITIES]))
    args.out.mkdir(parents=True, exist_ok=True)
    rows = ["pristine (false reject)", *DEFECTS]
    fams = [f for f in FAMILIES if f in rates]
    lines = ["| images with | " + " | ".join(FAMILIES[f] for f in fams) + " |", "|---|" + "---|" * len(fams)]
    for r in rows:
        lines.append(f"| {r} | " + " | ".join(f"{100 * np.mean(rates[f][r]):.0f}" for f in fams) + " |")
    table = "\n".join(lines) + "\n"
    (args.out / "reject_rate.md").write_text(table)
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for f in fams:  # severity 0 = the pristine photos: the false-reject rate
        curve = [np.mean(rates[f]["pristine (false reject)"]), *np.mean(by_sev[f], axis=0)]
        ax.plot([0, *SEVERITIES], 100 * np.array(curve), marker="o", label=f"{FAMILIES[f]} ({len(by_sev[f])} run(s))")
    ax.set_xticks([0, *SEVERITIES], ["pristine", *map(str, SEVERITIES)])
    ax.set_xlabel("worst defect severity of the image (pristine = no defect)")
    ax.set_ylabel("rejected (%)")
    ax.set_title("Constructed test split: reject rate by severity", fontsize=9)
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out / "reject_rate_by_severity.png", dpi=120)
    print(table)
    print({f: np.round(100 * np.mean(by_sev[f], axis=0), 1).tolist() for f in fams})


if __name__ == "__main__":
    main()
