"""Sweep run folders -> records: ``<root>/<setting>/<run>/`` with Hydra's ``.hydra/config.yaml`` (what
the run was) and ``metrics.json`` (what it measured; written last, so its absence means unfinished)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from shared.errors import DataError

# Extra fields of a record, derived from its config by a project (e.g. semiseg's normalised label ratio).
FieldsFn = Callable[[DictConfig], Mapping[str, Any]]


@dataclass(frozen=True)
class RunRecord:
    """One run folder. ``metrics`` is metrics.json ({} while the run is unfinished); ``fields`` are
    values a project derived from the config, looked up before the config itself."""

    setting: str
    run_dir: Path
    config: DictConfig = field(default_factory=lambda: OmegaConf.create({}))
    metrics: dict[str, Any] = field(default_factory=dict)
    fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return bool(self.metrics)

    @property
    def name(self) -> str:
        return self.run_dir.name

    def value(self, key: str) -> Any:
        """A derived field, else the config value at the dotted ``key`` (None when absent or unresolvable:
        the saved config keeps interpolations such as ``${now:...}`` that only resolve inside Hydra)."""
        if key in self.fields:
            return self.fields[key]
        try:
            return OmegaConf.select(self.config, key, default=None)
        except OmegaConfBaseException:
            return None

    def matches(self, match: Mapping[str, Any]) -> bool:
        """Every ``key: value`` of ``match`` holds (compared as text: YAML 0.05 and a config's 0.05 agree)."""
        return all(_same(self.value(key), want) for key, want in match.items())


def _same(value: Any, want: Any) -> bool:
    if isinstance(want, (list, tuple)):
        return any(_same(value, w) for w in want)
    return value is not None and str(value) == str(want)


def read_metrics(run_dir: Path) -> dict[str, Any]:
    """metrics.json, or {} when there is none (the run is unfinished: training writes it last, atomically).
    One that is there but is not a JSON object holding at least one number is damaged: a DataError naming it."""
    path = run_dir / "metrics.json"
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: damaged ({type(exc).__name__}: {str(exc)[:80]}); re-run the run (make sweep "
                        "resumes it) or remove its folder") from None
    if not isinstance(data, dict) or not any(isinstance(v, (int, float)) and not isinstance(v, bool)
                                             for v in data.values()):
        raise DataError(f"{path}: damaged (expected a JSON object of metrics, found {_kind(data)}); re-run the "
                        "run (make sweep resumes it) or remove its folder")
    return data


def _kind(data: Any) -> str:
    if isinstance(data, dict):
        return "an object without a number" if data else "an empty object"
    return f"a {type(data).__name__}"


def read_run(run_dir: Path, fields: FieldsFn | None = None) -> RunRecord | None:
    """A run folder -> its record; None when it is no Hydra run (no ``.hydra/config.yaml``). A config
    that is not readable YAML is a DataError naming it."""
    config_file = run_dir / ".hydra" / "config.yaml"
    if not config_file.is_file():
        return None
    try:
        config = OmegaConf.load(config_file)
    except Exception as exc:  # yaml's ScannerError / ParserError and OmegaConf's own errors
        raise DataError(f"{config_file}: not readable YAML ({type(exc).__name__}); re-run the run or remove "
                        "its folder") from None
    if not isinstance(config, DictConfig) or config_file.stat().st_size == 0:
        raise DataError(f"{config_file}: empty or not a mapping; re-run the run or remove its folder")
    return RunRecord(setting=run_dir.parent.name, run_dir=run_dir, config=config, metrics=read_metrics(run_dir),
                     fields=dict(fields(config)) if fields else {})


def collect_runs(root: Path, fields: FieldsFn | None = None) -> list[RunRecord]:
    """Every ``<root>/<setting>/<run>/`` run folder, sorted by setting and run name."""
    records = [read_run(path.parent.parent, fields) for path in sorted(Path(root).glob("*/*/.hydra/config.yaml"))]
    return [r for r in records if r is not None]


def epochs_run(run_dir: Path, column: str = "epoch") -> int | None:
    """How many epochs a run trained: 1 + the largest epoch in its CSV log (``csv/metrics.csv``) on a
    row with a validation metric; None without a log."""
    path = run_dir / "csv" / "metrics.csv"
    if not path.is_file():
        return None
    with path.open(newline="") as f:
        epochs = {int(float(row[column])) for row in csv.DictReader(f)
                  if row.get(column) and any(k.startswith("val/") and v for k, v in row.items() if k)}
    return max(epochs) + 1 if epochs else None
