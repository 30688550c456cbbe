"""The one split-file writer (both layouts) and the atomic write under it; datasets registered where defined."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from shared.datasets.prepare import PREPARERS, write_split_file
from shared.datasets.registry import DATASETS, discover
from shared.errors import ConfigError
from shared.files import write_atomic


def test_csv_from_mapping_rows_and_from_sequence_rows_have_the_same_bytes(tmp_path):
    rows = [{"path": "images/1.jpg", "label": 0, "split": "train"}, {"path": "a,b.jpg", "label": 1, "split": "val"}]
    write_split_file(tmp_path / "dicts.csv", rows)
    write_split_file(tmp_path / "lists.csv", [list(r.values()) for r in rows], header=["path", "label", "split"])
    expected = b'path,label,split\nimages/1.jpg,0,train\n"a,b.jpg",1,val\n'
    assert (tmp_path / "dicts.csv").read_bytes() == expected
    assert (tmp_path / "lists.csv").read_bytes() == expected


def test_json_and_txt_layouts_and_nested_folders(tmp_path):
    write_split_file(tmp_path / "ccp" / "1_4" / "labeled.txt", ["0001", "0002"])
    write_split_file(tmp_path / "n.counts.json", {"total": 2, "train": {"images": 1}})
    assert (tmp_path / "ccp" / "1_4" / "labeled.txt").read_bytes() == b"0001\n0002\n"
    assert (tmp_path / "n.counts.json").read_text() == '{\n  "total": 2,\n  "train": {\n    "images": 1\n  }\n}\n'


def test_rows_without_keys_need_a_header_and_unknown_suffixes_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="need a header"):
        write_split_file(tmp_path / "x.csv", [[1, 2]])
    with pytest.raises(ConfigError, match=r"\.csv, \.json or \.txt"):
        write_split_file(tmp_path / "x.parquet", [])


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "split.csv"
    target.write_text("old\n")

    def fail(f) -> None:
        f.write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomic(target, fail)
    assert target.read_text() == "old\n" and os.listdir(tmp_path) == ["split.csv"]


def test_binary_writes_round_trip(tmp_path):
    write_atomic(tmp_path / "a.npz", lambda f: np.savez(f, x=np.arange(3)), binary=True)
    write_atomic(tmp_path / "t.pt", lambda f: torch.save({"t": torch.ones(2)}, f), binary=True)
    assert np.load(tmp_path / "a.npz")["x"].tolist() == [0, 1, 2]
    assert torch.load(tmp_path / "t.pt", weights_only=True)["t"].tolist() == [1.0, 1.0]
    assert sorted(os.listdir(tmp_path)) == ["a.npz", "t.pt"]


def test_each_dataset_is_registered_in_the_module_of_the_project_that_reads_it():
    discover()
    where = {name: DATASETS.get(name).__module__ for name in DATASETS.names()}
    assert where["fashion_top15"] == where["clothing_small"] == "projects.classification.datasets"
    assert where["fashion_tags"] == "projects.multimodal_tagging.datasets"
    assert where["quality_bench"] == where["quality_synthetic"] == "projects.quality.datasets"
    assert where["synthetic"] == "shared.datasets.synthetic" and where["ccp"] == "shared.datasets.ccp"
    assert PREPARERS.get("fashion_top15").__module__ == "projects.classification.datasets"
