"""Self-check of firmware.measure, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from _stubs import Board
from firmware.measure import Measurement


def run():
    m = Measurement()
    b = Board(i=1.0)
    m.update(b, (1 << 30) - 1800000, False)  # just before the tick counter wraps
    m.update(b, 1800000, False)  # an hour later, after the wrap
    assert abs(m.total_charge_ah - 1.0) < 1e-9, m.total_charge_ah
    assert abs(m.cycle.charge_wh - 3.3) < 1e-9
    z = Measurement()
    z.update(b, 0, True)  # contactor open: reading 1.0 A is all offset
    z.update(b, 1000, True)
    assert abs(z.current_offset_a - 1.0) < 1e-9 and abs(z.current_a) < 1e-9
    return True
