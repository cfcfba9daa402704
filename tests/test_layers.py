"""The layers hold: no import circle among the pack's modules (imports inside functions
included), few imports of the pack's own modules inside functions, each saying why, and the
import-linter contracts in .importlinter kept."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_INNER_IMPORTS = 15


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted([*ROOT.glob("shared/**/*.py"), *ROOT.glob("usecases/**/*.py")]):
        rel = path.relative_to(ROOT)
        if "tests" in rel.parts or path.name == "conftest.py":
            continue
        name = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
        found[name] = path
    return found


def _imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, int, bool]]:
    """(imported project module, line, inside a function) for every import in the module."""
    tree = ast.parse(path.read_text())
    inner = {
        id(node)
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(fn)
    }
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".")
                if path.name != "__init__.py":
                    package = package[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, base] if base else package)
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        else:
            continue
        for target in targets:
            while target not in known and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in known and target != name:
                out.append((target, node.lineno, id(node) in inner))
    return out


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    known = _modules()
    graph: dict[str, set[str]] = {m: set() for m in known}
    inner = []
    for name, path in known.items():
        lines = path.read_text().splitlines()
        for target, line, in_function in _imports(name, path, known):
            graph[name].add(target)
            if in_function:
                said = "#" in lines[line - 1] or lines[line - 2].strip().startswith("#")
                inner.append(f"{name}:{line} -> {target}" + ("" if said else " (no comment)"))
    return graph, inner


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    sys.setrecursionlimit(10_000)

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
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
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_circle_among_the_packs_modules() -> None:
    graph, _ = _graph()
    # A package's __init__ importing its own submodules is not a circle of layers.
    for name in graph:
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".")}
    assert _cycles(graph) == []


def test_few_imports_of_the_packs_modules_inside_functions_each_saying_why() -> None:
    _, inner = _graph()
    assert len(inner) <= MAX_INNER_IMPORTS, "\n".join(inner)
    assert [i for i in inner if i.endswith("(no comment)")] == []


def test_import_linter_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:]
