"""Loss mechanisms and fault injection at any simulated time (cell-physics sec. 3-6)."""

import math

import pytest

from platewise.hil.cell.cycler import run
from platewise.hil.cell.model import Cell, load_params


def _eol(name, **kw):
    return run(name, "formation-cccv", cycles=300, **kw)["eol_cycle"]


def test_liquid_pressure_window():
    """Liquid cells have an optimal window too: too low (voids) and too high (dead Li) both cost life."""
    life = {p: _eol("lfp-liquid", pressure_mpa=p) for p in (0.1, 1.0, 8.0)}
    assert life[1.0] > 1.4 * life[0.1] and life[1.0] > 1.4 * life[8.0], life


def test_plating_current_density_costs_life():
    """Above the non-dendritic optimum, faster cycling makes porous Li and more dead Li."""
    life = [_eol("lfp-liquid", current_density_ma_cm2=j) for j in (0.25, 1.0, 2.0)]
    assert life[0] > life[1] > life[2], life


def test_ssb_above_ccd_grows_filaments():
    p = load_params("sulfide-ssb")
    below, above = Cell(p), Cell(p)
    run(p, "cccv", cycles=3, cell=below, current_density_ma_cm2=0.5)
    run(p, "cccv", cycles=3, cell=above, current_density_ma_cm2=2.0)
    assert below.filament == 0.0 and above.filament > 0.1


def _charged(name):
    p = load_params(name)
    cell = Cell(p)
    while cell.voltage_v < p["charge_voltage_v"] - 0.05:
        cell.step(30.0, p["nominal_current_ma_cm2"] * cell.area_cm2 / 1000.0)
    return p, cell


def test_pressure_loss_then_stripping_opens_voids():
    p, cell = _charged("sulfide-ssb")
    r0 = cell.resistance_ohm
    cell.inject("pressure_loss")
    assert cell.pressure_mpa == 0.0  # the fixture no longer loads the stack, swelling or not
    while cell.voltage_v > p["discharge_cutoff_v"]:
        cell.step(30.0, -0.004)
    assert cell.contact_loss > 0.1
    assert cell.resistance_ohm > 1.1 * r0
    cell.inject("clear")
    assert cell.pressure_mpa > p["stack_pressure_mpa"] - 0.01


def test_pressure_overload_fractures_at_once():
    p, cell = _charged("sulfide-ssb")
    r0 = cell.resistance_ohm
    cell.inject("pressure_overload", pressure_mpa=p["fracture_instant_mpa"] + 1.0)
    assert cell.fractured
    assert cell.resistance_ohm > 1.5 * r0  # resistance jump
    assert cell.leak_ohm < math.inf  # and a short path opens


def test_cooling_loss_and_ambient():
    p = load_params("lfp-liquid")
    a, b = Cell(p), Cell(p)
    b.inject("cooling_loss", factor=0.05)
    for c in (a, b):
        for _ in range(1800):
            c.step(1.0, 0.02 if c.voltage_v < 3.6 else 0.0)  # 1C
    assert b.temperature_c - p["ambient_c"] > 8 * (a.temperature_c - p["ambient_c"]) > 0.0
    a.inject("ambient", temperature_c=45.0)
    tau_s = p["heat_capacity_j_k"] / p["cooling_w_k"]
    for _ in range(int(3 * tau_s)):
        a.step(1.0, 0.0)
    assert a.temperature_c == pytest.approx(45.0 - 20.0 * math.exp(-3.0), abs=0.3)


def test_injected_short_shrinks_over_time():
    p, cell = _charged("lfp-liquid")
    cell.inject("internal_short", resistance_ohm=10000.0, shrink_per_h=0.5)
    r_first = cell.leak_ohm
    for _ in range(4):
        cell.step(900.0, 0.0)  # 1 h
    assert cell.leak_ohm == pytest.approx(r_first * math.exp(-0.5), rel=1e-6)
    assert cell.faults["internal_short"]["time_s"] == 0.0 or cell.faults["internal_short"]["time_s"] > 0.0


def test_unknown_fault_rejected():
    cell = Cell(load_params("lfp-liquid"))
    with pytest.raises(ValueError):
        cell.inject("meteor")
    with pytest.raises(ValueError):
        cell.step(-1.0, 0.0)
