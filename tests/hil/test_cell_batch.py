"""The numpy batch model agrees with the scalar model, cell by cell."""

import numpy as np
import pytest

from platewise.hil.cell.batch import CellBatch
from platewise.hil.cell.bench import bench
from platewise.hil.cell.model import PRESETS, T_QUANTUM_INV, Cell, load_params
from platewise.shared.mathx import arrhenius

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


@pytest.mark.parametrize("name", PRESETS)
def test_batch_arrhenius_equals_the_shared_scalar(name):
    """The batch's vectorised Arrhenius terms are shared.mathx.arrhenius (the
    scalar model's, the firmware's, the twin's) to 1e-12, from -30 to 60 C."""
    p = load_params(name)
    temps = np.linspace(-30.0, 60.0, 181) + 0.00337  # off the 0.01 K grid: both quantise alike
    batch = CellBatch(p, len(temps))
    batch.temperature_c = temps.copy()
    batch._temperature_terms()
    cell = Cell(p)
    for k, t in enumerate(temps):
        t_q = np.floor(t * T_QUANTUM_INV + 0.5) / T_QUANTUM_INV
        cell._update_temperature_terms(float(t_q))
        rate = {e: arrhenius(1e3 * p[e], float(t_q), p["t_ref_c"]) for e in ("ea_ohm_kj_mol", "ea_ct_kj_mol", "ea_sei_kj_mol", "ea_ccd_kj_mol")}
        for attr, want in (
            ("_arr_ohm", 1.0 / rate["ea_ohm_kj_mol"]),
            ("_arr_ct", 1.0 / rate["ea_ct_kj_mol"]),
            ("_arr_sei", rate["ea_sei_kj_mol"]),
            ("_arr_ccd", rate["ea_ccd_kj_mol"]),
        ):
            assert getattr(batch, attr)[k] == pytest.approx(want, rel=1e-12, abs=0.0), (attr, t)
            assert getattr(cell, attr) == pytest.approx(want, rel=1e-12, abs=0.0), (attr, t)
    # Not a tautology: the factors span the range the presets give them.
    assert batch._arr_ohm.max() > 1.5 * batch._arr_ohm.min() and batch._arr_sei[-1] > 1.0 > batch._arr_sei[0]
