"""
The architecture, pinned: the library's import graph has no cycle, the engine imports
nothing from any provider (``TYPE_CHECKING`` imports count), and the emulators import
nothing from the SDK.  Imports are read from the source, not by importing it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import a1art_async

PACKAGE = Path(a1art_async.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """
    Every module of the package that *path* imports, at any level of the file.
    """
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.add(module)
            # ``from . import x`` may name a submodule.
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return {module for module in found if module.split(".")[0] == "a1art_async"}


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {
        name: {target for target in _imports(path) if target in modules and target != name}
        for name, path in modules.items()
    }


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """
    One cycle of the graph, or ``None``.
    """
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _is_package_init_edge(source: str, target: str) -> bool:
    # A package's __init__ re-exporting its own submodules is not a dependency cycle.
    return target.startswith(source + ".")


def test_the_import_graph_has_no_cycle() -> None:
    """
    No module of the package imports (even only for type checking) a module that
    imports it back, directly or through others.
    """
    graph = {
        source: {t for t in targets if not _is_package_init_edge(source, t)}
        for source, targets in _graph().items()
    }
    assert _cycle(graph) is None


def test_the_engine_imports_no_provider() -> None:
    """
    Modules under ``a1art_async._engine`` import only each other.
    """
    wrong = {
        (source, target)
        for source, targets in _graph().items()
        if source.startswith("a1art_async._engine")
        for target in targets
        if not target.startswith("a1art_async._engine")
    }
    assert set() == wrong


def test_the_emulators_import_nothing_from_the_sdk() -> None:
    """
    ``a1art_async.testing`` is independent of the SDK it emulates the APIs for.
    """
    wrong = {
        (source, target)
        for source, targets in _graph().items()
        if source.startswith("a1art_async.testing")
        for target in targets
        if not target.startswith("a1art_async.testing")
    }
    assert set() == wrong


def test_the_check_finds_a_cycle() -> None:
    """
    The cycle search is not vacuous: it finds a cycle in a graph that has one.
    """
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert ["a", "b", "c", "a"] == _cycle(graph)
