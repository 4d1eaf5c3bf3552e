"""Self-check of shared.mathx, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from shared.mathx import interp


def run():
    t = ((0.0, 0.25), (10.0, 0.5), (15.0, 1.0))
    assert interp(t, -5.0) == 0.25 and interp(t, 20.0) == 1.0
    assert abs(interp(t, 5.0) - 0.375) < 1e-12 and abs(interp(t, 12.5) - 0.75) < 1e-12
    return True
