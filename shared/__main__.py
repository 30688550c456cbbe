"""The one entry point: ``python -m shared <task> <project> [hydra overrides ...]``.

Tasks: train, eval, predict, bench, sweep (Hydra multirun of a sweep config), and project-specific
ones (select, audit, report) declared in the project's ``tasks`` config. Every Makefile target
calls this.
"""

from __future__ import annotations

import sys

USAGE = "usage: python -m shared <task> <project> [key=value ...]   e.g. python -m shared train classification"


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr)
        return 2
    task, project, overrides = argv[0], argv[1], argv[2:]
    from shared.config import project_config_dir, searchpath_override
    from shared.errors import EcomvisionError

    try:
        config_dir = project_config_dir(project)
    except EcomvisionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    import hydra

    from shared.tasks import run_task

    extra = [f"task={task}", searchpath_override()]
    if task == "sweep":
        extra = ["task=train", "--multirun", *_sweep_args(overrides)]
        overrides = [o for o in overrides if not o.startswith("sweep=")]
    sys.argv = [f"shared {task} {project}", *extra, *overrides]
    if task == "sweep":
        sys.argv.append(searchpath_override())
    hydra.main(config_path=str(config_dir), config_name="config", version_base="1.3")(run_task)()
    return 0


def _sweep_args(overrides: list[str]) -> list[str]:
    """``sweep=<name>`` selects configs/<project>/sweep/<name>.yaml (a Hydra multirun config)."""
    names = [o.split("=", 1)[1] for o in overrides if o.startswith("sweep=")]
    return [f"+sweep={names[-1]}"] if names else []


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
