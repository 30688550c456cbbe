"""The one entry point: ``python -m shared <task> <project> [hydra overrides ...]``.

Tasks: train, eval, predict, bench, sweep (Hydra multirun of a sweep config), and project-specific
ones (select, audit, report) declared in the project's ``tasks`` config. Every Makefile target
calls this.
"""

from __future__ import annotations

import os
import sys

USAGE = "usage: python -m shared <task> <project> [key=value ...]   e.g. python -m shared train classification"
# "<task> <project>" of this process, inherited by the DDP processes Lightning starts (see _ddp_child).
CLI_ENV = "ECOMVISION_CLI"


def main(argv: list[str]) -> int:
    if _is_ddp_child(argv):
        return _ddp_child(argv)
    if len(argv) < 2 or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr)
        return 2
    task, project, overrides = argv[0], argv[1], argv[2:]
    from shared.config import project_config_dir, searchpath_override
    from shared.errors import EcomvisionError
    from shared.run_folder import check_run_dir_override

    try:
        config_dir = project_config_dir(project)
        check_run_dir_override(overrides)
    except EcomvisionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    import hydra

    from shared.tasks import run_task

    extra = [f"task={task}", searchpath_override()]
    if task == "sweep":
        extra = ["--multirun", "task=train", *_sweep_args(overrides)]  # flags before the overrides (argparse)
        overrides = [o for o in overrides if not o.startswith("sweep=")]
    sys.argv = [f"shared {task} {project}", *extra, *overrides]
    if task == "sweep":
        sys.argv.append(searchpath_override())
    os.environ[CLI_ENV] = f"{task} {project}"
    hydra.main(config_path=str(config_dir), config_name="config", version_base="1.3")(run_task)()
    return 0


def _is_ddp_child(argv: list[str]) -> bool:
    """Lightning's DDP launcher (``trainer=ddp`` on one machine, under Hydra) starts ranks 1..N-1 as
    ``python -m shared <this process's sys.argv[1:]> hydra.run.dir=...``: Hydra arguments without the
    task and project, which it inherits through CLI_ENV (with LOCAL_RANK set by Lightning)."""
    return bool(argv) and CLI_ENV in os.environ and "LOCAL_RANK" in os.environ and (
        "=" in argv[0] or argv[0] == "--multirun")


def _ddp_child(argv: list[str]) -> int:
    task, project = os.environ[CLI_ENV].split(" ", 1)
    if "--multirun" in argv:
        print("error: a sweep cannot use Lightning's own DDP launcher (each process would run the whole "
              "sweep): start it with `torchrun --nproc_per_node=N -m shared sweep ...` or on SLURM "
              "(hydra/launcher=slurm hydra.launcher.tasks_per_node=N), see projects/semiseg/README.md",
              file=sys.stderr)
        return 2
    import hydra

    from shared.config import project_config_dir
    from shared.tasks import run_task

    sys.argv = [f"shared {task} {project}", *argv]
    hydra.main(config_path=str(project_config_dir(project)), config_name="config", version_base="1.3")(run_task)()
    return 0


def _sweep_args(overrides: list[str]) -> list[str]:
    """``sweep=<name>`` selects configs/<project>/sweep/<name>.yaml (a Hydra multirun config)."""
    names = [o.split("=", 1)[1] for o in overrides if o.startswith("sweep=")]
    return [f"+sweep={names[-1]}"] if names else []


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
