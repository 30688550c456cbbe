"""Rewrite recorded metric names to the one convention of the root README ("Metric names").

Runs written before the convention name the same numbers differently per project (classification
``f1``, variational_seg ``dsc_mean``, multimodal_tagging ``f1_tag/<tag>``, quality ``f1_<defect>``).
The report library reads the convention's names only, so such runs are rewritten once, here:

    .venv/bin/python -m shared.report.rename_metrics reports/            # the committed archive
    .venv/bin/python -m shared.report.rename_metrics runs/<p>/sweeps/    # live sweep folders, the same way

Every run folder below the given folders (a folder with ``.hydra/config.yaml``; its ``project:``
says which names it uses) gets its ``metrics.json`` keys, the column headers of ``csv/metrics.csv``
and ``per_image.csv`` and the keys of ``summary.json`` renamed; every table JSON
(``reports/<project>/<table>.json``) its ``metric`` fields. Each file is replaced atomically and only
when a name changes; the rules map no new name again, so a second run changes nothing. ``--check``
changes nothing and exits 1 when a file still holds a name to rename."""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from shared.errors import DataError
from shared.files import write_atomic

# (pattern, replacement) applied in order, each once, to a metric name (what follows the stage, and
# semiseg's teacher/student): the name a project's code logged before the convention -> its name now.
RULES: dict[str, tuple[tuple[re.Pattern[str], str], ...]] = {
    "classification": ((re.compile(r"^(f1|precision|recall)$"), r"\1_macro"),),
    "quality": ((re.compile(r"^(precision|recall|f1)$"), r"\1_binary"),
                (re.compile(r"^defect_f1$"), "f1_macro"),
                (re.compile(r"^f1_(?!binary$|macro$)(.+)$"), r"f1/\1")),
    "multimodal_tagging": ((re.compile(r"^f1_tag/(.+)$"), r"f1/\1"),),
    "semiseg": (),
    "variational_seg": ((re.compile(r"^(.+)_mean$"), r"\1"),
                        (re.compile(r"^dsc(_std)?$"), r"dice\1")),
}
STAGES = ("train", "val", "test", "all")   # all: the NoC protocol over every image of the data set
MODELS = ("teacher", "student")            # semiseg: <stage>/<model>/<metric>
TABLE_SUFFIX = ".json"
RUN_FILES = ("metrics.json", "summary.json", "csv/metrics.csv", "per_image.csv")


def rename_metric(project: str, name: str) -> str:
    """A bare metric name (``f1``, ``dsc_mean``, ``f1_tag/Men``) -> its name under the convention."""
    if project not in RULES:
        raise DataError(f"unknown project {project!r}; one of {', '.join(RULES)}")
    for pattern, replacement in RULES[project]:
        name = pattern.sub(replacement, name)
    return name


def rename_key(project: str, key: str) -> str:
    """A recorded key (``best/test/f1``, ``fit/val/student/dice``, ``test/dsc_mean``) -> its new name; a key
    with no stage (``best_checkpoint``, ``epoch``, ``lr-AdamW/pg1``) is no metric and stays."""
    parts = key.split("/")
    stage = next((i for i, part in enumerate(parts) if part in STAGES), None)
    if stage is None or stage == len(parts) - 1:
        return key
    start = stage + 2 if parts[stage + 1] in MODELS and stage + 2 < len(parts) else stage + 1
    return "/".join([*parts[:start], rename_metric(project, "/".join(parts[start:]))])


def renamed_dict(data: dict[str, Any], rename: Callable[[str], str], path: Path) -> dict[str, Any]:
    """``data`` with renamed keys (order kept); two keys that become one are a DataError naming ``path``."""
    out: dict[str, Any] = {}
    source: dict[str, str] = {}
    for key, value in data.items():
        new = rename(key)
        if new in out and out[new] != value:
            first, second = sorted((source[new], key), key=lambda k: k == new)
            raise DataError(f"{path}: {first!r} becomes {new!r}, which it also holds with another value; remove "
                            f"one of {first!r} and {second!r} by hand and run the rename again")
        out[new], source[new] = value, key
    return out


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not readable JSON ({type(exc).__name__}); re-copy or remove it") from None


def _write_json(path: Path, data: Any, like: str) -> None:
    """``data`` written as the file's old text ``like`` was: its indentation and its escaping of non-ASCII
    characters (a table's "–" stays one character)."""
    match = re.search(r"\n( +)\S", like)
    text = json.dumps(data, indent=len(match.group(1)) if match else None, ensure_ascii="\\u" in like)
    write_atomic(path, lambda f: f.write(text + "\n"))


def rewrite_json_keys(path: Path, rename: Callable[[str], str], write: bool) -> bool:
    """Rename the top-level keys of a JSON object file; whether a key changed."""
    text = path.read_text()
    data = _read_json(path)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object; re-copy or remove it")
    new = renamed_dict(data, rename, path)
    if list(new) == list(data):
        return False
    if list(data) == sorted(data):   # metrics.json is written with sorted keys: so is the rewrite
        new = dict(sorted(new.items()))
    if write:
        _write_json(path, new, text)
    return True


def rewrite_csv_header(path: Path, rename: Callable[[str], str], write: bool) -> bool:
    """Rename the header row of a CSV file, every other byte kept; whether a column changed."""
    with path.open(newline="", encoding="utf-8") as f:
        text = f.read()
    first, sep, rest = text.partition("\n")
    ending = "\r\n" if first.endswith("\r") else "\n"
    header = next(csv.reader([first.rstrip("\r")]), [])
    new = [rename(name) for name in header]
    if new == header:
        return False
    if len(set(new)) < len(new):
        raise DataError(f"{path}: renaming its columns makes two of them one; fix the header by hand")
    if write:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator=ending if sep else "").writerow(new)
        write_atomic(path, lambda f: f.write(buffer.getvalue() + rest), newline="")
    return True


def run_project(run_dir: Path) -> str | None:
    """The ``project:`` of a run folder's saved config (None: no project named there)."""
    try:
        config = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        raise DataError(f"{run_dir / '.hydra' / 'config.yaml'}: not readable YAML; re-copy or remove the run "
                        "folder") from None
    project = config.get("project") if isinstance(config, dict) else None
    return project if project in RULES else None


def rewrite_run(run_dir: Path, write: bool = True) -> list[Path]:
    """One run folder's recorded names -> the convention; the files that changed (or would)."""
    project = run_project(run_dir)
    if project is None:
        return []
    key = lambda name: rename_key(project, name)      # noqa: E731  stage-prefixed: metrics.json, the CSV log
    bare = lambda name: rename_metric(project, name)  # noqa: E731  one image's / the summary's own names
    changed = []
    for name, rewrite, rename in (("metrics.json", rewrite_json_keys, key), ("summary.json", rewrite_json_keys, bare),
                                  ("csv/metrics.csv", rewrite_csv_header, key),
                                  ("per_image.csv", rewrite_csv_header, bare)):
        path = run_dir / name
        if path.is_file() and rewrite(path, rename, write):
            changed.append(path)
    return changed


def _renamed_metric_fields(data: Any, project: str) -> Any:
    if isinstance(data, dict):
        return {k: ([rename_key(project, m) for m in v] if isinstance(v, list) else rename_key(project, v))
                if k == "metric" and isinstance(v, (str, list)) else _renamed_metric_fields(v, project)
                for k, v in data.items()}
    if isinstance(data, list):
        return [_renamed_metric_fields(v, project) for v in data]
    return data


def rewrite_table(path: Path, project: str, write: bool = True) -> bool:
    """A table JSON's ``metric`` fields (its cells') -> the convention; whether one changed."""
    text = path.read_text()
    data = _read_json(path)
    new = _renamed_metric_fields(data, project)
    if new == data:
        return False
    if write:
        _write_json(path, new, text)
    return True


def table_project(path: Path) -> str | None:
    """A table JSON is ``reports/<project>/<table>.json``: an object with ``cells``, in a project's folder."""
    if path.parent.name not in RULES or path.suffix != TABLE_SUFFIX:
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return path.parent.name if isinstance(data, dict) and isinstance(data.get("cells"), list) else None


def run_folders(root: Path) -> Iterable[Path]:
    """Every run folder at or below ``root`` (hidden ones, e.g. an archive copy in progress, left out)."""
    for config in sorted(root.rglob(".hydra/config.yaml")):
        run_dir = config.parent.parent
        if not any(part.startswith(".") for part in run_dir.relative_to(root).parts):
            yield run_dir


def rewrite_all(roots: Iterable[Path], write: bool = True) -> list[Path]:
    """Every run folder and table JSON below ``roots``; the files that changed (or would)."""
    changed: list[Path] = []
    for root in map(Path, roots):
        if not root.is_dir():
            raise DataError(f"{root}: no such folder; give the archive (reports/) or a sweep folder")
        for run_dir in run_folders(root):
            changed += rewrite_run(run_dir, write)
        for path in sorted(root.rglob(f"*{TABLE_SUFFIX}")):
            project = table_project(path)
            if project and rewrite_table(path, project, write):
                changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.report.rename_metrics", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path, help="reports/ (the archive) and/or sweep folders")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a name is left to rename")
    args = parser.parse_args(argv)
    try:
        changed = rewrite_all(args.folders, write=not args.check)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in changed:
        print(f"{'to rename' if args.check else 'renamed'}: {path}")
    print(f"{len(changed)} files {'hold names to rename' if args.check else 'rewritten'}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
