"""A user's own products CSV (data=csv): train -> eval -> predict, and predict's tags give eval's F1."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from projects.multimodal_tagging.weak.labels import build_targets
from shared.config import compose
from shared.errors import CheckpointError, ConfigError, DataError
from shared.inference import apply_spec, read_spec
from shared.metrics import multilabel_metrics
from shared.tasks import build_components
from tests.multimodal_tagging.tiny import SMALL, write_shop


def scores_from_predictions(path: Path, names: list[str], truth: dict[str, list[str]]) -> dict[str, float]:
    """Eval's metrics computed from the tags column of predictions.csv (0/1 per tag) for the rows in ``truth``."""
    rows = {r["file"]: r for r in csv.DictReader(path.open())}
    preds = torch.tensor([[float(n in rows[f]["tags"].split(";")) for n in names] for f in truth])
    target = torch.tensor([[int(n in tags) for n in names] for tags in truth.values()])
    metrics = multilabel_metrics(len(names), prefix="test/")
    metrics.update(preds, target)
    return {k: float(v) for k, v in metrics.compute().items()}


@pytest.mark.slow   # train, eval and predict end to end
def test_train_eval_predict_on_a_products_csv(run_project, tmp_path):
    products = write_shop(tmp_path / "my_shop")
    csv_args = ["data=csv", f"data.csv={products}", *SMALL]
    cfg, _ = run_project("multimodal_tagging", csv_args)
    run = Path(cfg.paths.output_dir)
    assert cfg.name.startswith("my_shop-")   # the CSV's folder names the run
    split = list(csv.DictReader((run / "split.csv").open()))
    assert len(split) == 30 and {r["split"] for r in split if not r["tags"]} == {"train"}
    assert [r["split"] for r in split].count("test") == 4   # 15 % of the 24 tagged rows
    ckpt = run / "checkpoints" / "last.ckpt"
    spec = read_spec(ckpt)
    assert spec.size == 32 and spec.extra["industries"] == sorted({r["industry"] for r in split})
    assert list(spec.names) == sorted({t for r in split for t in r["tags"].split("|") if t})

    # eval on the held-out rows (the split the run wrote), scoring every test row
    split_csv = run / "split.csv"
    _, evaluated = run_project("multimodal_tagging", [*csv_args, f"data.csv={split_csv}", f"ckpt_path={ckpt}",
                                                      "trainer.limit_test_batches=1.0"], task="eval")
    out = tmp_path / "pred.csv"
    run_project("multimodal_tagging", [f"ckpt_path={ckpt}", f"input={split_csv}", f"output={out}"], task="predict")
    truth = {r["image"]: r["tags"].split("|") for r in split if r["split"] == "test"}
    from_file = scores_from_predictions(out, list(spec.names), truth)
    for key in ("test/f1_macro", "test/f1_micro"):
        assert from_file[key] == pytest.approx(evaluated[key], abs=1e-6), key

    # without a split column every tagged row of the CSV is the test set
    _, everything = run_project("multimodal_tagging", [*csv_args, f"ckpt_path={ckpt}",
                                                       "trainer.limit_test_batches=1.0"], task="eval")
    truth = {str(products.parent / "images" / f"p{i}.png"): r["tags"].split("|")
             for i, r in enumerate(split) if r["tags"]}
    run_project("multimodal_tagging", [f"ckpt_path={ckpt}", f"input={products}", f"output={out}"], task="predict")
    assert scores_from_predictions(out, list(spec.names), truth)["test/f1_macro"] == pytest.approx(
        everything["test/f1_macro"], abs=1e-6)

    eval_cfg = compose("multimodal_tagging", [*csv_args, "data.image_size=64"], task="eval")
    with pytest.raises(ConfigError, match="contradicts the checkpoint"):
        apply_spec(eval_cfg, spec, ckpt, overrides=["data.image_size=64"])


def test_tagged_rows_keep_their_tags_and_untagged_rows_get_weak_labels(tmp_path):
    products = write_shop(tmp_path / "shop", tagged=12, untagged=4)
    cfg = compose("multimodal_tagging", ["data=csv", f"data.csv={products}", *SMALL,
                                         f"paths.output_dir={tmp_path / 'run'}", f"paths.log_dir={tmp_path}"])
    assert cfg.weak.precise_fraction == 1.0
    dm = instantiate(cfg.datamodule, _recursive_=False)
    dm.prepare_data()
    dm.setup()
    table = dm.weak
    assert table.precise.sum() == table.labelled.sum() == len(dm.datasets["train"]) - 4   # every tagged train row
    targets, weights, _ = build_targets(table, table.initial_embedding, 0.3, k=3, threshold=0.8)
    precise, weak = np.flatnonzero(table.precise), np.flatnonzero(~table.precise)
    assert np.array_equal(targets[precise], table.tags[precise]) and (weights[precise] == 1).all()
    titles = [r["title"] for r in dm.datasets["train"].raw.records]
    named = [(r, j) for r in weak for j, tag in enumerate(dm.tag_names) if tag in titles[r].split()]
    assert named   # an untagged row whose title names a tag gets that tag as a weak label
    assert all(targets[r, j] == 1 and weights[r, j] == pytest.approx(0.3) for r, j in named)


def test_a_split_column_is_honoured_and_checked(tmp_path):
    products = write_shop(tmp_path / "shop", tagged=9, untagged=1)
    lines = products.read_text().splitlines()
    names = ["train"] * 5 + ["val"] * 2 + ["test"] * 2 + [""]
    products.write_text("\n".join([lines[0] + ",split", *(f"{r},{s}" for r, s in zip(lines[1:], names))]) + "\n")
    cfg = compose("multimodal_tagging", ["data=csv", f"data.csv={products}", *SMALL,
                                         f"paths.output_dir={tmp_path / 'run'}", f"paths.log_dir={tmp_path}"])
    dm = instantiate(cfg.datamodule, _recursive_=False)
    dm.prepare_data()
    assert [len(dm.csv_rows[s]) for s in ("train", "val", "test")] == [6, 2, 2]
    assert not (Path(cfg.paths.output_dir).parent / "splits").exists()
    products.write_text(products.read_text().replace(",test\n", ",validate\n", 1))
    with pytest.raises(DataError, match="split 'validate' is not train, val or test"):
        build_components(cfg)


def test_keywords_can_be_cleared_from_the_command_line():
    cfg = compose("multimodal_tagging", ["data=fashion_tags", "data.title.keywords={}"])
    assert dict(cfg.data.title.keywords) == {}
    assert "gender:Men" in compose("multimodal_tagging", ["data=fashion_tags"]).data.title.keywords


def test_the_default_image_encoder_is_imagenet_pretrained():
    cfg = compose("multimodal_tagging")
    assert cfg.model.image.pretrained == "packaged:efficientnet_lite0"
    assert cfg.progressive.stages[0].trainable == ["projections", "head"]


def test_a_checkpoint_without_a_spec_is_refused(tmp_path):
    from projects.multimodal_tagging.api import Predictor

    path = tmp_path / "old.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {}}, path)
    with pytest.raises(CheckpointError, match="no inference spec"):
        Predictor.from_checkpoint(path)
