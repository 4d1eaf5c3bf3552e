"""InventoryFilter on synthetic cycles with known truth (the emulator
acceptance tests are in test_twin_acceptance.py)."""

import json
import math

import numpy as np
import pytest
from filterpy.kalman import KalmanFilter

from platewise.host.twin import filters
from platewise.host.twin.filters import DEFAULT_TUNING, GATED, INIT, STALE, UPDATE, InventoryFilter, crossing_cycles
from twinkit import cycle_fields, synthetic_cycles

I0_AH = 0.02
CE = 0.995
BIAS_AH = DEFAULT_TUNING["bias_mean_rel"][0] * I0_AH  # the charge's residue, added to the counted inventory


def fade(n, c=0.0192, a=2.5e-4, b=8e-5):
    """Counted inventory after cycle n on the log + linear fade curve (n0 = 1)."""
    return c - a * math.log(n + 1.0) - b * n


def fade_cycles(n_cycles, **kw):
    out = []
    prev = I0_AH
    for n in range(1, n_cycles + 1):
        d = fade(n, **kw)
        out.append(cycle_fields(n, prev, d))
        prev = d
    return out


def run(fields_list, f=None):
    f = f or InventoryFilter()
    history = []
    for fields in fields_list:
        outcome = f.update_cycle(fields)
        history.append((outcome, f.inventory_ah, f.inventory_std_ah, f.loss_ah_per_cycle))
    return f, history


def test_speaks_filterpy():
    f = InventoryFilter()
    assert isinstance(f.kf, KalmanFilter)
    assert np.array_equal(f.kf.F, np.eye(3))
    assert f.x is None and f.P is None and f.inventory_ah is None
    assert f.predict_eol() == (None, None, None)
    # H of cycle n observes I_n = c - a ln(n + 1) - b n and L_n = a ln((n + 1)/n) + b
    assert np.allclose(filters.observation(4, 1.0), [[1, -math.log(5), -4], [0, math.log(5 / 4), 1]])


def test_first_cycle_initialises_the_curve_from_its_discharge():
    f = InventoryFilter()
    assert f.update_cycle(cycle_fields(1, 0.0200, 0.0190, formation=True)) == INIT
    assert f.initial_ah == 0.0200
    # cycle 1 is a loose observation (formation is off the fade curve): within 0.1 % of I0
    assert f.inventory_ah == pytest.approx(0.0190 + BIAS_AH, abs=2e-5)
    x, P = f.x, f.P
    assert x is not None and P is not None and x.shape == (3, 1) and P.shape == (3, 3)
    # the std is never below the calibration uncertainty (gain and residue)
    floor = math.hypot(DEFAULT_TUNING["gain_std_rel"][0] * 0.019, DEFAULT_TUNING["bias_std_rel"][0] * 0.02)
    assert floor <= f.inventory_std_ah < 0.011 * 0.02  # cycle 1 is loose: about 1 % of the cell


def test_noise_free_fade_curve_is_recovered_and_eol_is_exact():
    f, hist = run(fade_cycles(12))
    assert [h[0] for h in hist] == [INIT] + [UPDATE] * 11
    x = f.x
    assert x is not None
    assert x[:, 0] == pytest.approx([0.0192, 2.5e-4, 8e-5], rel=0.02)
    assert f.inventory_ah == pytest.approx(fade(12) + BIAS_AH, abs=1e-7)
    # true crossing of 80 % of the initial inventory (0.02 + bias)
    threshold = 0.8 * (I0_AH + BIAS_AH)
    n = 12
    while fade(n) + BIAS_AH > threshold:
        n += 1
    pred, lo, hi = f.predict_eol_cycle()
    assert pred == n and lo is not None and hi is not None and lo <= n <= hi
    raw_pred, raw_lo, raw_hi = f.predict_eol()
    assert raw_pred is not None and n - 1 < raw_pred <= n
    # the loss split: SEI = initial - c + a ln(n+1), dead = b n
    split = f.loss_split()
    assert split is not None
    assert split["dead_ah"] == pytest.approx(8e-5 * 12, rel=0.05)
    assert split["sei_ah"] == pytest.approx(0.02 - 0.0192 + 2.5e-4 * math.log(13), rel=0.05)


@pytest.mark.parametrize("seed", range(10))
def test_tracks_ce_to_the_n_within_1_percent_and_the_interval_covers(seed):
    rng = np.random.default_rng(seed)
    fields, truth = synthetic_cycles(I0_AH, CE, 40, noise_rel=0.0005, rng=rng)
    f, hist = run(fields)
    covered = 0
    for k in range(4, 40):
        est, std = hist[k][1], hist[k][2]
        true_ah = truth[k] + BIAS_AH  # synthetic counts have no residue: the bias prior is its mean
        assert abs(est - true_ah) < 0.01 * I0_AH, (k, est, true_ah)
        covered += abs(est - true_ah) <= filters.Z90 * std
    assert covered >= 0.85 * 36
    P = f.P
    assert P is not None and np.allclose(P, P.T) and np.all(np.linalg.eigvalsh(P) > 0)


def test_crossing_cycles_interpolates_and_reports_bounds():
    mean = np.array([1.0, 0.9, 0.8, 0.7, 0.6])
    std = np.array([0.0, 0.05, 0.05, 0.05, 0.05])
    cycles = np.array([10.0, 11.0, 12.0, 13.0, 14.0])
    pred, lo, hi = crossing_cycles(mean, std, 0.75, cycles)
    assert pred == pytest.approx(12.5)
    assert lo is not None and hi is not None and lo < 12.5 < hi
    assert crossing_cycles(mean, std, 0.1, cycles) == (None, None, None)
    # rising quantity (resistance toward a limit)
    assert crossing_cycles(-mean, std, -0.75, cycles, falling=False)[0] == pytest.approx(12.5)


def test_eol_none_without_loss_and_last_cycle_when_past():
    flat = [cycle_fields(k, I0_AH, I0_AH) for k in range(1, 8)]
    f, _ = run(flat)
    assert f.predict_eol()[0] is None
    assert f.predict_eol(retention=1.5) == (None, None, None)
    f, _ = run([cycle_fields(k, I0_AH * 0.7, I0_AH * 0.7 - 1e-5) for k in range(1, 4)])
    assert f.predict_eol(initial_ah=I0_AH) == (3.0, 3.0, 3.0)  # already below 80 %


def test_eol_predictions_take_the_same_keyword_only_arguments():
    f, _ = run(fade_cycles(12))
    # retention 0.9 of a 0.021 Ah cell: another threshold than the default, so a swap would show
    raw = f.predict_eol(retention=0.9, initial_ah=0.021)
    assert raw[0] is not None and raw != f.predict_eol()
    assert f.predict_eol_cycle(retention=0.9, initial_ah=0.021) == tuple(float(math.ceil(c - 1e-9)) for c in raw)
    assert f.predict_eol_cycle(initial_ah=0.021, retention=0.9) == f.predict_eol_cycle(retention=0.9, initial_ah=0.021)
    for predict in (f.predict_eol, f.predict_eol_cycle):
        with pytest.raises(TypeError):
            predict(0.9, 0.021)  # positional: the old orders differed, so none is accepted


def test_partial_cycle_is_gated_and_a_persistent_change_restarts():
    fields = fade_cycles(9)
    f, _ = run(fields[:6])
    x = f.x
    # A charge stopped half way: non-physical against the model.
    assert f.update_cycle(cycle_fields(7, 0.01, 0.0099)) == GATED
    assert np.array_equal(f.x, x) and f.last_cycle == 6 and f.gated == 1
    assert f.last_loss_z is not None and abs(f.last_loss_z) > 0
    assert f.update_cycle(fields[7]) == UPDATE  # cycle 8 predicts across 7
    assert f.inventory_ah == pytest.approx(fade(8) + BIAS_AH, rel=1e-3)
    # The cell was swapped for a smaller one: gated twice, restarted on the third.
    assert f.update_cycle(cycle_fields(10, 0.010, 0.0099)) == GATED
    assert f.update_cycle(cycle_fields(11, 0.0099, 0.0098)) == GATED
    assert f.update_cycle(cycle_fields(12, 0.0098, 0.0097)) == INIT
    assert f.restarts == 1 and f.initial_ah == 0.0098


def test_a_leak_shows_as_a_large_positive_loss_innovation():
    fields = fade_cycles(10)
    f, _ = run(fields[:9])
    leaky = dict(fields[9])
    leaky["discharge_ah"] -= 0.002  # 10 % of the cell leaked away during the cycle
    assert f.update_cycle(leaky) == GATED
    assert f.last_loss_z > 20 and f.last_loss_excess_ah == pytest.approx(0.002, rel=0.05)


def test_repeated_and_old_cycles_are_stale():
    fields = fade_cycles(4)
    f, _ = run(fields)
    x, P = f.x, f.P
    assert f.update_cycle(fields[3]) == STALE
    assert f.update_cycle(fields[0]) == STALE
    assert np.array_equal(f.x, x) and np.array_equal(f.P, P) and f.updates == 4


def test_missing_cycles_are_predicted_across():
    fields = fade_cycles(14)
    f, _ = run(fields[:6] + fields[11:])  # cycles 7..11 never arrived
    assert f.last_cycle == 14
    assert f.inventory_ah == pytest.approx(fade(14) + BIAS_AH, rel=1e-3)


def test_zero_first_charge_is_skipped():
    f = InventoryFilter()
    assert f.update_cycle(cycle_fields(1, 0.0, 0.0)) == "skipped"
    assert f.inventory_ah is None
    assert f.update_cycle(cycle_fields(2, 0.02, 0.0199)) == INIT


def test_tuning_is_data_with_a_rationale_each():
    for name, (value, why) in DEFAULT_TUNING.items():
        assert isinstance(value, (int, float)) and len(why) > 20, name
    back = filters.tuning_from_json(filters.tuning_as_json())
    assert back == {k: v for k, (v, _) in DEFAULT_TUNING.items()}
    f = InventoryFilter(filters.tuning_from_json('{"sigma_charge_rel": {"value": 0.01, "why": "noisy shunt"}}'))
    f.update_cycle(cycle_fields(2, 0.02, 0.0199))
    assert f._sigma_c_ah == pytest.approx(0.01 * 0.02)


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"sigma_chrge_rel": 0.01}, "sigma_chrge_rel"),
        ({"sigma_charge_rel": -0.01}, "sigma_charge_rel"),
        ({"q_dead_rel": float("nan")}, "q_dead_rel"),
        ({"gate_reinit_after": 1.5}, "gate_reinit_after"),
        ({"gate_chi2": "13"}, "gate_chi2"),
        ({"eol_retention": 1.2}, "eol_retention"),
    ],
)
def test_bad_tuning_fails_at_construction_naming_the_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        InventoryFilter(overrides)
    with pytest.raises(ValueError, match="must be an object"):
        filters.tuning_from_json(json.dumps([1]))
