"""Physical constants of anode-less cells, each citing docs/cell-physics.md.

Used by the cell emulator and the twin, so that one number has one home
(the board never loads this module). The constants of nature the
board needs at run time too (the gas constant, 0 C in kelvin) and the
Arrhenius factor live in mathx.py, which the board keeps in memory.
"""

# cell-physics sec. 4: 1 mAh/cm2 of plated Li is ~4.85 um thick
# (engineering value from 3.86 Ah/g and 0.534 g/cm3).
LI_THICKNESS_UM_PER_MAH_CM2 = 4.85

# cell-physics sec. 3 (review sec. 3.1.1): nucleation overpotential on bare Cu
# ~41 mV, ~13 mV with a lithiophilic interlayer.
NUCLEATION_OVERPOTENTIAL_CU_V = 0.041
NUCLEATION_OVERPOTENTIAL_INTERLAYER_V = 0.013

# cell-physics sec. 2: end of life at 80 % of the initial lithium inventory.
EOL_RETENTION = 0.8

# cell-physics sec. 4 (ref. [161], LPSCl): 2 MPa early failure, 10 MPa optimal,
# 20 MPa fracture.
SSB_PRESSURE_LOW_MPA = 2.0
SSB_PRESSURE_OPT_MPA = 10.0
SSB_PRESSURE_FRACTURE_MPA = 20.0

# Faraday constant over 3600: Ah per mol of electrons (engineering value).
AH_PER_MOL = 26.801


def cycles_to_retention(ce, retention=EOL_RETENTION):
    """Cycles until inventory falls to ``retention`` at constant CE (cell-physics sec. 2)."""
    import math

    if not 0.0 < ce < 1.0:
        raise ValueError("ce must be in (0, 1)")
    return math.log(retention) / math.log(ce)
