"""Self-check of shared.mathx, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from shared.mathx import R_GAS_J_MOL_K, ZERO_C_K, arrhenius, interp


def run():
    t = ((0.0, 0.25), (10.0, 0.5), (15.0, 1.0))
    assert interp(t, -5.0) == 0.25 and interp(t, 20.0) == 1.0
    assert abs(interp(t, 5.0) - 0.375) < 1e-12 and abs(interp(t, 12.5) - 0.75) < 1e-12
    assert R_GAS_J_MOL_K == 8.314462618 and ZERO_C_K == 273.15
    # 20 kJ/mol, 0 C against 25 C; 50 kJ/mol, 45 C against 25 C (values from CPython).
    assert abs(arrhenius(20000.0, 0.0, 25.0) / 0.477871317193321 - 1.0) < 1e-12
    assert abs(arrhenius(50000.0, 45.0, 25.0) / 3.553528603683675 - 1.0) < 1e-12
    assert arrhenius(20000.0, 25.0, 25.0) == 1.0 and arrhenius(0.0, -20.0, 25.0) == 1.0
    return True
