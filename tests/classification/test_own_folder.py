"""A user's own ImageFolder, end to end: train one short epoch, eval on the folder, predict on it, and
predict's labels give eval's accuracy; the class count and the input size come from the data / checkpoint."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from hydra.core.hydra_config import HydraConfig
from PIL import Image

from shared.api import load
from shared.config import compose
from shared.errors import ConfigError
from shared.tasks import dispatch

COLOURS = {"boot": (200, 40, 40), "sandal": (40, 200, 40), "sneaker": (40, 40, 200)}
TINY = ["data.image_size=32", "data.batch_size=32", "data.num_workers=0", "model=msff_base"]


def own_folder(root: Path, per_class: int = 5) -> Path:
    rng = np.random.default_rng(0)
    for name, colour in COLOURS.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            image = np.clip(np.array(colour) + rng.integers(-30, 30, (20, 24, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(image).save(root / name / f"{i}.{'jpg' if i % 2 else 'png'}")
    return root


@pytest.fixture
def trained(run_project, tmp_path):
    root = own_folder(tmp_path / "my_shoes")
    cfg, _ = run_project("classification", ["data=folder", f"data.root={root}", *TINY])
    return root, cfg


def run_command_line(tmp_path: Path, overrides: list[str], task: str):
    """A task with ``overrides`` as its command line (what apply_spec checks against the checkpoint)."""
    cfg = compose("classification", [f"paths.output_dir={tmp_path / task}", f"paths.log_dir={tmp_path}",
                                      *overrides], task=task, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    try:
        return dispatch(cfg)
    finally:
        HydraConfig.instance().cfg = None


def test_train_eval_predict_on_a_folder_agree(trained, run_project, tmp_path):
    root, cfg = trained
    run_dir = Path(cfg.paths.output_dir)
    assert cfg.data.num_classes == 3 and cfg.data.name == "my_shoes" and cfg.name == "my_shoes-msff_base"
    split = list(csv.DictReader((run_dir / "split.csv").open()))
    assert len(split) == 15 and {r["split"] for r in split} == {"train", "val", "test"}
    ckpt = run_dir / "checkpoints" / "last.ckpt"

    _, evaluated = run_project("classification", ["data=folder", f"data.root={root}", f"ckpt_path={ckpt}",
                                                  "data.num_workers=0", "data.batch_size=32", "model=msff_base"],
                                 task="eval")
    out = tmp_path / "pred.csv"
    run_project("classification", [f"ckpt_path={ckpt}", f"input={root}", f"output={out}"], task="predict")
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 15 and {r["prediction"] for r in rows} <= set(COLOURS)
    accuracy = np.mean([r["prediction"] == Path(r["file"]).parent.name for r in rows])
    assert accuracy == pytest.approx(evaluated["test/acc"], abs=1e-6)

    # predict takes the size from the checkpoint: another dataset's size changes nothing ...
    other = tmp_path / "other.csv"
    run_command_line(tmp_path, ["data=clothing_small", f"ckpt_path={ckpt}", f"input={root}", f"output={other}"],
                     "predict")
    assert other.read_text() == out.read_text()
    # ... and a size given on the command line that contradicts it is refused in one line
    with pytest.raises(ConfigError, match=r"data.image_size=48 contradicts the checkpoint .*image_size=32") as err:
        run_command_line(tmp_path, [f"ckpt_path={ckpt}", f"input={root}", "data.image_size=48"], "predict")
    assert "\n" not in str(err.value)


def test_a_class_count_that_disagrees_with_the_folder_is_one_line(run_project, tmp_path):
    root = own_folder(tmp_path / "three")
    with pytest.raises(ConfigError, match=r"data.num_classes=10 but three has 3 classes") as err:
        run_project("classification", ["data=folder", f"data.root={root}", "data.num_classes=10", *TINY])
    assert "\n" not in str(err.value)


def test_export_checks_onnx_and_predicts_what_the_checkpoint_predicts(trained, run_project, tmp_path, capsys):
    root, cfg = trained
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    run_project("classification", [f"ckpt_path={ckpt}", f"input={root}", f"output={tmp_path / 'export'}"],
                task="export")
    assert "onnxruntime vs PyTorch on 8 photos" in capsys.readouterr().out
    meta = json.loads((tmp_path / "export" / "model.json").read_text())
    assert meta["spec"]["names"] == sorted(COLOURS) and meta["spec"]["size"] == 32
    assert meta["checked"]["max_abs_diff"] <= 1e-4

    outputs = {}
    for kind, model in (("torch", ckpt), ("onnx", tmp_path / "export" / "model.onnx")):
        outputs[kind] = tmp_path / f"{kind}.csv"
        run_project("classification", [f"ckpt_path={model}", f"input={root}", f"output={outputs[kind]}"],
                    task="predict")
    torch_rows, onnx_rows = (list(csv.DictReader(outputs[k].open())) for k in ("torch", "onnx"))
    assert [(r["file"], r["prediction"]) for r in torch_rows] == [(r["file"], r["prediction"]) for r in onnx_rows]
    assert np.allclose([float(r["confidence"]) for r in torch_rows], [float(r["confidence"]) for r in onnx_rows],
                       atol=2e-4)

    api = load(tmp_path / "export" / "model.onnx").predict([root / r["file"] for r in torch_rows[:3]])
    assert [p["label"] for p in api] == [r["prediction"] for r in torch_rows[:3]]
    assert all(p["top"][0] == (p["label"], p["score"]) and len(p["top"]) == 3 for p in api)
