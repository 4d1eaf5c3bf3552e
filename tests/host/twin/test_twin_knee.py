"""Issue 12 sec. 4: an EOL that admits a knee, on a real cell and on straight fades.

The real cell is CALCE CS2_35 (tests/data/calce_cs2_35/, see ATTRIBUTION.md):
per-cycle capacities from the cycler's own counters, fed as cycle messages
(complete cycles only; no other gating: the inventory filter's chi-square
gate and the knee fit's robust gate take the +/-10 % outliers). The replay
of the CSV is not used here (its cycle accounting is issue 12 sec. 2).

Cycle numbers: the message's cycle is the truth's cycle_index + 1 (the
filter's cycle 1 is the first), so the true 80 % cycle is
first_cycle_below_80pct_of_initial + 1 = 546, and the threshold is 80 % of
the truth's initial capacity (median of the first 5 complete cycles).
"""

import functools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from platewise.hil import twin_truth
from platewise.host.twin import knee
from platewise.host.twin.filters import InventoryFilter
from platewise.host.twin.service import Twin
from platewise.shared.telemetry import encode, topic
from twinkit import cycle_fields, synthetic_cycles

TRUTH = Path(__file__).resolve().parents[2] / "data" / "calce_cs2_35" / "calce_cs2_35.truth.json"
# This cycler's per-cycle scatter: consecutive complete cycles differ by a
# median 0.26 % and a 90th percentile of 1.5 % (rest bumps, outliers), so the
# counting noise of the filter is 1 %, not the board's 0.1 %.
CALCE_TUNING = {"sigma_discharge_rel": 0.01, "sigma_charge_rel": 0.01}


@functools.lru_cache(maxsize=None)
def calce():
    d = json.loads(TRUTH.read_text())
    msgs = []
    for k, (q_d, q_c, ok) in enumerate(zip(d["discharge_capacity_ah"], d["charge_capacity_ah"], d["complete_cycle"])):
        if ok:
            msgs.append(cycle_fields(k + 1, q_c, q_d, t_s=3600.0 * (k + 1)))
    return msgs, d["initial_discharge_capacity_ah"], d["first_cycle_below_80pct_of_initial"] + 1


@functools.lru_cache(maxsize=None)
def calce_run():
    """Per cycle: (cycle, (pred, lo, hi), knee_detected, knee_cycle) through the InventoryFilter API."""
    msgs, i0, _eol = calce()
    f = InventoryFilter(CALCE_TUNING)
    out = []
    for m in msgs:
        f.update_cycle(m)
        out.append((m["cycle"], f.predict_eol_cycle(initial_ah=i0 + f.bias_ah), f.knee_detected, f.knee_cycle))
    return out


def at_fraction(run, eol, frac):
    n = math.ceil(frac * eol)
    return next(r for r in run if r[0] >= n)


def test_calce_eol_exists_from_a_quarter_of_life_and_the_interval_covers_the_truth():
    _msgs, _i0, eol = calce()
    assert eol == 546
    run = calce_run()
    quarter_on = [r for r in run if 0.25 * eol <= r[0] < eol]
    assert len(quarter_on) > 350 and all(r[1][0] is not None for r in quarter_on)
    covered = 0
    for frac in (0.25, 0.5, 0.75):
        _n, (pred, lo, hi), _det, _kc = at_fraction(run, eol, frac)
        covered += lo <= eol and (hi is None or eol <= hi)
    assert covered >= 2
    # measured: 25 %: 252 [216, 867]; 50 %: 404 [354, 3172]; 75 %: 596 [493, 854]; 90 %: 562 [492, 963]
    # (before eol.py: the upper bound at 75 % and 90 % was beyond the horizon)
    n75, (pred75, lo75, hi75), _d, _k = at_fraction(run, eol, 0.75)
    assert n75 == 410 and abs(pred75 - eol) <= 0.2 * eol, pred75
    _n90, (_p90, lo90, hi90), _d, _k = at_fraction(run, eol, 0.9)
    assert hi75 is not None and hi90 is not None and lo75 <= eol <= hi75 and lo90 <= eol <= hi90
    # once the knee is seen, the interval closes above: 520: 547 [526, 787]
    n, (pred, lo, hi), det, _kc = next(r for r in run if r[0] >= 520)
    assert det and hi is not None and lo <= eol <= hi and abs(pred - eol) <= 0.05 * eol


def test_calce_knee_is_found_between_the_early_fade_and_eol():
    _msgs, _i0, eol = calce()
    run = calce_run()
    first = next(r for r in run if r[2])
    detected_at, knee_cycle = first[0], first[3]
    # measured: detected at cycle 512, knee at 452 (the fade goes from ~2e-4 to ~6e-4 Ah/cycle)
    assert 100 < knee_cycle < detected_at < eol, (knee_cycle, detected_at)
    assert 420 <= knee_cycle <= 480
    assert not any(r[2] for r in run if r[0] < 450)  # no knee on the slow, straight part


def test_calce_fade_accelerating_is_raised_by_the_twin_when_the_knee_is_found():
    msgs, _i0, eol = calce()
    twin = Twin(filter_tuning=CALCE_TUNING)
    raised = None
    for m in msgs:
        twin.handle(topic("cs2", "cycle"), encode("cycle", "cs2", m["cycle"], dict(m)))
        c = twin.cell("cs2")
        if "FADE_ACCELERATING" in c["alarms"]:
            raised = m["cycle"]
            assert c["knee_detected"] and 420 <= c["knee_cycle"] < raised
            break
        assert not c["knee_detected"]  # raised on the cycle the knee is first seen
    # the filter alone saw it at 512 (test above); measured through the twin: 513
    assert raised is not None and 500 <= raised < eol, raised


@pytest.mark.parametrize("seed", range(3))
def test_straight_fade_has_no_knee_and_no_alarm(seed):
    rng = np.random.default_rng(seed)
    fields, _truth = synthetic_cycles(1.0, 0.9995, 400, noise_rel=0.003, rng=rng)
    twin = Twin()
    f = InventoryFilter()
    for m in fields:
        f.update_cycle(m)
        assert not f.knee_detected, m["cycle"]
        twin.handle(topic("lin", "cycle"), encode("cycle", "lin", m["cycle"], dict(m)))
        assert "FADE_ACCELERATING" not in twin.cell("lin")["alarms"]
    fit = f.fade_fit
    assert fit is not None and fit.slope_after > 2.0 * fit.slope_before  # the rate did not double


@pytest.mark.parametrize("preset", ("lfp-liquid", "nmc811-liquid", "sulfide-ssb"))
def test_emulator_lives_raise_no_fade_alarm(preset):
    run = twin_truth.life(preset, seed=0)
    twin = Twin()
    for msg in run["messages"]:
        twin.handle(topic("e1", "cycle"), encode("cycle", "e1", msg["cycle"], dict(msg)))
        assert "FADE_ACCELERATING" not in twin.cell("e1")["alarms"], msg["cycle"]


def _bent(n, knee_at, rng, noise_ah):
    q = 1.0 - 2e-4 * n - 1e-3 * np.maximum(n - knee_at, 0.0)
    return q + noise_ah * rng.standard_normal(n.size)


@pytest.mark.parametrize("seed", range(5))
def test_fit_finds_a_synthetic_knee_and_not_a_straight_or_slowing_fade(seed):
    rng = np.random.default_rng(seed)
    n = np.arange(1, 401, dtype=float)
    fit = knee.fit_fade(n, _bent(n, 300.0, rng, 0.002))
    assert fit.detected and abs(fit.knee_cycle - 300.0) <= 15, fit.knee_cycle
    assert fit.slope_after == pytest.approx(-1.2e-3, rel=0.2)
    straight = knee.fit_fade(n, 1.0 - 3e-4 * n + 0.002 * rng.standard_normal(n.size))
    assert not straight.detected
    slowing = knee.fit_fade(n, 1.0 - 0.02 * np.log(n) - 1e-4 * n + 0.002 * rng.standard_normal(n.size))
    assert not slowing.detected
    # a single-cycle outlier of -10 % is gated, not a knee
    q = 1.0 - 3e-4 * n + 0.002 * rng.standard_normal(n.size)
    q[-1] -= 0.1
    out = knee.fit_fade(n, q)
    assert not out.detected and out.n_outliers >= 1


def test_fit_needs_enough_cycles_and_a_valid_tuning():
    n = np.arange(1, 20, dtype=float)
    assert knee.fit_fade(n, 1.0 - 1e-3 * n) is None
    with pytest.raises(ValueError, match="p_max"):
        knee.knee_tuning({"p_max": -1})
    with pytest.raises(ValueError, match="unknown"):
        knee.knee_tuning({"nope": 1})
    with pytest.raises(ValueError, match="rho_max"):
        knee.knee_tuning({"rho_max": 1.0})
    with pytest.raises(ValueError, match="grid_points"):
        knee.knee_tuning({"grid_points": 2.5})


def _true_eol(msgs, threshold_ah):
    """First cycle after which the counted discharge stays below ``threshold_ah`` for 3 complete cycles (the truth file's rule)."""
    for a, b, c in zip(msgs, msgs[1:], msgs[2:]):
        if max(a["discharge_ah"], b["discharge_ah"], c["discharge_ah"]) < threshold_ah:
            return a["cycle"]
    return None


def test_calce_interval_covers_other_eol_thresholds_too():
    """Not tuned to the 80 % cycle: the same cell's 85, 80, 75 and 70 % cycles
    (true 459, 546, 652, 666, from the cycler's counters) at 25, 50, 75 and 90 %
    of each one's life. Measured: covered 14 of 16. The misses: 85 % at 50 % of
    its life (cycle 230: [269, 384] for 459: the early fade extrapolated, the
    85 % level is reached only where the flat stretch ends in the knee) and 70 %
    at 90 % (cycle 600: [718, 779] for 666: the cell drops 7 % in cycles
    640-660, a cliff no form foresees)."""
    msgs, i0, _eol = calce()
    checks = {}
    for retention in (0.85, 0.8, 0.75, 0.7):
        eol = _true_eol(msgs, retention * i0)
        for frac in (0.25, 0.5, 0.75, 0.9):
            n = next(m["cycle"] for m in msgs if m["cycle"] >= math.ceil(frac * eol))
            checks.setdefault(n, []).append((retention, frac, eol))
    assert [_true_eol(msgs, r * i0) for r in (0.85, 0.8, 0.75, 0.7)] == [459, 546, 652, 666]
    f = InventoryFilter(CALCE_TUNING)
    covered, misses = 0, []
    for m in msgs:
        f.update_cycle(m)
        for retention, frac, eol in checks.get(m["cycle"], ()):
            pred, lo, hi = f.predict_eol_cycle(retention=retention, initial_ah=i0 + f.bias_ah)
            ok = pred is not None and lo <= eol and (hi is None or eol <= hi)
            covered += ok
            if not ok:
                misses.append((retention, frac, m["cycle"], lo, hi))
    assert covered >= 14, (covered, misses)
