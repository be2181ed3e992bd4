"""The package's shape: no import cycles between its files or between its sub-packages, and
libraries that know nothing of Hydra (stages read config; libraries take plain arguments)."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "pipeline"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules `path` imports, at module level or inside functions (a deferred import is
    still a dependency)."""
    out: set[str] = set()
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name.startswith("pipeline") and name != here:
                out.add(name)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) for name, path in modules.items()}


def _package_of(module: str) -> str:
    # a sub-package is pipeline.<x> for a folder x; a top-level file is its own node
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else module


def _package_edge_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    pg: dict[str, set[str]] = defaultdict(set)
    for mod, deps in graph.items():
        a = _package_of(mod)
        for d in deps:
            b = _package_of(d)
            # a package's __init__ re-exporting its own modules is not a cycle between packages
            if a != b:
                pg[a].add(b)
    return _cycles(pg)


def test_no_import_cycle_between_files():
    assert _cycles(_graph()) == []


def test_no_import_cycle_between_sub_packages():
    assert _package_edge_cycles(_graph()) == []


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _package_edge_cycles({"pipeline.x.m": {"pipeline.y.n"}, "pipeline.y.n": {"pipeline.x.k"},
                                 "pipeline.x.k": set()}) == [["pipeline.x", "pipeline.y"]]


def test_libraries_know_nothing_of_hydra():
    """Only the entry point, the stages and the config helper read Hydra or OmegaConf."""
    allowed = {"pipeline.__main__", "pipeline.config", "pipeline.runfolder"}
    offenders = []
    for name, path in _modules().items():
        if name in allowed or name.startswith("pipeline.stages"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                    else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(m.split(".")[0] in ("hydra", "omegaconf") for m in mods):
                offenders.append(name)
    assert offenders == []
