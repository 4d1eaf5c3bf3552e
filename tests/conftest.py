"""Shared test helpers: running code under the real MicroPython unix port,
and the firmware importable under CPython as a board lays it out.

Installed, the project is one import name, ``platewise``. A board has
``/firmware`` and ``/shared`` at its root and imports ``firmware.*`` and
``shared.*``; the CPython tests that call firmware code directly
(``from firmware.measure import Measurement``) get the same layout: a folder
holding only links named ``firmware`` and ``shared`` goes first on sys.path.
Nothing else of the repository becomes importable by a bare name.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from platewise.host.mpybuild import micropython_env, micropython_path
from repo_paths import REPO_ROOT


def _board_root() -> str:
    root = tempfile.mkdtemp(prefix="platewise-board-root-")
    atexit.register(shutil.rmtree, root, True)
    for pkg in ("firmware", "shared"):
        os.symlink(REPO_ROOT / pkg, os.path.join(root, pkg))
    return root


sys.path.insert(0, _board_root())


def run_micropython(code: str, heapsize: str | None = None, timeout_s: float = 60.0) -> subprocess.CompletedProcess:
    argv = [micropython_path()]
    if heapsize:
        argv += ["-X", f"heapsize={heapsize}"]
    argv += ["-c", code]
    return subprocess.run(argv, env=micropython_env(), capture_output=True, text=True, timeout=timeout_s, cwd=REPO_ROOT)


def pytest_collection_modifyitems(config, items):
    """Tests marked run_first go first (a stable sort keeps the rest in order)."""
    items.sort(key=lambda item: item.get_closest_marker("run_first") is None)


@pytest.fixture
def mpy():
    return run_micropython


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
