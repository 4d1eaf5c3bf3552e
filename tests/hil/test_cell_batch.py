"""The numpy batch model agrees with the scalar model, cell by cell."""

import numpy as np
import pytest

from platewise.hil.cell.batch import CellBatch
from platewise.hil.cell.bench import bench
from platewise.hil.cell.model import PRESETS, Cell, load_params

FIELDS = (
    "voltage_v", "ocv_v", "temperature_c", "pressure_mpa", "resistance_ohm", "thickness_um",
    "cathode_ah", "plated_ah", "sei_ah", "dead_ah", "porosity", "contact_loss", "damage", "filament",
    "charge_ah", "discharge_ah", "v_rc_v",
)  # fmt: skip


@pytest.mark.parametrize("name", PRESETS)
def test_batch_equals_scalar(name):
    p = load_params(name, {"aging_factor": 20.0, "short_noise": 0.0})
    n = 6
    pressures = np.array([0.3, 1.0, 2.0, 10.0, 19.0, 45.0])
    ambients = np.array([-10.0, 0.0, 25.0, 25.0, 40.0, 60.0])
    currents = np.array([0.5, 1.0, 2.0, 4.0, 8.0, 12.0]) * 1e-3
    batch = CellBatch(p, n)
    cells = [Cell(p) for _ in range(n)]
    for k in range(n):
        batch.inject("set_pressure", cells=k, pressure_mpa=pressures[k])
        batch.inject("ambient", cells=k, temperature_c=ambients[k])
        cells[k].inject("set_pressure", pressure_mpa=pressures[k])
        cells[k].inject("ambient", temperature_c=ambients[k])
    batch.inject("internal_short", cells=5, resistance_ohm=2000.0, shrink_per_h=0.2)
    cells[5].inject("internal_short", resistance_ohm=2000.0, shrink_per_h=0.2)
    dt = 60.0
    for step in range(1500):
        phase = (step // 125) % 3
        cur = currents * (1.0, -1.0, 0.0)[phase]
        batch.step(dt, cur)
        for k, c in enumerate(cells):
            c.step(dt, float(cur[k]))
        if step % 50 == 49:
            for f in FIELDS:
                got = getattr(batch, f)
                want = np.array([getattr(c, f) for c in cells])
                np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, err_msg=f)
            assert list(batch.hard_short) == [c.hard_short for c in cells]
            assert list(batch.fractured) == [c.fractured for c in cells]
    # the run exercised the mechanisms (not a trivially equal pair of idle models)
    assert any(c.fractured for c in cells) and any(c.filament > 0 for c in cells)
    assert all(c.dead_ah > 0 for c in cells)


def test_batch_conservation():
    b = CellBatch(load_params("lfp-liquid", {"aging_factor": 10.0}), 100)
    cur = np.linspace(-0.02, 0.02, 100)
    for k in range(500):
        b.step(20.0, cur if (k // 100) % 2 == 0 else -cur)
        total = b.cathode_ah + b.plated_ah + b.sei_ah + b.dead_ah
        assert np.max(np.abs(total - b.initial_inventory_ah) / b.initial_inventory_ah) < 1e-9


def test_bench_reports_rates():
    r = bench(steps=20000, batch_n=1000, batch_steps=50)
    assert r["steps_per_s_one_cell"] > 50_000  # < 20 us per scalar step even on a slow CI core
    assert r["steps_per_s_batch_1000"] > 5 * r["steps_per_s_one_cell"]
