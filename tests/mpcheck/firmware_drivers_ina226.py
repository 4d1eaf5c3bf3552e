"""Self-check of firmware.drivers.ina226, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from firmware.drivers.ina226 import _CAL_SCALE


def run():
    # 10 A on 2 mOhm: Current_LSB = 10 / 2**15, CAL = 0.00512 / (LSB * R) -> 8389.
    assert int(_CAL_SCALE / ((10.0 / 32768.0) * 0.002) + 0.5) == 8389
    return True
