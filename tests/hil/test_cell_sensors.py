"""The ADC view of a cell: bounded errors, quantisation, determinism, faults."""

import statistics

import pytest

from platewise.hil.cell.model import Cell, load_params
from platewise.hil.cell.sensors import Sensors


@pytest.fixture
def setup():
    p = load_params("lfp-liquid")
    cell = Cell(p)
    for _ in range(100):
        cell.step(20.0, 0.004)
    return p, cell


def test_errors_within_spec_and_quantised(setup):
    p, cell = setup
    s = Sensors(p, seed=4)
    reads = [s.read(cell, 0.004) for _ in range(400)]
    v = [r[0] for r in reads]
    i = [r[1] for r in reads]
    t = [r[2] for r in reads]
    pr = [r[3] for r in reads]
    v_err = statistics.mean(v) - cell.voltage_v
    assert abs(v_err) <= p["sensor_v_offset_v"] + p["sensor_v_gain_error"] * cell.voltage_v + p["sensor_v_lsb_v"]
    assert abs(statistics.mean(i) - 0.004) <= p["sensor_i_offset_a"] + 0.004 * p["sensor_i_gain_error"] + p["sensor_i_lsb_a"]
    assert abs(statistics.mean(t) - cell.temperature_c) <= p["sensor_t_offset_c"] + p["sensor_t_lsb_c"]
    assert abs(statistics.mean(pr) - cell.pressure_mpa) <= p["sensor_p_offset_mpa"] + 0.01 * 2 + p["sensor_p_lsb_mpa"]
    assert 0.5 * p["sensor_v_noise_v"] < statistics.pstdev(v) < 2.5 * p["sensor_v_noise_v"]
    for x in v:  # every reading sits on the ADC grid
        assert abs(x / p["sensor_v_lsb_v"] - round(x / p["sensor_v_lsb_v"])) < 1e-6


def test_deterministic_for_seed(setup):
    p, cell = setup
    a = [Sensors(p, seed=7).read(cell, 0.004) for _ in range(3)]
    b = [Sensors(p, seed=7).read(cell, 0.004) for _ in range(3)]
    c = Sensors(p, seed=8).read(cell, 0.004)
    assert a == b and a[0] != c


def test_faults(setup):
    p, cell = setup
    s = Sensors(p, seed=1)
    v0 = s.read(cell, 0.004)[0]
    s.inject("v", "stuck")
    cell.step(600.0, 0.004)
    assert s.read(cell, 0.004)[0] == v0 and cell.voltage_v != v0
    s.inject("v", "clear")
    assert s.read(cell, 0.004)[0] == pytest.approx(cell.voltage_v, abs=0.005)
    s.inject("t", "open")
    assert s.read(cell, 0.0)[2] == -40.0
    s.inject("p", "drift", rate_per_s=0.001)
    base = s.read(cell, 0.0)[3]
    cell.step(1000.0, 0.0)
    assert s.read(cell, 0.0)[3] - base == pytest.approx(1.0, abs=0.1)
    s.inject("i", "noisy", factor=100.0)
    spread = statistics.pstdev(s.read(cell, 0.0)[1] for _ in range(200))
    assert spread > 20 * p["sensor_i_noise_a"]
    with pytest.raises(ValueError):
        s.inject("x", "open")
    with pytest.raises(ValueError):
        s.inject("v", "melted")
