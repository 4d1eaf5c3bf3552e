"""The dependency direction, import cycles and the MicroPython subset,
checked on the source (every import, including those inside functions).

Installed, everything is one import name, ``platewise``; the folders are its
parts. Direction:
- shared imports nothing of ours (its modules import each other relatively,
  so they work as ``shared.*`` on a board and ``platewise.shared.*`` here);
- firmware imports shared and firmware by their board names, nothing else;
- host imports platewise.shared and platewise.host;
- hil imports platewise.shared, platewise.host and platewise.hil;
- platewise/ (the composition root: the CLI) may import every part, and
  nothing but its own ``__main__`` imports it;
- the CPython tests use ``platewise.*``, and the board names ``firmware``
  and ``shared`` only (as a board lays them out, tests/conftest.py).
No package has an import cycle between its modules. firmware/ and shared/
use no numpy, dataclasses, typing, enum or other CPython-only modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from repo_paths import REPO_ROOT

PARTS = ("shared", "firmware", "host", "hil")
# What each source folder may import, as "top-level name" or "platewise.part".
ALLOWED = {
    "shared": set(),
    "firmware": {"shared", "firmware"},
    "host": {"platewise.shared", "platewise.host"},
    "hil": {"platewise.shared", "platewise.host", "platewise.hil"},
    "platewise": {"platewise.shared", "platewise.host", "platewise.hil", "platewise.cli", "platewise"},
    "tests": {"platewise", "platewise.shared", "platewise.host", "platewise.hil", "platewise.cli", "firmware", "shared"},
}
OURS = set(PARTS) | {"platewise"}
CPYTHON_ONLY = {"numpy", "dataclasses", "typing", "enum", "abc", "functools", "pathlib", "threading", "asyncio", "logging"}
# MicroPython code run by the tests' VM (board names throughout).
MP_TEST_DIRS = ("tests/mpcheck", "tests/firmware/mp")


def _module_name(path: Path) -> str:
    """The canonical dotted name of a source file: firmware.persist,
    host.twin.service, platewise.cli (the platewise. prefix of a part dropped)."""
    rel = path.relative_to(REPO_ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _canonical(name: str) -> str:
    head, _, rest = name.partition(".")
    if head == "platewise" and rest.split(".")[0] in PARTS:
        return rest
    return name


def _imports(path: Path):
    """(line, absolute dotted name imported, names, relative?) for every
    import in the file; relative imports resolved against the file's package."""
    tree = ast.parse(path.read_text(), str(path))
    mod = _module_name(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name, (), False
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
                yield node.lineno, name, tuple(a.name for a in node.names), True
            elif node.module:
                yield node.lineno, node.module, tuple(a.name for a in node.names), False


def _files(top: str) -> list[Path]:
    return sorted(p for p in (REPO_ROOT / top).rglob("*.py") if "__pycache__" not in p.parts)


def _allowed_key(name: str) -> str:
    head = name.split(".")[0]
    if head != "platewise":
        return head
    parts = name.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else "platewise"


@pytest.mark.parametrize("top", sorted(ALLOWED))
def test_dependency_direction(top):
    files = _files(top)
    if top == "tests":
        files = [f for f in files if not any(str(f.relative_to(REPO_ROOT)).startswith(d) for d in MP_TEST_DIRS)]
    assert files, f"no sources under {top}"
    bad = []
    for f in files:
        for line, name, _, relative in _imports(f):
            if relative:
                # within the file's own part by construction, unless it climbs out
                if name.split(".")[0] != top:
                    bad.append(f"{f.relative_to(REPO_ROOT)}:{line} relative import leaves {top}")
                continue
            if name.split(".")[0] not in OURS:
                continue
            if top == "shared":
                bad.append(f"{f.relative_to(REPO_ROOT)}:{line} imports {name} (shared imports itself relatively)")
            elif _allowed_key(name) not in ALLOWED[top]:
                bad.append(f"{f.relative_to(REPO_ROOT)}:{line} imports {name}")
            elif name.startswith("platewise.cli") and f != REPO_ROOT / "platewise" / "__main__.py":
                bad.append(f"{f.relative_to(REPO_ROOT)}:{line} imports the composition root")
    assert not bad, "\n".join(bad)


def _graph(top: str) -> dict[str, set[str]]:
    """Module -> modules of the same package it imports (canonical names)."""
    files = _files(top)
    known = {_module_name(f) for f in files}
    graph: dict[str, set[str]] = {m: set() for m in known}
    for f in files:
        src = _module_name(f)
        for _, name, names, _rel in _imports(f):
            target = _canonical(name)
            if target.split(".")[0] != top:
                continue
            hits = [target + "." + n for n in names if target + "." + n in known]
            for t in hits or ([target] if target in known else []):
                if t != src:
                    graph[src].add(t)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


@pytest.mark.parametrize("top", PARTS + ("platewise",))
def test_no_import_cycle(top):
    graph = _graph(top)
    assert graph, f"no modules under {top}"
    assert not _cycles(graph), f"import cycles in {top}: {_cycles(graph)}"


def test_cycle_finder_sees_a_cycle():
    graph = {"a.x": {"a.y"}, "a.y": {"a.z"}, "a.z": {"a.x"}, "a.w": {"a.x"}}
    assert _cycles(graph) == [["a.x", "a.y", "a.z"]]
    assert _cycles({"a.x": {"a.y"}, "a.y": set()}) == []


@pytest.mark.parametrize("top", ["shared", "firmware"])
def test_micropython_subset(top):
    bad = []
    for f in _files(top):
        for line, name, _, _rel in _imports(f):
            if name.split(".")[0] in CPYTHON_ONLY:
                bad.append(f"{f.relative_to(REPO_ROOT)}:{line} imports {name}")
    assert not bad, "\n".join(bad)
