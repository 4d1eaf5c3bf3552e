"""Shared test helpers: running code under the real MicroPython unix port."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hil.virtual_board import REPO_ROOT, micropython_env, micropython_path


def run_micropython(code: str, heapsize: str | None = None, timeout_s: float = 60.0) -> subprocess.CompletedProcess:
    argv = [micropython_path()]
    if heapsize:
        argv += ["-X", f"heapsize={heapsize}"]
    argv += ["-c", code]
    return subprocess.run(argv, env=micropython_env(), capture_output=True, text=True, timeout=timeout_s, cwd=REPO_ROOT)


@pytest.fixture
def mpy():
    return run_micropython


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
