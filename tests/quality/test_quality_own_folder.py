"""A user's accept/ and reject/[<defect>/] folders, end to end: fine-tune one short epoch, eval on the folder,
audit it, and the audit's verdicts and p(reject) give eval's accuracy and AUROC."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import roc_auc_score

from projects.quality.api import Predictor
from projects.quality.degradations import degrade
from shared.datasets.synthetic import SyntheticSpec, make_sample
from shared.errors import DataError
from shared.inference import read_spec

TINY = ["data.image_size=[32,32]", "data.batch_size=32", "model=timm_iqa"]


def own_folder(root: Path, count: int = 6) -> Path:
    """accept/: clean products; reject/blur/: blurred ones; reject/: noisy ones (defect not named)."""
    for sub in ("accept", "reject/blur", "reject"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        clean = make_sample(5, i, SyntheticSpec(image_size=48, clutter_prob=0.0)).image
        rng = np.random.default_rng(i)
        Image.fromarray(clean).save(root / "accept" / f"{i}.png")
        Image.fromarray(degrade(clean, "blur", 5, rng)).save(root / "reject" / "blur" / f"{i}.png")
        Image.fromarray(degrade(clean, "noise", 5, rng)).save(root / "reject" / f"{i}.jpg", quality=95)
    return root


@pytest.mark.slow   # fine-tune, eval and audit end to end
def test_finetune_eval_and_audit_on_a_folder_agree(run_project, tmp_path):
    root = own_folder(tmp_path / "my_catalogue")
    cfg, results = run_project("quality", ["data=folder", f"data.root={root}", *TINY])
    assert cfg.name == "my_catalogue-timm_iqa" and "final/test/acc" in results
    split = list(csv.DictReader((Path(cfg.paths.output_dir) / "split.csv").open()))
    assert len(split) == 18 and {r["label"] for r in split} == {"accept", "reject"}
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    spec = read_spec(ckpt)
    assert spec.extra["size_hw"] == [32, 32] and spec.extra["decision_threshold"] == 0.5 and "blur" in spec.names

    _, evaluated = run_project("quality", ["data=folder", f"data.root={root}", f"ckpt_path={ckpt}", *TINY],
                               task="eval")
    out = tmp_path / "audit"
    run_project("quality", [f"ckpt_path={ckpt}", f"input={root}", f"output={out}", "audit.progress=false"],
                task="audit")
    rows = list(csv.DictReader((out / "audit.csv").open()))
    assert len(rows) == 18 and not any(r["error"] for r in rows)
    truth = {r["file"]: not r["file"].startswith("accept/") for r in rows}
    accuracy = np.mean([(r["accept"] == "0") == truth[r["file"]] for r in rows])
    assert accuracy == pytest.approx(evaluated["test/acc"], abs=1e-6)

    files = sorted(truth)
    predicted = Predictor.from_checkpoint(ckpt).predict([str(root / f) for f in files])
    auroc = roc_auc_score([truth[f] for f in files], [p["p_reject"] for p in predicted])
    assert auroc == pytest.approx(evaluated["test/auroc"], abs=1e-6)
    by_file = {r["file"]: r for r in rows}
    assert all(f"{p['p_reject']:.4f}" == by_file[f]["p_reject"] for f, p in zip(files, predicted))

    # the ONNX export (checked with onnxruntime) audits the folder as the checkpoint does
    export = tmp_path / "export"
    run_project("quality", [f"ckpt_path={ckpt}", f"input={root}", f"output={export}"], task="export")
    meta = json.loads((export / "model.json").read_text())
    assert list(meta["outputs"]) == ["reject", "defects", "score"] and meta["checked"]["max_abs_diff"] <= 1e-4
    onnx_out = tmp_path / "audit-onnx"
    run_project("quality", [f"ckpt_path={export / 'model.onnx'}", f"input={root}", f"output={onnx_out}",
                            "audit.progress=false"], task="audit")
    onnx_rows = {r["file"]: r for r in csv.DictReader((onnx_out / "audit.csv").open())}
    assert {f: r["accept"] for f, r in onnx_rows.items()} == {f: r["accept"] for f, r in by_file.items()}
    assert all(abs(float(onnx_rows[f]["p_reject"]) - float(r["p_reject"])) <= 2e-4 for f, r in by_file.items())


def test_an_unknown_defect_folder_is_one_line(run_project, tmp_path):
    root = own_folder(tmp_path / "shop")
    (root / "reject" / "smudge").mkdir()
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(root / "reject" / "smudge" / "x.png")
    with pytest.raises(DataError, match=r"reject/smudge/ is not a defect this model knows \(blur, noise") as err:
        run_project("quality", ["data=folder", f"data.root={root}", *TINY])
    assert "\n" not in str(err.value)
