"""The committed run archive: the few small files of each finished sweep run that ``make report`` reads,
copied from ``runs/<project>/sweeps/<setting>/<run>/`` (not committed: checkpoints, logs, hundreds of MB)
to ``reports/<project>/runs/<setting>/<run>/`` (committed), so that a table still regenerates from its
runs on a fresh clone or in a later session, when the run folders themselves are gone.

Same layout as a run folder, so :func:`shared.report.runs.collect_runs` reads both alike."""

from __future__ import annotations

import shutil
from pathlib import Path

from shared.report.runs import FieldsFn, RunRecord, collect_runs

# What the report library and the project reports read from a run folder (runs.py, semiseg's curves,
# variational_seg's per-image tables); nothing else is copied.
ARCHIVED_FILES = (".hydra/config.yaml", ".hydra/overrides.yaml", "metrics.json", "csv/metrics.csv",
                  "per_image.csv", "summary.json")


def archive_run(run_dir: Path, archive: Path) -> Path:
    """Copy the archived files of one finished run to ``archive/<setting>/<run>/``; the folder written."""
    target = Path(archive) / run_dir.parent.name / run_dir.name
    for name in ARCHIVED_FILES:
        source = run_dir / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def archive_runs(records: list[RunRecord], archive: Path) -> int:
    """Archive every finished record (an unfinished run is left alone: it may still be running)."""
    finished = [r for r in records if r.finished]
    for record in finished:
        archive_run(record.run_dir, archive)
    return len(finished)


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
    archived = collect_runs(archive, fields) if Path(archive).is_dir() else []
    return merge_records(live, archived)
