"""CPython helper for tests/firmware/test_*.py: run an mp_*.py case script
under the MicroPython unix port and parse its ``MPCASE name json`` lines."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from platewise.host.mpybuild import micropython_env, micropython_path
from repo_paths import REPO_ROOT

MP_DIR = Path(__file__).resolve().parent


def run_script(script: str, *args: str, heapsize: str = "256K", timeout_s: float = 120.0) -> subprocess.CompletedProcess:
    argv = [micropython_path(), "-X", f"heapsize={heapsize}", str(MP_DIR / script), *args]
    return subprocess.run(argv, env=micropython_env(), capture_output=True, text=True, timeout=timeout_s, cwd=REPO_ROOT)


def run_cases(script: str, *args: str) -> dict:
    r = run_script(script, *args)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = {}
    for line in r.stdout.splitlines():
        if line.startswith("MPCASE "):
            _, name, payload = line.split(" ", 2)
            out[name] = json.loads(payload)
    assert out, "no MPCASE lines:\n" + r.stdout[-2000:] + r.stderr[-2000:]
    return out


def case(results: dict, name: str) -> dict:
    res = results[name]
    assert "error" not in res, f"{name} raised under MicroPython: {res['error']}"
    return res
