"""host/twin/fast.py: the EKF on the sample stream, against the emulator's
true plated Li and series resistance (hil/twin_truth.py rows carry both).
The slow filter hands its inventory to the fast one at each cycle end, as
the model needs it (plated = delithiated - (capacity - inventory))."""

import math

import numpy as np
import pytest

from platewise.hil import twin_truth
from platewise.host.twin.fast import FastFilter, cell_model
from platewise.host.twin.filters import InventoryFilter


def track(preset, use_pressure=True, cycles=5):
    run = twin_truth.life(preset, seed=1, samples=True, cycles=cycles)
    fast, slow = FastFilter(run["params"]), InventoryFilter()
    cur, plated_err, r0_err, covered = 1, [], [], 0
    for row in run["rows"]:
        if row[5] != cur:  # a cycle ended: the slow filter's inventory goes to the fast one
            slow.update_cycle(run["messages"][cur - 1])
            fast.inventory_ah = slow.inventory_ah
            cur = row[5]
        fast.step(row[0], row[1], row[2], row[4] if use_pressure else None)
        if row[5] >= 2:
            plated_err.append((fast.plated_ah - row[6]) / run["capacity_ah"])
            covered += abs(fast.plated_ah - row[6]) <= 1.645 * fast.plated_std_ah
            r0_err.append((fast.r0_ohm - row[7]) / row[7])
    return fast, np.array(plated_err), np.array(r0_err), covered / len(plated_err)


@pytest.mark.parametrize("preset, r0_tol", [("lfp-liquid", 0.25), ("nmc811-liquid", 0.35), ("sulfide-ssb", 0.3)])
def test_plated_li_within_2_percent_rms_of_capacity_and_r0_tracked(preset, r0_tol):
    fast, plated_err, r0_err, coverage = track(preset)
    assert math.sqrt(np.mean(plated_err**2)) < 0.02
    assert np.max(np.abs(plated_err)) < 0.05
    assert coverage >= 0.75  # the 90 % interval: honest within the model's known gaps
    assert np.median(np.abs(r0_err)) < r0_tol
    assert fast.updates > 0.8 * len(plated_err) and fast.plated_std_ah > 0 and fast.empties >= 4  # one collapse per cycle at least


def test_bad_samples_are_skipped_and_missing_parameters_named():
    run = twin_truth.life("lfp-liquid", seed=0, samples=True, cycles=1)
    f = FastFilter(run["params"])
    assert f.step(0.0, 3.3, 0.0) is False  # first sample: only a time origin
    assert f.step(float("nan"), 3.3, 0.0) is False and f.step(0.0, 3.3, 0.0) is False
    assert f.skipped == 2
    with pytest.raises(ValueError, match="tau1_s"):
        cell_model({k: v for k, v in run["params"].items() if k != "tau1_s"})
