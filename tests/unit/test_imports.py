"""The project's import graph has no loop, and its libraries stay libraries (run by `make check`).

The graph is read from the sources (ast), every import counted: at module level, inside functions
and under ``TYPE_CHECKING``. An import inside a function defers the cost of loading a module (the
CLI's start-up); it does not make a loop any less of a loop. Modules are those of every package at
the repository's top level (a folder with ``__init__.py``) and its top-level modules (gxerrors.py).

Checked:
- no loop between modules, and none between top-level packages;
- gxerrors imports nothing: every package may import it, the libraries included;
- fabric_gateway and schemas, libraries other programs may use, import nothing else of the project
  but gxerrors;
- nothing imports the CLI (gxctl), the benchmarks (bench) or the tests, but the tests.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIBRARIES = ("fabric_gateway", "schemas")
ROOT_ERROR = "gxerrors"
TOPS = ("gxctl", "bench", "tests")  # the graph's tops: only the tests may import them


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the project module imported
    where: str  # file:line, and the function it is in, if any

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} ({self.where})"


def project_files() -> dict[str, Path]:
    """Every module of the project by dotted name."""
    files = {p.stem: p for p in ROOT.glob("*.py")}
    for init in ROOT.glob("*/__init__.py"):
        for path in init.parent.rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module ``name`` loads: itself, or the package or module it lies in."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> Iterator[str]:
    """The dotted names an import statement may load (a module, or an attribute of one)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:  # relative: from its package, up level - 1 packages
        package = module.split(".") if is_package else module.split(".")[:-1]
        base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
    for alias in node.names:
        yield f"{base}.{alias.name}"  # a submodule, if it is one; else resolved to ``base``


def imports(modules: dict[str, Path]) -> list[Import]:
    found = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        stack: list[tuple[ast.AST, str]] = [(tree, "")]
        while stack:
            node, function = stack.pop()
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    stack.append((child, child.name))
                    continue
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    for name in _targets(child, module, path.name == "__init__.py"):
                        target = _resolve(name, modules)
                        if target is not None and target != module:
                            where = f"{path.relative_to(ROOT)}:{child.lineno}" + (
                                f", in {function}()" if function else ""
                            )
                            found.append(Import(module, target, where))
                stack.append((child, function))
    return list(dict.fromkeys(found))  # `from a import b, c` names a once


def loops(edges: list[Import], key: str = "module") -> list[list[Import]]:
    """The strongly connected components of the graph with more than one node, each as its edges
    (Tarjan's algorithm). ``key``: "module", or "package" for the graph of top-level packages."""

    def node(name: str) -> str:
        return name if key == "module" else name.split(".")[0]

    graph: dict[str, set[str]] = {}
    for e in edges:
        if node(e.source) != node(e.target):
            graph.setdefault(node(e.source), set()).add(node(e.target))
            graph.setdefault(node(e.target), set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: list[str] = []
    components: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        on_stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = on_stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [
        [e for e in edges if node(e.source) in c and node(e.target) in c and node(e.source) != node(e.target)]
        for c in components
    ]


def show(found: list[list[Import]]) -> str:
    return "\n\n".join("\n".join(str(e) for e in loop) for loop in found)


EDGES = imports(project_files())


def test_the_graph_is_read() -> None:
    # A parser that found nothing would pass every other test here.
    assert any(e.source == "stack.watchdog" and e.target == "stack.pipeline" for e in EDGES)
    assert any(e.target == ROOT_ERROR and e.source.startswith("fabric_gateway") for e in EDGES)
    assert any("in " in e.where for e in EDGES)  # imports inside functions are read too


def test_no_module_imports_itself_through_others() -> None:
    found = loops(EDGES)
    assert not found, "import loops (move the piece both sides need to a module of its own):\n" + show(found)


def test_no_package_imports_itself_through_others() -> None:
    found = loops(EDGES, key="package")
    assert not found, "loops between packages:\n" + show(found)


def test_the_root_error_module_imports_nothing() -> None:
    tree = ast.parse((ROOT / f"{ROOT_ERROR}.py").read_text())
    statements = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert [ast.unparse(n) for n in statements] == []


def test_the_libraries_import_nothing_of_the_project_but_the_root_error() -> None:
    outside = [
        str(e)
        for e in EDGES
        if e.source.split(".")[0] in LIBRARIES and e.target.split(".")[0] not in (e.source.split(".")[0], ROOT_ERROR)
    ]
    assert outside == []


def test_nothing_imports_the_cli_the_benchmarks_or_the_tests_but_the_tests() -> None:
    package = {e: (e.source.split(".")[0], e.target.split(".")[0]) for e in EDGES}
    below = [str(e) for e, (src, dst) in package.items() if dst in TOPS and src not in (dst, "tests")]
    assert below == []


def test_a_loop_is_found_and_shown() -> None:
    edges = [
        Import("a.x", "a.y", "a/x.py:1"),
        Import("a.y", "b.z", "a/y.py:2, in f()"),
        Import("b.z", "a.x", "b/z.py:3"),
    ]
    edges.append(Import("b.z", "c", "b/z.py:4"))
    assert [sorted(map(str, loop)) for loop in loops(edges)] == [sorted(map(str, edges[:3]))]
    assert [len(loop) for loop in loops(edges, key="package")] == [2]  # a -> b, b -> a
