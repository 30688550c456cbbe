"""environment.yml mirrors requirements.txt exactly (same packages, same pins)."""

import re

import yaml

from shared.paths import REPO_ROOT


def _pins(lines):
    out = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, version = re.split(r"==", line, maxsplit=1)
        out[name.strip().lower()] = version.strip()
    return out


def test_environment_yml_matches_requirements():
    req = _pins((REPO_ROOT / "requirements.txt").read_text().splitlines())
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert _pins(pip_section) == req
    assert req["torch"] == "2.14.1" and req["torchvision"] == "0.29.1"
    assert req["omegaconf"] == "2.3.1" and req["hydra-core"] == "1.3.8"


def test_ci_runs_the_readme_test_command():
    readme = (REPO_ROOT / "README.md").read_text()
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "\nmake test\n" in ci + "\n"
    for var in ("HF_HUB_OFFLINE=1", "TRANSFORMERS_OFFLINE=1", "WANDB_MODE=offline"):
        assert var in ci
