"""Self-check of firmware.drivers.ina228, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from firmware.drivers.ina228 import _CAL_SCALE, _s20


def run():
    assert _s20(b"\x7f\xff\xf0") == 0x7FFFF and _s20(b"\x80\x00\x00") == -0x80000
    assert _s20(b"\xff\xff\xf0") == -1 and _s20(b"\x00\x00\x10") == 1
    # 10 A on 2 mOhm in the 40.96 mV range: SHUNT_CAL = 2000 (datasheet formula).
    assert int(_CAL_SCALE * (10.0 / 524288.0) * 0.002 * 4 + 0.5) == 2000
    return True
