"""The shipped quality model (``projects/quality/default_model/``): what ``make audit`` uses without ``CKPT``.

Made in two steps (README, "Default model")::

    make train PROJECT=quality ARGS="experiment=default_model"
    python -m shared default_model quality ckpt_path=<run>/checkpoints/<val-selected>.ckpt

The second step (task ``default_model``) rounds the network's weights to fp16, and with those weights
chooses the accept threshold on the benchmark's val split (the lowest threshold at which at most
``ship.max_false_reject`` of the pristine val photos are rejected: the most recall that false-reject rate
allows), measures the test split at that threshold (false rejects of pristine photos, recall of degraded
ones, AUROC; the classical model measured the same way for comparison) and writes
``model.safetensors`` (fp16 tensors only), ``model.json`` (the inference spec with that threshold) and
``metrics.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig
from sklearn.metrics import roc_auc_score

from projects.quality.api import Predictor, from_logits, torch_logits
from projects.quality.shipped import DEFAULT_MODEL, SPEC_FILE, WEIGHTS_FILE
from shared.errors import CheckpointError, ConfigError
from shared.files import write_atomic
from shared.inference import InferenceSpec
from shared.report.tables import in_repo

METRICS_FILE = "metrics.json"


def fp16_rounded(net: Any) -> dict[str, Any]:
    """The state dict as shipped: floating tensors in fp16 (buffers such as BatchNorm counts kept)."""
    return {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in net.state_dict().items()}


def split_outputs(predictor: Predictor, data: Any) -> tuple[dict[str, np.ndarray], np.ndarray, list[str]]:
    """``predictor`` on every image of a benchmark split: its outputs, the reject labels and the image ids."""
    arrays = data.arrays
    batches = [predictor.outputs(np.stack([predictor.prepare(im) for im in arrays["images"][i:i + 64]]))
               for i in range(0, len(arrays["label"]), 64)]
    out = {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}
    return out, arrays["label"].astype(bool), [str(i) for i in arrays["id"]]


def accept_threshold(p_reject: np.ndarray, reject: np.ndarray, max_false_reject: float) -> float:
    """The lowest threshold at which at most ``max_false_reject`` of the pristine photos score above it."""
    pristine = np.sort(p_reject[~reject])[::-1]
    allowed = int(np.floor(max_false_reject * len(pristine)))
    return float(pristine[allowed]) if allowed < len(pristine) else 0.0


def rates(p_reject: np.ndarray, reject: np.ndarray, threshold: float, ids: list[str]) -> dict[str, float]:
    """False-reject rate of the pristine photos (also per source), recall of the degraded ones, AUROC."""
    decided = p_reject > threshold
    out = {"false_reject_rate": float(decided[~reject].mean()), "recall": float(decided[reject].mean()),
           "accuracy": float((decided == reject).mean()), "auroc": float(roc_auc_score(reject, p_reject)),
           "pristine": int((~reject).sum()), "degraded": int(reject.sum())}
    for source in ("fashion_products", "ccp"):
        mine = np.array([i.startswith(source + "/") for i in ids], dtype=bool)
        if len(mine) and (mine & ~reject).any():
            out[f"false_reject_rate_{source}"] = float(decided[mine & ~reject].mean())
    return out


def selected_checkpoint(train_dir: Path) -> Path:
    """The val-selected checkpoint a finished training run names in its metrics.json (``best_checkpoint``)."""
    metrics = train_dir / "metrics.json"
    try:
        best = json.loads(metrics.read_text()).get("best_checkpoint")
    except (OSError, ValueError):
        best = None
    if not best or not Path(best).is_file():
        raise ConfigError(f"{metrics} names no val-selected checkpoint: train first (make quality-default-model), "
                          "or pass ckpt_path=<run>/checkpoints/<best>.ckpt")
    return Path(best)


def run(cfg: DictConfig) -> Path:
    from safetensors.torch import save_file

    from projects.quality.audit import DEFAULT_CALIBRATION
    from projects.quality.module import QualityModule
    from shared.checkpoints import load_module
    from shared.datasets.registry import dataset_from_config
    from shared.inference import read_spec
    from shared.predict import require_checkpoint

    ckpt = require_checkpoint(cfg) if cfg.get("ckpt_path") or not cfg.ship.get("train_dir") else \
        selected_checkpoint(Path(cfg.ship.train_dir))
    spec = read_spec(ckpt)
    module = load_module(QualityModule, ckpt).eval()
    if module.kind != "timm_iqa":
        raise CheckpointError(f"{ckpt} is a {module.kind} model; the default model is a timm_iqa checkpoint "
                              "(make train PROJECT=quality ARGS=experiment=default_model)")
    state = fp16_rounded(module.net)
    module.net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    logits = torch_logits(module.net, spec)
    shipped = Predictor(spec, lambda batch: from_logits(logits(batch), 0.5), "fp16")
    val, val_reject, _ = split_outputs(shipped, dataset_from_config(cfg.data, "val"))
    limit = float(cfg.ship.max_false_reject)
    threshold = accept_threshold(val["p_reject"], val_reject, limit)
    test, test_reject, test_ids = split_outputs(shipped, dataset_from_config(cfg.data, "test"))
    classical = Predictor.classical(DEFAULT_CALIBRATION)
    c_test, _, _ = split_outputs(classical, dataset_from_config(cfg.data, "test"))
    metrics = {"threshold": threshold, "threshold_rule": f"lowest with at most {limit:.0%} false rejects on val",
               "val": rates(val["p_reject"], val_reject, threshold, []),
               "test": rates(test["p_reject"], test_reject, threshold, test_ids),
               "test_at_0.5": rates(test["p_reject"], test_reject, 0.5, test_ids),
               "classical_test": rates(c_test["p_reject"], test_reject, 0.5, test_ids),
               "checkpoint": in_repo(ckpt)}
    extra = {**spec.extra, "decision_threshold": threshold}
    shipped_spec = InferenceSpec(**{**spec.to_dict(), "names": tuple(spec.names), "mean": tuple(spec.mean),
                                    "std": tuple(spec.std), "extra": extra})
    out = Path(cfg.get("output") or DEFAULT_MODEL)
    out.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out / WEIGHTS_FILE))
    text = json.dumps({"spec": shipped_spec.to_dict(), "weights": WEIGHTS_FILE, "dtype": "float16"}, indent=2)
    write_atomic(out / SPEC_FILE, lambda f: f.write(text + "\n"))
    write_atomic(out / METRICS_FILE, lambda f: f.write(json.dumps(metrics, indent=2) + "\n"))
    size_mb = (out / WEIGHTS_FILE).stat().st_size / 1e6
    t = metrics["test"]
    print(f"default model -> {out} ({size_mb:.1f} MB fp16); accept threshold {threshold:.4f} (val); test: "
          f"false rejects {t['false_reject_rate']:.1%} of {t['pristine']} pristine, recall {t['recall']:.1%} of "
          f"{t['degraded']} degraded, AUROC {t['auroc']:.4f}")
    return out
