"""Self-check of firmware.bench, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from firmware.bench import main


def run():
    r = main(200)
    assert r["tick_us_median"] > 0 and r["ticks"] == 200
    return True
