"""Every module of firmware/ and shared/ imports and passes its self-check
under the real MicroPython unix port (not CPython pretending).

The modules run as the boards and HIL run them: precompiled to .mpy by
host/mpybuild.py. Their self-checks live in tests/mpcheck/<module>.py
(``run() -> True``), outside the modules, so that test code costs the
board no heap; every module but the few below must have one (files
starting with "_" there are shared helpers, such as the stub board).
"""

from __future__ import annotations

import subprocess

import pytest

from platewise.host.mpybuild import build
from platewise.host.mpybuild import micropython_env, micropython_path
from repo_paths import REPO_ROOT

CHECKS = REPO_ROOT / "tests" / "mpcheck"

# Modules that talk to hardware or a socket (or build what does), or hold no
# code: imported only
# (their behaviour is covered by HIL and the driver tests).
IMPORT_ONLY = {"firmware.main", "firmware.assemble", "firmware.boards.emulated", "firmware.drivers", "shared", "firmware", "firmware.boards"}


def _modules() -> list[str]:
    mods = []
    for top in ("shared", "firmware"):
        for path in sorted((REPO_ROOT / top).rglob("*.py")):
            rel = path.relative_to(REPO_ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods.append(".".join(parts))
    return mods


MODULES = _modules()


def test_module_list_is_complete():
    # Guard against the glob silently finding nothing.
    assert "shared.telemetry" in MODULES and "firmware.app" in MODULES and len(MODULES) >= 12


def test_every_module_has_a_check():
    missing = [m for m in MODULES if m not in IMPORT_ONLY and not (CHECKS / (m.replace(".", "_") + ".py")).exists()]
    assert not missing, f"no self-check in tests/mpcheck for: {missing}"
    names = {m.replace(".", "_") for m in MODULES}
    stale = [p.stem for p in CHECKS.glob("*.py") if p.stem not in names and not p.stem.startswith("_")]
    assert not stale, f"checks for modules that no longer exist: {stale}"


@pytest.fixture(scope="module")
def compiled():
    return build()


@pytest.mark.parametrize("mod", MODULES)
def test_module_runs_under_micropython(mod, compiled):
    if mod in IMPORT_ONLY:
        code = f"import {mod}\nprint('IMPORTED')"
        want = "IMPORTED"
    else:
        check = mod.replace(".", "_")
        code = f"import {mod}\nimport {check}\nprint('SELFCHECK', {check}.run())"
        want = "SELFCHECK True"
    env = micropython_env(path=compiled)
    env["MICROPYPATH"] = f"{compiled}:{CHECKS}:.frozen"
    r = subprocess.run(
        [micropython_path(), "-X", "heapsize=256K", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert r.returncode == 0, f"{mod} under micropython:\n{r.stdout}\n{r.stderr}"
    assert want in r.stdout
