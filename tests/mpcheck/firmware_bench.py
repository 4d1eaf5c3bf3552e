"""Self-check of firmware.bench, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from firmware.bench import _median, main


def run():
    import array

    a = array.array("I", [30, 10, 20, 50, 40, 40, 7])
    assert _median(a, 6) == 40 and _median(a, 5) == 30 and _median(a, 1) == 30
    r = main(200)
    assert r["tick_us_median"] > 0 and r["ticks"] == 200
    return True
