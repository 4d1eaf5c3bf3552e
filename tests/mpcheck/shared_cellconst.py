"""Self-check of shared.cellconst, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from shared.cellconst import cycles_to_retention


def run():
    assert int(cycles_to_retention(0.99)) == 22
    assert int(cycles_to_retention(0.995)) == 44  # 44.5: "~45" in cell-physics sec. 2
    assert int(cycles_to_retention(0.999)) == 223
    return True
