"""Self-check of firmware.app, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from _stubs import Board
from firmware.app import BMS


def run():
    from firmware.config import defaults

    class _Net:
        n = 0

        def publish(self, topic, payload, retain, priority):
            self.n += 1

    b = Board()
    cfg = defaults()
    bms = BMS(b, cfg, _Net())
    bms.start(0)
    bms.step(0)
    assert not b.c and b.i == 0.0  # start-up rest: zeroing the current channel
    t = cfg["startup_rest_s"] * 1000
    bms.step(t)
    bms.step(t + 1000)
    assert b.c and b.i > 0
    b.v = 4.5  # above v_max_v, below the rail
    bms.step(t + 2000)
    bms.step(t + 3000)
    assert bms.safety.fault == "OV" and not b.c and b.i == 0.0
    return True
