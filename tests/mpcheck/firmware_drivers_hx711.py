"""Self-check of firmware.drivers.hx711, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from firmware.drivers.hx711 import HX711


def run():
    class _Pin:  # DOUT stuck high: never ready
        def value(self, v=None):
            return 1

    hx = HX711(_Pin(), _Pin(), stale_limit=2)
    assert hx.read_counts() is None and hx.fault == "stale"
    assert hx.read_pressure_mpa() != hx.read_pressure_mpa()  # NaN
    return True
