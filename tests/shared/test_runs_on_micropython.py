"""Every module of firmware/ and shared/ imports and passes its own
self-check under the real MicroPython unix port (not CPython pretending)."""

from __future__ import annotations

import pytest

from hil.virtual_board import REPO_ROOT

# Modules that talk to hardware or a socket at import-free level but whose
# self-test needs a peer: imported only (their behaviour is covered by HIL).
IMPORT_ONLY = {"firmware.main", "firmware.boards.emulated"}


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


@pytest.mark.parametrize("mod", MODULES)
def test_module_runs_under_micropython(mod, mpy):
    if mod in IMPORT_ONLY or mod in ("shared", "firmware", "firmware.boards"):
        code = f"import {mod}\nprint('IMPORTED')"
        want = "IMPORTED"
    else:
        code = f"import {mod} as m\nprint('SELFCHECK', m._self_check())"
        want = "SELFCHECK True"
    r = mpy(code, heapsize="256K")
    assert r.returncode == 0, f"{mod} under micropython:\n{r.stdout}\n{r.stderr}"
    assert want in r.stdout
