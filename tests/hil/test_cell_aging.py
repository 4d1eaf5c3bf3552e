"""Life behaviour of the emulated cell through the reference cycler (cell-physics sec. 2-6)."""

import math

import pytest

from platewise.hil.cell.cycler import run
from platewise.hil.cell.model import PRESETS, Cell, load_params


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("ce", [0.990, 0.995, 0.999])
def test_forced_ce_gives_ln08_over_lnce(name, ce):
    """(1) constant CE, other aging off: cycles to 80 % inventory = ln(0.8)/ln(CE) within 1 cycle."""
    r = run(load_params(name, {"forced_ce": ce}), "cccv", cycles=400, rest_s=0.0)
    ideal = math.log(0.8) / math.log(ce)
    assert r["eol_cause"] == "inventory"
    assert abs(r["eol_cycle"] - ideal) <= 1.0, (r["eol_cycle"], ideal)
    for c in r["cycles"][3:]:
        assert c["ce"] == pytest.approx(ce, abs=5e-4)
    # nothing but dead Li was lost
    cell_sei = r["cycles"][-1]["sei_ah"]
    assert cell_sei == 0.0


def _life(name, **kw):
    r = run(name, "formation-cccv", cycles=300, **kw)
    assert r["eol_cycle"] is not None
    return r


def test_lfp_slow_formation_beats_fast():
    """(2) lfp-liquid: formation at 0.05 mA/cm2 lives longer than at 0.5 mA/cm2 (cell-physics sec. 3)."""
    slow = _life("lfp-liquid", formation_ma_cm2=0.05)
    fast = _life("lfp-liquid", formation_ma_cm2=0.5)
    assert slow["eol_cycle"] >= 1.4 * fast["eol_cycle"], (slow["eol_cycle"], fast["eol_cycle"])
    # the memory: porous Li from fast formation persists through life
    assert fast["cycles"][-1]["porosity"] > 2 * slow["cycles"][-1]["porosity"]


def test_nmc_formation_optimum_at_c2():
    """(2) nmc811-liquid: formation at C/2 beats C/20 and 1C (cell-physics sec. 3, ref. [146])."""
    life = {c: _life("nmc811-liquid", formation_c_rate=c)["eol_cycle"] for c in (0.05, 0.5, 1.0)}
    assert life[0.5] > life[0.05] and life[0.5] > life[1.0], life
    assert life[0.5] >= 1.1 * life[0.05] and life[0.5] >= 1.5 * life[1.0], life


def test_ssb_pressure_window():
    """(3) sulfide-ssb: 10 MPa outlives 2 MPa (short) and 20 MPa (fracture) (cell-physics sec. 4, ref. [161])."""
    low = _life("sulfide-ssb", pressure_mpa=2.0)
    opt = _life("sulfide-ssb", pressure_mpa=10.0)
    high = _life("sulfide-ssb", pressure_mpa=20.0)
    assert low["eol_cause"] == "short"
    assert high["eol_cause"] == "fracture"
    assert opt["eol_cause"] == "inventory"
    assert opt["eol_cycle"] > 2 * low["eol_cycle"] and opt["eol_cycle"] > 2 * high["eol_cycle"]
    # before the short, the low-pressure cell's resistance grows faster (voids on stripping, Table 4)
    growth_low = low["cycles"][2]["resistance_ohm"] / low["cycles"][0]["resistance_ohm"]
    growth_opt = opt["cycles"][2]["resistance_ohm"] / opt["cycles"][0]["resistance_ohm"]
    assert growth_low - 1.0 > 3.0 * (growth_opt - 1.0), (growth_low, growth_opt)
    # fracture shows as a resistance jump
    assert high["cycles"][-1]["resistance_ohm"] > 1.5 * high["cycles"][-2]["resistance_ohm"]


@pytest.mark.parametrize("name", ["lfp-liquid", "sulfide-ssb"])
def test_lower_temperature_shortens_life(name):
    """(4) colder cells live shorter (cell-physics sec. 5)."""
    life = [_life(name, temperature_c=t)["eol_cycle"] for t in (0.0, 10.0, 25.0, 40.0)]
    assert life[0] < life[1] < life[2] < life[3], life
    assert life[0] < 0.6 * life[2]


def test_ssb_cold_grows_filaments_at_good_pressure():
    """The critical current density falls in the cold: filaments at 10 MPa below ~5 C."""
    cold = Cell(load_params("sulfide-ssb", {"ambient_c": -10.0}))
    run(cold.params, "formation-cccv", cycles=3, cell=cold, temperature_c=-10.0)
    warm = Cell(load_params("sulfide-ssb"))
    run(warm.params, "formation-cccv", cycles=3, cell=warm)
    assert cold.filament > 0.05 and warm.filament == 0.0


def test_soft_short_self_discharge_and_ce_anomaly():
    """(8) an injected soft short self-discharges at rest and drops CE within one cycle (cell-physics sec. 6)."""
    p = load_params("lfp-liquid")
    ref, bad = Cell(p), Cell(p)
    for c in (ref, bad):
        run(p, "cccv", cycles=3, cell=c)
        while c.voltage_v < p["charge_voltage_v"]:
            c.step(30.0, 0.004)
    bad.inject("internal_short", resistance_ohm=3000.0)
    plated0 = {id(c): c.plated_ah for c in (ref, bad)}
    for c in (ref, bad):
        for _ in range(60):  # 10 h at rest
            c.step(600.0, 0.0)
    ref_loss = plated0[id(ref)] - ref.plated_ah
    bad_loss = plated0[id(bad)] - bad.plated_ah
    leak_ah = 3.4 / 3000.0 * 10.0  # V / R x hours
    assert bad_loss - ref_loss == pytest.approx(leak_ah, rel=0.1)
    assert bad.voltage_v < ref.voltage_v
    # the short returns Li to the cathode: inventory only pays the dead-Li share of that stripping
    assert 0.0 < ref.inventory_ah - bad.inventory_ah < 0.03 * leak_ah
    # next cycle: the charge feeds the leak too, so CE drops well below the reference
    for c in (ref, bad):
        while c.voltage_v > p["discharge_cutoff_v"]:
            c.step(10.0, -0.004)
    r_ref = run(p, "cccv", cycles=1, cell=ref)["cycles"][0]
    r_bad = run(p, "cccv", cycles=1, cell=bad)["cycles"][0]
    assert r_bad["ce"] < r_ref["ce"] - 0.05, (r_bad["ce"], r_ref["ce"])


def test_hard_short_heats_and_drains():
    p = load_params("nmc811-liquid")
    cell = Cell(p)
    while cell.voltage_v < p["charge_voltage_v"]:
        cell.step(30.0, 0.0067)
    cell.filament = 1.0
    t_max = cell.temperature_c
    for _ in range(600):
        cell.step(1.0, 0.0)
        t_max = max(t_max, cell.temperature_c)
    assert cell.hard_short
    assert t_max > p["ambient_c"] + 15.0  # heat
    assert cell.plated_ah < 0.01 * cell.capacity_ah  # drained through the short
    assert cell.voltage_v < 1.0


def test_aging_factor_compresses_life():
    base = _life("lfp-liquid")["eol_cycle"]
    fast = _life(load_params("lfp-liquid", {"aging_factor": 3.0}))["eol_cycle"]
    assert fast < 0.5 * base
