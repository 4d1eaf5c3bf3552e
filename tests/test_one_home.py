"""One home for each number and formula both sides use (issue 11, point 7).

The gas constant, 0 C in kelvin and the Arrhenius factor live in
shared/mathx.py (the board keeps it in memory); the cell facts (end-of-life
retention, Ah per mol, ...) in shared/cellconst.py; the charger's state
names in shared/wire.py. The source scan fails when a copy comes back; the
agreement tests show the firmware, the emulator and the twin compute the
same factor.
"""

from __future__ import annotations

import io
import math
import tokenize
from pathlib import Path

import pytest

from repo_paths import REPO_ROOT

SOURCES = ("shared", "firmware", "host", "hil", "platewise")
STATE_NAMES = ("IDLE", "FORMATION", "CHARGE_CC", "CHARGE_CV", "REST", "DISCHARGE", "FAULT", "DONE")


def _tokens():
    for top in SOURCES:
        for path in sorted((REPO_ROOT / top).rglob("*.py")):
            rel = path.relative_to(REPO_ROOT).as_posix()
            for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
                yield rel, tok


def _number_value(text: str) -> float | None:
    try:
        return float(text.replace("_", ""))
    except ValueError:
        return None  # hex, complex


def test_the_scan_sees_the_homes():
    # Guard against a scan that finds nothing (a moved folder, a broken glob).
    numbers = {(rel, tok.string) for rel, tok in _tokens() if tok.type == tokenize.NUMBER}
    assert ("shared/mathx.py", "8.314462618") in numbers and ("shared/mathx.py", "273.15") in numbers
    assert ("shared/cellconst.py", "26.801") in numbers


def test_each_constant_is_written_once():
    homes = {  # value -> the one file that may write it as a number
        8.314462618: "shared/mathx.py",
        8.314: None,  # the old rounded value: nowhere
        8.314462618e-3: None,
        273.15: "shared/mathx.py",
        26.801: "shared/cellconst.py",
        96485.33212: None,
        96485.0: None,
    }
    found = []
    for rel, tok in _tokens():
        if tok.type != tokenize.NUMBER:
            continue
        v = _number_value(tok.string)
        if v is None:
            continue
        for value, home in homes.items():
            if math.isclose(v, value, rel_tol=1e-6) and rel != home:
                found.append(f"{rel}:{tok.start[0]}: {tok.string}")
    assert not found, "constants written outside their home (shared/mathx.py, shared/cellconst.py): " + ", ".join(found)


def test_arrhenius_is_written_once():
    # Whoever divides by the gas constant is writing Arrhenius out; only the
    # shared factor and its numpy twin (hil/cell/batch.py, proven equal in
    # tests/hil/test_cell_batch.py) may.
    allowed = {"shared/mathx.py", "hil/cell/batch.py"}
    found = sorted({f"{rel}:{tok.start[0]}" for rel, tok in _tokens() if tok.type == tokenize.NAME and tok.string == "R_GAS_J_MOL_K" and rel not in allowed})
    assert not found, found


def test_charger_state_names_are_spelled_once():
    want = {repr(n) for n in STATE_NAMES} | {'"%s"' % n for n in STATE_NAMES}
    found = [f"{rel}:{tok.start[0]}: {tok.string}" for rel, tok in _tokens() if tok.type == tokenize.STRING and tok.string in want and rel != "shared/wire.py"]
    assert not found, "charger state names spelled outside shared/wire.py: " + ", ".join(found)
    homes = [tok.string for rel, tok in _tokens() if rel == "shared/wire.py" and tok.type == tokenize.STRING and tok.string in want]
    assert sorted(homes) == sorted('"%s"' % n for n in STATE_NAMES)  # each once, there


def test_the_charger_and_the_telemetry_schema_share_the_names():
    from firmware import charger

    from platewise.shared import telemetry, wire

    assert telemetry.CHARGER_STATES is wire.CHARGER_STATES == STATE_NAMES
    state_field = [f for f in telemetry.SCHEMA["telemetry"] if f[0] == "state"][0]
    assert state_field[3] is wire.CHARGER_STATES
    for name in STATE_NAMES:
        assert getattr(charger, name) == name


def test_eol_retention_has_one_home():
    from platewise.host.twin import alarms, filters
    from platewise.shared.cellconst import EOL_RETENTION

    assert EOL_RETENTION == 0.8  # cell-physics sec. 2
    assert filters.DEFAULT_TUNING["eol_retention"][0] == EOL_RETENTION
    assert alarms.ALARMS["EOL_REACHED"]["raise_below"] == EOL_RETENTION


@pytest.mark.parametrize("temperature_c", [-20.0, 0.0, 25.0, 45.0])
def test_firmware_emulator_and_twin_use_one_arrhenius_factor(temperature_c):
    """The board's compensation, the emulator's resistance and the twin's
    compensation are the same factor, to 1e-12 (CPython runs the firmware
    module as a board lays it out)."""
    from firmware.impedance import ImpedanceEstimator

    from platewise.hil.cell.model import Cell, load_params
    from platewise.host.twin.filters import arrhenius_to_ref
    from platewise.shared.mathx import arrhenius

    ea_kj_mol = 20.0
    z = ImpedanceEstimator(0.001, 2.5, r_nominal_ohm=1.0, ea_j_mol=1e3 * ea_kj_mol, t_ref_c=25.0)
    for _ in range(10):  # 5 ohm steps at temperature_c
        z.update(3.35, 0.0, temperature_c)
        z.update(3.40, 0.01, temperature_c)
    board = z.r_ohm / z.r_ref_ohm  # R(T) / R(T_ref)
    want = 1.0 / arrhenius(1e3 * ea_kj_mol, temperature_c, 25.0)
    assert board == pytest.approx(want, rel=1e-12, abs=0.0)
    assert 1.0 / arrhenius_to_ref(1.0, temperature_c, ea_kj_mol, 25.0) == pytest.approx(want, rel=1e-12, abs=0.0)
    p = load_params("lfp-liquid", {"ea_ohm_kj_mol": ea_kj_mol, "t_ref_c": 25.0})
    cell = Cell(p)
    cell._update_temperature_terms(temperature_c)
    assert cell._arr_ohm == pytest.approx(want, rel=1e-12, abs=0.0)
    if temperature_c == 0.0:
        assert want == pytest.approx(1.0 / 0.477871317193321, rel=1e-12)  # 20 kJ/mol: 2.09 x at 0 C
