"""No import circle in ``shared/`` and ``projects/``: two modules that import each other (directly or
through others) hold one concept split in two, and a function-level or ``TYPE_CHECKING`` import that
hides the circle from Python still counts. Every import of every ``.py`` file is read with ``ast``
(absolute and relative, at any depth of the file) and resolved to the module it lands in. That no project
imports another, and shared/ none, is test_layout.py's check."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import networkx as nx

from shared.paths import REPO_ROOT
from tests.shared.test_layout import from_module, module_name

ROOTS = ("shared", "projects")


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for root in ROOTS for p in sorted((REPO_ROOT / root).rglob("*.py"))
            if "__pycache__" not in p.parts}


def imports_in(source: str, name: str, is_package: bool, known: set[str]) -> set[str]:
    """The ``known`` modules that the source of module ``name`` imports anywhere in the file.
    ``from a.b import c`` lands in ``a.b.c`` when that is a module, else in ``a.b`` (c is a name in it)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = from_module(node, name, is_package)
            found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names)
    return {m for m in found if m in known and m != name}


@cache
def import_graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    for name, path in modules().items():
        graph.add_node(name)
        targets = imports_in(path.read_text(), name, path.name == "__init__.py", set(modules()))
        graph.add_edges_from((name, target) for target in targets)
    return graph


def circles(graph: nx.DiGraph) -> list[list[str]]:
    """One circle per group of modules that reach each other, as ``a -> b -> ... -> a``."""
    found = []
    for group in nx.strongly_connected_components(graph):
        if len(group) > 1:
            cycle = nx.find_cycle(graph.subgraph(group))
            found.append([a for a, _ in cycle] + [cycle[0][0]])
    return sorted(found)


def test_shared_and_projects_have_no_import_circle():
    found = circles(import_graph())
    assert not found, "import circles (move what both sides need into one module):\n" + "\n".join(
        " -> ".join(c) for c in found)


def test_the_graph_sees_relative_function_level_and_type_checking_imports():
    """The scanner itself on a made-up package: a relative import under ``TYPE_CHECKING``, an absolute one
    inside a function and a ``from . import`` each make an edge, so the circle they build is found; an
    imported name that is not a module lands in its module."""
    source = {"a": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n",
              "b": "def f():\n    from projects.demo import c\n",
              "c": "from . import a\nfrom shared.errors import ConfigError\n"}
    known = {"projects.demo", "shared.errors", *(f"projects.demo.{m}" for m in source)}
    graph = nx.DiGraph([(f"projects.demo.{m}", target) for m, text in source.items()
                        for target in imports_in(text, f"projects.demo.{m}", False, known)])
    assert set(graph.successors("projects.demo.c")) == {"projects.demo.a", "shared.errors"}
    assert circles(graph) == [["projects.demo.a", "projects.demo.b", "projects.demo.c", "projects.demo.a"]]
