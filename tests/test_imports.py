"""The packages of ``pipeline/`` form no import cycle.

Each package or top-level module of ``pipeline/`` (``pipeline.prospects``,
``pipeline.escalations``, ``pipeline.cli``…) is a node; every import of another one is an
edge, wherever it is written: at the top of a module or inside a function (an import
moved into a function still makes the two depend on each other), but not under
``if TYPE_CHECKING:``. Domains that react to another's changes register hooks at app start
instead of importing each other back.
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pipeline

PACKAGE = Path(pipeline.__file__).resolve().parent


def _unit(module: str) -> str | None:
    """``pipeline.prospects.services`` → ``pipeline.prospects``; None outside pipeline."""
    parts = module.split(".")
    if parts[0] != "pipeline" or len(parts) < 2:
        return None
    return ".".join(parts[:2])


def _units() -> set[str]:
    return {f"pipeline.{p.stem}" for p in PACKAGE.iterdir()
            if (p.suffix == ".py" and p.stem != "__init__")
            or (p.is_dir() and (p / "__init__.py").exists())}


def _imports(tree: ast.AST) -> Iterator[str]:
    """Every module named by an import in ``tree``, except under ``if TYPE_CHECKING``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (name for child in node.orelse for name in _imports(child))
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)
        yield from _imports(node)


def import_graph() -> dict[str, set[str]]:
    units = _units()
    graph: dict[str, set[str]] = {u: set() for u in units}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        source = _unit(".".join(parts))
        if source is None or source.endswith(".__init__"):
            continue  # the root package's façade (create_app) depends on everything
        for name in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            target = _unit(name)
            if target in units and target != source:
                graph[source].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_cycle_between_pipeline_packages() -> None:
    graph = import_graph()
    found = cycles(graph)
    detail = [" ⇄ ".join(c) + ": " + "; ".join(
        f"{a} → {', '.join(sorted(graph[a] & set(c)))}" for a in c) for c in found]
    assert not found, "import cycles between pipeline packages:\n" + "\n".join(detail)


def test_the_walk_finds_cycles_and_hidden_imports(tmp_path: Path) -> None:
    tree = ast.parse(
        "import pipeline.db\n"
        "def f():\n    from pipeline.escalations import services\n"
        "if TYPE_CHECKING:\n    from pipeline.api import views\n")
    assert set(_imports(tree)) == {"pipeline.db", "pipeline.escalations",
                                   "pipeline.escalations.services"}
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_the_domains() -> None:
    graph = import_graph()
    assert "pipeline.prospects" in graph["pipeline.escalations"]
    assert "pipeline.engine" in graph["pipeline.prospects"]
    assert "pipeline.escalations" not in graph["pipeline.prospects"]
