"""The batched numpy path equals the per-cell filterpy path to 1e-9 on the
same data: every outcome, state and covariance, every round."""

import numpy as np
import pytest

from platewise.hil import twin_truth
from platewise.host.twin.batch import BatchInventoryFilter
from platewise.host.twin.filters import InventoryFilter


def _messages(rng, n_cells, n_rounds):
    """Per round, per cell: (cycle, charge, discharge, formation, present), with glitches."""
    rounds = []
    inv = rng.uniform(0.01, 5.0, n_cells)  # 10 mAh coin cells to 5 Ah pouches
    cyc = np.zeros(n_cells, dtype=np.int64)
    for r in range(n_rounds):
        present = rng.random(n_cells) > 0.1
        step = np.where(rng.random(n_cells) < 0.05, rng.integers(2, 5, n_cells), 1)  # lost summaries
        cyc = cyc + np.where(present, step, 0)
        loss = inv * rng.uniform(0.001, 0.01, n_cells)
        charge = inv * (1 + rng.normal(0, 5e-4, n_cells))
        discharge = (inv - loss) * (1 + rng.normal(0, 5e-4, n_cells))
        glitch = rng.random(n_cells) < 0.03  # partial cycles: gated
        discharge = np.where(glitch, discharge * 0.5, discharge)
        charge = np.where(rng.random(n_cells) < (0.15 if r == 0 else 0.01), 0.0, charge)  # nothing charged
        cycles = cyc.copy()
        stale = rng.random(n_cells) < 0.03  # repeated/old cycle numbers
        cycles = np.where(stale & (cycles > 1), cycles - 1, cycles)
        rounds.append((cycles, charge, discharge, cycles <= 2, present))
        inv = np.where(present & ~glitch, inv - loss, inv)
    return rounds


@pytest.mark.parametrize("seed", range(2))
def test_batched_equals_filterpy_per_cell_to_1e9(seed):
    rng = np.random.default_rng(seed)
    n_cells, n_rounds = 40, 30
    batch = BatchInventoryFilter(n_cells)
    cells = [InventoryFilter() for _ in range(n_cells)]
    seen = set()
    for cycles, charge, discharge, formation, present in _messages(rng, n_cells, n_rounds):
        got = batch.update(cycles, charge, discharge, formation, present)
        for i, f in enumerate(cells):
            if not present[i]:
                assert got[i] == ""
                continue
            msg = {"cycle": int(cycles[i]), "charge_ah": float(charge[i]), "discharge_ah": float(discharge[i]), "formation": bool(formation[i])}
            want = f.update_cycle(msg)
            seen.add(want)
            assert got[i] == want, (i, msg)
            if f.initialised:
                x, P = f.x, f.P
                assert x is not None and P is not None
                scale = f.initial_ah
                assert np.max(np.abs(batch.x[i] - x[:, 0])) <= 1e-9 * scale
                assert np.max(np.abs(batch.P[i] - P)) <= 1e-9 * scale**2
                assert batch.last_cycle[i] == f.last_cycle
            else:
                assert np.isnan(batch.initial_ah[i])
        assert np.array_equal(batch.gated, [f.gated for f in cells])
        assert np.array_equal(batch.restarts, [f.restarts for f in cells])
    assert seen >= {"init", "update", "gated", "stale", "skipped"}  # every path was exercised


def test_batched_on_emulator_lives_matches_the_reported_inventory():
    runs = [twin_truth.life(p, seed=s) for p in ("lfp-liquid", "sulfide-ssb") for s in (0, 1)]
    n = min(len(r["messages"]) for r in runs)
    batch = BatchInventoryFilter(len(runs))
    cells = [InventoryFilter() for _ in runs]
    for k in range(n):
        ms = [r["messages"][k] for r in runs]
        batch.update([m["cycle"] for m in ms], [m["charge_ah"] for m in ms], [m["discharge_ah"] for m in ms], [m["formation"] for m in ms])
        for f, m in zip(cells, ms):
            f.update_cycle(m)
    assert np.allclose(batch.inventory_ah(), [f.inventory_ah for f in cells], rtol=1e-9, atol=0)


def test_shapes_are_checked():
    b = BatchInventoryFilter(3)
    with pytest.raises(ValueError, match="charge_ah"):
        b.update([1, 1, 1], [0.02, 0.02], [0.019, 0.019, 0.019])
