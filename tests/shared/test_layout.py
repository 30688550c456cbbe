"""The house rule, checked: ``shared/`` holds what two or more projects use (plus the core every project
runs on), a project owns what only it uses, and no project imports another.

For every module of ``shared/`` the test lists the projects that use it: a project uses a module when
its code imports it (anywhere in a file, function-level imports too), when its configs name it
(``_target_: shared.…``; ``configs/common`` counts for every project), when it names a dataset the
module registers (``dataset: ccp`` in a config, ``create_dataset("ccp", …)`` in code), or through the
static imports of the shared modules it uses. Run ``pytest -s tests/shared/test_layout.py`` to print
the table.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

from shared.paths import CONFIG_ROOT, PROJECTS, REPO_ROOT

SHARED = REPO_ROOT / "shared"

# Infrastructure every project runs on, whatever the number of projects that import it by name; each
# entry covers the module and, for a package, everything under it.
CORE: dict[str, str] = {
    "shared.__main__": "the entry point `python -m shared <task> <project>` (projects never import it)",
    "shared.tasks": "the task runner behind every entry-point call (train / eval / a config's `tasks:`)",
    "shared.make_args": "the Makefile's ARGS as words for every target (never through the shell)",
    "shared.results_table": "the results table that train and eval print at their end",
    "shared.job_lock": "one process per sweep job (train's lock; every project's sweeps)",
    "shared.config": "Hydra/OmegaConf composition of every project's config (entry point, tools, tests)",
    "shared.paths": "where the repo, configs, committed splits and the data root are",
    "shared.errors": "the user-error classes that the entry point prints as one line",
    "shared.registry": "the name -> factory registry behind datasets, preparers and models",
    "shared.loggers": "the W&B + CSV loggers every run builds (configs/common/logger)",
    "shared.weights": "the one place pretrained weights are found and loaded",
    "shared.checkpoints": "the one tensors-only checkpoint reader every eval / predict / resume uses",
    "shared.run_folder": "the run folders of every task (Hydra resolver, writability checks)",
    "shared.bench": "the timing and memory helpers behind every `make bench`",
    "shared.report": "the report library behind `make report PROJECT=<p>`",
    "shared.predict": "the folder streaming and output naming behind every `make predict` / `make audit`",
    "shared.files": "atomic file writes (io): predictions, reports, split files, caches",
    "shared.datasets.registry": "the dataset registry and discovery (`create_dataset`)",
    "shared.datasets.prepare": "the `make data` entry point and the one split-file writer",
    "shared.datasets.datamodule": "the generic datamodule over the registry (configs name it in `datamodule:`)",
    "shared.datasets.io": "the one image / mask reader with clear errors",
    "shared.datasets.sampler": "the seeded sampler of the datamodules: exact resume, DDP sharding",
    "shared.callbacks": "reusable Lightning callbacks (checkpoint, progress, RNG state for every run via "
                        "configs/common; the EMA teacher and the historical queue are project-free "
                        "Lightning code, see their docstrings)",
}
# Single-project modules still waiting to move into their project (none left: grabcut and seg_metrics
# moved to projects/variational_seg/).
PENDING: dict[str, str] = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def shared_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(SHARED.rglob("*.py")) if "__pycache__" not in p.parts}


@cache
def package_exports(package: str) -> dict[str, str]:
    """``name -> module`` for what a package's ``__init__`` re-exports (``from shared.callbacks import X``)."""
    path = shared_modules().get(package)
    if path is None or path.name != "__init__.py":
        return {}
    return {alias.asname or alias.name: node.module for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom) and node.module for alias in node.names}


def resolve(dotted: str) -> str | None:
    """The shared module a dotted reference lands in (``shared.callbacks.EMATeacher`` -> its module)."""
    modules = shared_modules()
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        head = ".".join(parts[:end])
        if head in modules:
            rest = parts[end:]
            exported = package_exports(head).get(rest[0]) if rest else None
            return exported if exported in modules else head
    return None


def from_module(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The absolute module of ``from <module> import ...`` in module ``importer``, relative ones too
    (``from . import x``, ``from ..a import b``)."""
    if node.level == 0:
        return node.module or ""
    package = importer.split(".") if is_package else importer.split(".")[:-1]
    base = package[:len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported(path: Path) -> set[str]:
    """Every absolute module name ``path`` imports (``from a.b import c`` gives ``a.b`` and ``a.b.c``)."""
    importer, is_package = module_name(path), path.name == "__init__.py"
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = from_module(node, importer, is_package)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def shared_refs(names: set[str]) -> set[str]:
    return {m for m in (resolve(n) for n in names if n.startswith("shared")) if m}


@cache
def registered_names() -> dict[str, set[str]]:
    """module -> the dataset / preparer names it registers."""
    pattern = re.compile(r"""(?:DATASETS|PREPARERS)\.register\(\s*["'](\w+)["']""")
    return {m: set(pattern.findall(p.read_text())) for m, p in shared_modules().items()}


def project_files(project: str) -> tuple[list[Path], list[Path]]:
    code = sorted((REPO_ROOT / "projects" / project).rglob("*.py"))
    configs = sorted((CONFIG_ROOT / project).rglob("*.yaml"))
    return code, configs


def direct_uses(project: str) -> set[str]:
    code, configs = project_files(project)
    used = set()
    for path in code:
        used |= shared_refs(imported(path))
    config_text = "\n".join(p.read_text() for p in configs + sorted((CONFIG_ROOT / "common").rglob("*.yaml")))
    used |= shared_refs(set(re.findall(r"\bshared(?:\.\w+)+", config_text)))
    dataset_names = set(re.findall(r"^\s*dataset:\s*(\w+)", config_text, re.M))
    for path in code:
        dataset_names |= set(re.findall(r"""create_dataset\(\s*["'](\w+)["']""", path.read_text()))
    used |= {m for m, names in registered_names().items() if names & dataset_names}
    return used


@cache
def shared_imports() -> dict[str, set[str]]:
    return {m: shared_refs(imported(p)) - {m} for m, p in shared_modules().items()}


def closure(modules: set[str]) -> set[str]:
    seen, todo = set(), list(modules)
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(shared_imports().get(m, ()))
    return seen


def users() -> dict[str, list[str]]:
    """shared module -> the projects that use it (directly or through the shared modules they use)."""
    reached = {p: closure(direct_uses(p)) for p in PROJECTS}
    return {m: [p for p in PROJECTS if m in reached[p]] for m in shared_modules()}


def covered(module: str, table: dict[str, str]) -> str | None:
    return next((k for k in table if module == k or module.startswith(k + ".")), None)


def usage_table(table: dict[str, list[str]]) -> str:
    rows = []
    for m, ps in sorted(table.items()):
        tag = "core" if covered(m, CORE) else "pending: lead" if covered(m, PENDING) else ""
        rows.append(f"{m:36s} {len(ps)}  {', '.join(ps) or '-':62s} {tag}")
    return "\n".join(rows)


def is_package(module: str) -> bool:
    """A package's ``__init__`` is judged through the modules it re-exports (``package_exports``)."""
    return shared_modules()[module].name == "__init__.py"


def test_every_shared_module_has_two_project_users_or_is_core():
    table = users()
    print("\n" + usage_table(table))
    lonely = [m for m, ps in table.items() if len(ps) < 2 and not covered(m, CORE) and not covered(m, PENDING)
              and not is_package(m)]
    assert not lonely, (f"shared modules with fewer than two project users (move each into its project, or "
                        f"list it in CORE with the reason): {lonely}\n{usage_table(table)}")


def test_core_and_pending_entries_name_existing_modules():
    modules = shared_modules()
    stale = [k for k in (*CORE, *PENDING) if not any(m == k or m.startswith(k + ".") for m in modules)]
    assert not stale, f"CORE / PENDING entries without a module (drop them): {stale}"


def test_pending_modules_are_still_single_project():
    """When a pending module gains a second user it is shared for real: take it off PENDING."""
    table = users()
    for module in PENDING:
        if module in table:
            assert len(table[module]) < 2, f"{module} has users {table[module]}: remove it from PENDING"


def other_project(name: str, project: str) -> bool:
    """Whether the dotted ``name`` lies in a project other than ``project``."""
    parts = name.split(".")
    return parts[0] == "projects" and len(parts) > 1 and parts[1] in PROJECTS and parts[1] != project


def test_no_project_imports_another():
    crossings = []
    for project in PROJECTS:
        code, configs = project_files(project)
        for path in code:
            crossings += [f"{path.relative_to(REPO_ROOT)} imports {n}" for n in sorted(imported(path))
                          if other_project(n, project)]
        for path in configs:
            crossings += [f"{path.relative_to(REPO_ROOT)} names {n}"
                          for n in re.findall(r"\bprojects(?:\.\w+)+", path.read_text()) if other_project(n, project)]
    assert not crossings, "\n".join(crossings)


def test_shared_never_imports_a_project_by_name():
    """shared/ reaches project code only through the registry's discovery (importlib), never an import."""
    found = [f"{m} imports {n}" for m, p in shared_modules().items() for n in sorted(imported(p))
             if n == "projects" or n.startswith("projects.")]
    assert not found, "\n".join(found)


# The documented dispatch: the only module names under projects/ that shared/ builds (f-string fields as {}).
DISPATCH = {
    ("shared.datasets.registry", "projects.{}.{}"): "discovery imports projects/<p>/datasets.py (it registers them)",
    ("shared.api", "projects.{}.api"): "load(path) hands a checkpoint or model.onnx to its project's Predictor",
}


def project_names_in(path: Path) -> set[str]:
    """The strings of ``path``'s code (docstrings left out) that name a module under ``projects/``."""
    tree = ast.parse(path.read_text())
    skipped = {id(node.body[0].value) for node in ast.walk(tree)   # docstrings
               if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
               and node.body and isinstance(node.body[0], ast.Expr)}
    skipped |= {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(p.value if isinstance(p, ast.Constant) else "{}" for p in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped:
            text = node.value
        else:
            continue
        if text.startswith("projects."):
            found.add(text)
    return found


def test_shared_reaches_projects_only_through_the_documented_dispatch():
    """Besides imports, shared/ could reach a project through a name it builds (importlib, Hydra's
    get_method / _target_): only the two dispatch points above do, and the common configs name no project."""
    found = {(m, name) for m, p in shared_modules().items() for name in project_names_in(p)}
    assert found == set(DISPATCH), (f"undocumented: {sorted(found - set(DISPATCH))}; "
                                    f"documented but gone (drop from DISPATCH): {sorted(set(DISPATCH) - found)}")
    common = [f"{p.relative_to(REPO_ROOT)} names {n}" for p in sorted((CONFIG_ROOT / "common").rglob("*.yaml"))
              for n in re.findall(r"\bprojects(?:\.\w+)+", p.read_text())]
    assert not common, "\n".join(common)


def test_the_checks_see_a_real_use():
    """The scanner itself: classification's config names the shared datamodule, semiseg imports CCP, and
    a dataset named only in a config counts (variational_seg's U-Net reads ``ccp`` by name)."""
    table = users()
    assert "classification" in table["shared.datasets.datamodule"]
    assert "semiseg" in table["shared.datasets.ccp"]
    assert "variational_seg" in table["shared.datasets.ccp"]
    assert table["shared.callbacks.ema_teacher"] == ["semiseg"]
