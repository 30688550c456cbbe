"""environment.yml mirrors requirements.txt (same packages, same pins, whatever the pins are) and asks
for a Python that pyproject.toml allows."""

import re
import tomllib

import yaml

from shared.paths import REPO_ROOT


def _pins(lines) -> dict[str, str]:
    """name -> version of ``name==version`` lines (comments and blank lines skipped); other forms fail."""
    out = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\[\]-]+)\s*==\s*(\S+)", line)
        assert match, f"not an exact pin: {line!r}"
        out[match.group(1).lower()] = match.group(2)
    return out


def _environment() -> dict:
    return yaml.safe_load((REPO_ROOT / "environment.yml").read_text())


def test_environment_yml_pins_what_requirements_txt_pins():
    req = _pins((REPO_ROOT / "requirements.txt").read_text().splitlines())
    deps = _environment()["dependencies"]
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    env = _pins(pip_section)
    assert req, "requirements.txt pins nothing"
    assert sorted(set(req) ^ set(env)) == [], "packages in only one of the two files"
    assert {k: (req[k], env[k]) for k in req if req[k] != env[k]} == {}, "different pins (requirements, yml)"


def test_environment_python_satisfies_pyproject():
    deps = _environment()["dependencies"]
    python = [d for d in deps if isinstance(d, str) and re.match(r"python\b", d)]
    assert len(python) == 1, deps
    version = tuple(int(x) for x in re.search(r"(\d+)\.(\d+)", python[0]).groups())
    floor = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    minimum = tuple(int(x) for x in re.fullmatch(r">=\s*(\d+)\.(\d+)", floor.strip()).groups())
    assert version >= minimum, (python[0], floor)


def test_ci_runs_the_readme_test_command():
    readme = (REPO_ROOT / "README.md").read_text()
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "\nmake test\n" in ci + "\n"
    for var in ("HF_HUB_OFFLINE=1", "TRANSFORMERS_OFFLINE=1", "WANDB_MODE=offline"):
        assert var in ci
