"""Self-check of firmware.drivers.contactor, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from firmware.drivers.contactor import Contactor


def run():
    class _Pin:
        level = None

        def value(self, v=None):
            self.level = v

    for active_high, open_level in ((True, 0), (False, 1)):
        p = _Pin()
        c = Contactor(p, active_high)
        assert p.level == open_level == Contactor.open_level(active_high)
        c.set(True)
        assert p.level == 1 - open_level and c.closed
    return True
