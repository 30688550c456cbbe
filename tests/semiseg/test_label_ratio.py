"""One reading of the label ratio everywhere: '1/16', '1_16', Hydra's integer 116 (an unquoted 1_16) and
0.0625 are the same ratio for the CCP splits, the synthetic subset split and the report's table key."""

from fractions import Fraction

import pytest
from omegaconf import OmegaConf

from projects.semiseg import report
from projects.semiseg.data import semi_datasets
from shared.config import compose
from shared.datasets import label_ratio
from shared.errors import ConfigError

from .tiny import TINY

SPELLINGS = ["1/16", "1_16", 116, 0.0625, "0.0625"]


@pytest.mark.parametrize("value", SPELLINGS)
def test_every_spelling_is_one_sixteenth(value):
    assert label_ratio.parse_label_ratio(value) == Fraction(1, 16)
    assert label_ratio.normalise_ratio(value) == "1_16"


@pytest.mark.parametrize("value, match", [("abc", "not a fraction"), (0, r"in \(0, 1\]"), ("3/2", r"in \(0, 1\]"),
                                          (1364, "quote it")])
def test_bad_ratios_are_config_errors(value, match):
    with pytest.raises(ConfigError, match=match):
        label_ratio.parse_label_ratio(value)


def test_hydra_reads_an_unquoted_1_16_as_116_and_the_subset_split_still_takes_one_sixteenth():
    cfg = compose("semiseg", [*TINY, "data.options.sizes={train:32,val:4,test:4}", "data.labeled_ratio=1_16"])
    assert cfg.data.labeled_ratio == 116                           # what Hydra hands over
    labeled, unlabeled = semi_datasets(cfg.data)
    assert (len(labeled), len(unlabeled)) == (2, 30)               # 32 / 16


@pytest.mark.parametrize("value", SPELLINGS)
def test_report_files_every_spelling_under_one_key(tmp_path, value):
    run_dir = tmp_path / "ccp_small" / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create({"seed": 0, "method": {"name": "mvpmatch"},
                                     "data": {"dataset": "ccp", "options": {"ratio": value}}}),
                   run_dir / ".hydra" / "config.yaml")
    assert report.collect_runs(tmp_path)[0].fields["ratio"] == "1_16"
    assert report.ratio_fraction("1_16") == pytest.approx(1 / 16)


@pytest.mark.parametrize("overrides, value", [
    (["data=ccp", "data.options.ratio='1_64'"], 0.015625),
    (["data=ccp", "data.options.ratio=1_4"], 0.25),        # Hydra's integer 14, read back as 1/4
    (["data=folder", "data.root=/photos", "data.options.ratio=0.3"], 0.3),
    ([], 0.0625),                                            # synthetic: data.labeled_ratio 1/16
])
def test_every_run_carries_its_label_ratio_as_a_number_with_method_and_seed(overrides, value):
    """W&B's label-ratio panel: x = label_ratio (a float in the logged config), grouped by method.name."""
    cfg = compose("semiseg", overrides)
    assert isinstance(cfg.label_ratio, float) and cfg.label_ratio == pytest.approx(value)
    assert cfg.method.name == "mvpmatch" and cfg.seed == 0
