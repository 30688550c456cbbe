"""The title parser's error names the config key the user must fix, and that key exists."""

import re

import pytest
from omegaconf import OmegaConf

from projects.multimodal_tagging.weak.title import TitleParser
from shared.config import compose
from shared.errors import ConfigError


def test_unknown_keyword_tag_names_an_existing_config_key():
    with pytest.raises(ConfigError) as info:
        TitleParser(["colour:Red"], {"colour:Mauve": ["mauve"]})
    key = re.match(r"(\S+) names unknown tag", str(info.value)).group(1)
    cfg = compose("multimodal_tagging")
    assert OmegaConf.select(cfg, key, throw_on_missing=False) is not None, key
    assert "colour:Mauve" in str(info.value)
