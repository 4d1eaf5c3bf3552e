"""Small math for both interpreters: piecewise-linear tables and the
Arrhenius temperature factor, with the two constants it needs.

The firmware keeps this module in memory (the plating limiter's tables, the
impedance estimator's temperature compensation), so the constants of
nature both sides use live here rather than in ``cellconst.py``, which the
board never loads: every public name here is an interned string on the
board (docs/firmware.md, Heap).
"""

import math

# Molar gas constant, J/(mol K): CODATA 2018 (N_A k, exact in the 2019 SI), to 10 digits.
R_GAS_J_MOL_K = 8.314462618
# 0 degrees Celsius in kelvin.
ZERO_C_K = 273.15


def interp(table, x):
    """Piecewise-linear lookup in ((x0, y0), (x1, y1), ...) sorted by x; flat outside."""
    if x <= table[0][0]:
        return table[0][1]
    n = len(table)
    for k in range(1, n):
        x1 = table[k][0]
        if x <= x1:
            x0, y0 = table[k - 1]
            y1 = table[k][1]
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return table[n - 1][1]


def arrhenius(ea_j_mol, temperature_c, t_ref_c):
    """k(T) / k(T_ref) of a thermally activated rate (cell-physics sec. 5, 9):
    exp(Ea/R (1/T_ref - 1/T)), above 1 when warmer than ``t_ref_c``.
    A resistance set by such a process (ion transport, charge transfer)
    scales as its inverse: R(T) = R(T_ref) / arrhenius(...)."""
    return math.exp(ea_j_mol / R_GAS_J_MOL_K * (1.0 / (t_ref_c + ZERO_C_K) - 1.0 / (temperature_c + ZERO_C_K)))
