"""The committed run archive: the few small files of each finished sweep run that ``make report`` reads,
copied from ``runs/<project>/sweeps/<setting>/<run>/`` (not committed: checkpoints, logs, hundreds of MB)
to ``reports/<project>/runs/<setting>/<run>/`` (committed), so that a table still regenerates from its
runs on a fresh clone or in a later session, when the run folders themselves are gone.

Same layout as a run folder, so :func:`shared.report.runs.collect_runs` reads both alike."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

from shared.errors import DataError
from shared.report.runs import FieldsFn, RunRecord, collect_runs, read_run

# What the report library and the project reports read from a run folder (runs.py, semiseg's curves,
# variational_seg's per-image tables); nothing else is copied.
ARCHIVED_FILES = (".hydra/config.yaml", ".hydra/overrides.yaml", "metrics.json", "csv/metrics.csv",
                  "per_image.csv", "summary.json")
MARKER = "ARCHIVED"   # written last into a complete copy; a folder without it is an interrupted copy


def archive_run(run_dir: Path, archive: Path) -> Path:
    """Copy the archived files of one finished run to ``archive/<setting>/<run>/``; the folder written.

    Atomic: the files go to a hidden temporary folder beside it, the :data:`MARKER` (the list of files)
    last, and the folder is then renamed into place, so a kill leaves the old copy or the new one, never
    half of one (an earlier copy is moved aside first and removed after)."""
    target = Path(archive) / run_dir.parent.name / run_dir.name
    tmp = target.with_name(f".{target.name}.partial-{uuid.uuid4().hex[:8]}")
    copied = []
    try:
        for name in ARCHIVED_FILES:
            source = run_dir / name
            if source.is_file():
                (tmp / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, tmp / name)
                copied.append(name)
        (tmp / MARKER).write_text(json.dumps({"files": copied}) + "\n")
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def archive_runs(records: list[RunRecord], archive: Path) -> int:
    """Archive every finished record (an unfinished run is left alone: it may still be running)."""
    finished = [r for r in records if r.finished]
    for record in finished:
        archive_run(record.run_dir, archive)
    return len(finished)


def collect_archive(archive: Path, fields: FieldsFn | None = None) -> list[RunRecord]:
    """The complete archived runs. A copy without its :data:`MARKER` (interrupted) is ignored and named; a
    complete one without a config or with a damaged metrics.json is a DataError naming the file."""
    records = []
    for folder in sorted(p for p in Path(archive).glob("*/*") if p.is_dir()):
        if folder.name.startswith(".") or folder.parent.name.startswith("."):
            continue
        if not (folder / MARKER).is_file():
            print(f"ignored: {folder} is an incomplete archive copy (no {MARKER} marker); the next make report "
                  "copies the run again if its run folder is here")
            continue
        record = read_run(folder, fields)
        if record is None:
            raise DataError(f"{folder / '.hydra' / 'config.yaml'} is missing from an archived run; re-copy it "
                            "(make report, with its run folder) or remove the archived folder")
        if not record.finished:
            raise DataError(f"{folder / 'metrics.json'} is missing from an archived run; re-copy it or remove "
                            "the archived folder")
        records.append(record)
    return records


def merge_records(live: list[RunRecord], archived: list[RunRecord]) -> list[RunRecord]:
    """One record per ``<setting>/<run>``: the archived copy (committed, so the tables' JSON names a folder
    every clone has), else the live run (unfinished ones are never archived); sorted as
    :func:`collect_runs` sorts."""
    merged: dict[tuple[str, str], RunRecord] = {(r.setting, r.name): r for r in live}
    merged.update({(r.setting, r.name): r for r in archived})
    return [merged[key] for key in sorted(merged)]


def collect_with_archive(runs: Path, archive: Path | None, fields: FieldsFn | None = None) -> list[RunRecord]:
    """Archive the finished runs under ``runs``, then every record of the two folders, merged."""
    live = collect_runs(runs, fields) if Path(runs).is_dir() else []
    if archive is None:
        return live
    copied = archive_runs(live, archive)
    if copied:
        print(f"archived {copied} finished runs -> {archive} (commit it: tables regenerate from it)")
    archived = collect_archive(archive, fields) if Path(archive).is_dir() else []
    return merge_records(live, archived)
