"""Self-check of firmware.impedance, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from firmware.impedance import ImpedanceEstimator
from shared.mathx import arrhenius


def run():
    z = ImpedanceEstimator(0.001, 2.5, r_nominal_ohm=1.0, ea_j_mol=0.0)
    assert not z.update(0.3, 0.0, 25.0)
    assert not z.update(3.40, 0.01, 25.0)  # plating starts: not a resistance
    assert z.samples == 0
    z.start_learning()
    v = 3.40
    for k in range(10):  # interrupt 10 mA on a 5-ohm cell: 50 mV steps
        z.update(v - 0.05, 0.0, 25.0)
        z.update(v, 0.01, 25.0)
    z.stop_learning()
    assert abs(z.r_ohm - 5.0) < 1e-3 and abs(z.baseline_ohm - 5.0) < 0.5, (z.r_ohm, z.baseline_ohm)
    for k in range(20):  # resistance doubles: the fit follows within a few pulses
        z.update(v - 0.10, 0.0, 25.0)
        z.update(v, 0.01, 25.0)
    assert abs(z.r_ohm - 10.0) < 0.05 and z.drift_ratio > 1.8
    # Arrhenius: the same 5 ohm seen at 0 C is a smaller resistance at 25 C.
    w = ImpedanceEstimator(0.001, 2.5, r_nominal_ohm=1.0, ea_j_mol=20000.0)
    for k in range(10):
        w.update(3.35, 0.0, 0.0)
        w.update(3.40, 0.01, 0.0)
    assert abs(w.r_ohm - 5.0) < 1e-3 and w.r_ref_ohm < 0.5 * 5.0
    # ... by the shared factor (the emulator's and the twin's): 0.478 at 0 C.
    assert abs(w.r_ref_ohm / w.r_ohm / arrhenius(20000.0, 0.0, 25.0) - 1.0) < 1e-12
    assert abs(w.r_ref_ohm / w.r_ohm - 0.477871317193321) < 1e-9
    return True
