"""firmware/ and shared/ type-check against the MicroPython rp2 and esp32
stubs (installed apart from the host's environment, in typings/<port>, by
tests/run.sh), with pyright."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from repo_paths import REPO_ROOT

PORTS = ("rp2", "esp32")


def _pyright() -> list[str]:
    exe = shutil.which("pyright") or str(Path(sys.executable).parent / "pyright")
    assert Path(exe).exists(), "pyright missing: pip install -e '.[dev]'"
    return [exe]


def _stubs(port: str) -> Path:
    d = REPO_ROOT / "typings" / port
    assert (d / "machine.pyi").exists(), (
        f"{d} has no MicroPython stubs: run tests/run.sh, or "
        f"pip install --target typings/{port} micropython-{port}-stubs"
    )
    return d


def _run(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run(_pyright() + ["-p", str(config)], capture_output=True, text=True, timeout=600, cwd=REPO_ROOT)


@pytest.mark.parametrize("port", PORTS)
def test_firmware_and_shared_typecheck(port):
    _stubs(port)
    r = _run(REPO_ROOT / "tests" / "typecheck" / f"pyright-{port}.json")
    assert r.returncode == 0 and "0 errors" in r.stdout, r.stdout[-4000:] + r.stderr[-2000:]


def test_typecheck_catches_errors(tmp_path):
    """The same setup reports a real MicroPython API misuse (the check can fail)."""
    stubs = _stubs("rp2")
    bad = tmp_path / "bad.py"
    bad.write_text("import time\n\ndef f() -> int:\n    return time.ticks_diff(time.ticks_ms())\n")
    cfg = tmp_path / "pyright.json"
    cfg.write_text(
        json.dumps(
            {
                "include": [str(bad)],
                "typeshedPath": str(stubs),
                "stubPath": str(stubs),
                "pythonVersion": "3.11",
                "typeCheckingMode": "basic",
            }
        )
    )
    r = _run(cfg)
    assert r.returncode != 0 and "ticks_diff" in r.stdout, r.stdout
