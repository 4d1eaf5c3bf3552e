"""The dependency direction and the MicroPython subset, checked on the source.

shared imports nothing of ours; firmware, host and hil may import shared;
hil may import host; nothing imports hil; firmware never imports host.
firmware/ and shared/ use no numpy, dataclasses, typing, enum or other
CPython-only modules at run time.
"""

from __future__ import annotations

import ast

import pytest

from hil.virtual_board import REPO_ROOT

OURS = {"shared", "firmware", "host", "hil"}
ALLOWED = {
    "shared": {"shared"},
    "firmware": {"shared", "firmware"},
    "host": {"shared", "host"},
    "hil": {"shared", "host", "hil"},
}
CPYTHON_ONLY = {"numpy", "dataclasses", "typing", "enum", "abc", "functools", "pathlib", "threading", "asyncio", "logging"}


def _imports(path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def _files(top):
    return sorted((REPO_ROOT / top).rglob("*.py"))


@pytest.mark.parametrize("top", sorted(OURS))
def test_dependency_direction(top):
    files = _files(top)
    assert files, f"no sources under {top}"
    bad = []
    for f in files:
        for line, mod in _imports(f):
            if mod in OURS and mod not in ALLOWED[top]:
                bad.append(f"{f.relative_to(REPO_ROOT)}:{line} imports {mod}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("top", ["shared", "firmware"])
def test_micropython_subset(top):
    bad = []
    for f in _files(top):
        for line, mod in _imports(f):
            if mod in CPYTHON_ONLY:
                bad.append(f"{f.relative_to(REPO_ROOT)}:{line} imports {mod}")
    assert not bad, "\n".join(bad)
