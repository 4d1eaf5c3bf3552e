"""MCP4725 current setpoint and contactor output, under MicroPython."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "mp"))
from mp_runner import case, run_cases  # noqa: E402


@pytest.fixture(scope="module")
def res():
    return run_cases("mp_drivers.py")


def test_mcp4725_zero_at_init_codes_and_clamps(res):
    r = case(res, "mcp4725")
    assert r["after_init"] == 0  # EEPROM held full scale: init must still start at 0 A
    fs = 0.2
    for a in (0.0, 0.05, 0.1, 0.2):
        assert r["codes"][str(a)] == round(a / fs * 4095)
    assert r["codes"]["0.5"] == 4095  # clamped to full scale
    assert r["codes"]["-0.1"] == 0  # a source cannot sink
    assert r["eeprom"] == 0 and r["pd"] == 0


def test_mcp4725_absent_is_named(res):
    t = case(res, "mcp4725_absent")["error_text"]
    assert t and "MCP4725" in t and "0x61" in t


def test_contactor_opens_at_init_for_either_active_level(res):
    r = case(res, "contactor")
    assert r["True"] == [0, 1, 0]  # [at init, closed, opened]
    assert r["False"] == [1, 0, 1]
