"""InventoryFilter on synthetic cycles with known truth."""

import json
import math

import numpy as np
import pytest
from filterpy.kalman import KalmanFilter

from host.twin import filters
from host.twin.filters import DEFAULT_TUNING, GATED, INIT, STALE, UPDATE, InventoryFilter
from twinkit import cycle_fields, synthetic_cycles

I0_AH = 0.02
CE = 0.995


def state(f):
    """(x, P) of an initialised filter."""
    x, P = f.x, f.P
    assert x is not None and P is not None, "filter not initialised"
    return x, P


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
    assert np.array_equal(f.kf.F, [[1.0, -1.0], [0.0, 1.0]])
    assert np.array_equal(f.kf.H, np.eye(2))
    assert f.x is None and f.P is None and f.inventory_ah is None
    assert f.predict_eol_cycle(I0_AH) is None


def test_first_cycle_initialises_from_the_charge_and_discharge():
    f = InventoryFilter()
    assert f.update_cycle(cycle_fields(1, 0.0200, 0.0190, formation=True)) == INIT
    assert f.initial_ah == 0.0200
    assert f.inventory_ah == pytest.approx(0.0190)
    assert f.loss_ah_per_cycle == pytest.approx(0.0010)
    x, P = state(f)
    assert x.shape == (2, 1) and P.shape == (2, 2)
    assert f.inventory_std_ah == pytest.approx(DEFAULT_TUNING["sigma_discharge_rel"][0] * 0.02)


@pytest.mark.parametrize("seed", range(20))
def test_tracks_ce_to_the_n_within_2_percent_after_3_cycles_and_std_shrinks(seed):
    rng = np.random.default_rng(seed)
    fields, truth = synthetic_cycles(I0_AH, CE, 30, noise_rel=0.001, rng=rng)
    f, hist = run(fields)
    assert [h[0] for h in hist] == [INIT] + [UPDATE] * 29
    for k in range(2, 30):  # from the 3rd cycle on
        est, std = hist[k][1], hist[k][2]
        assert abs(est - truth[k]) / truth[k] < 0.02, (k, est, truth[k])
        assert abs(est - truth[k]) < 5 * std, "std is not honest at cycle %d" % (k + 1)
    assert hist[2][2] < hist[0][2]  # std after 3 cycles < after the first
    assert hist[29][2] < hist[0][2]
    # Loss rate: true loss of cycle 30 is (1 - CE) * I0 * CE^29.
    true_loss = (1 - CE) * I0_AH * CE**29
    assert f.loss_ah_per_cycle == pytest.approx(true_loss, rel=0.25)
    _, P = state(f)
    assert np.allclose(P, P.T) and np.all(np.linalg.eigvalsh(P) > 0)


def test_noise_free_estimate_has_only_a_small_model_lag():
    fields, truth = synthetic_cycles(I0_AH, CE, 60)
    f, hist = run(fields)
    assert hist[0][1] == pytest.approx(truth[0], rel=1e-12)
    for k in range(60):
        # Under CE^N the loss shrinks every cycle; the constant-rate model
        # lags that and settles at a bias of ~0.02 %, far inside its std.
        err = abs(hist[k][1] - truth[k])
        assert err / truth[k] < 5e-4, k
        assert err < 0.25 * hist[k][2], k


def test_eol_prediction_on_linear_loss_is_exact_and_ce_n_is_close():
    # Constant dead-Li loss 0.1 mAh per cycle: 80 % of 20 mAh after cycle 40.
    lin = [cycle_fields(k, I0_AH - (k - 1) * 1e-4, I0_AH - k * 1e-4) for k in range(1, 11)]
    f, _ = run(lin)
    assert f.predict_eol_cycle(I0_AH) == 40
    assert f.predict_eol_cycle(I0_AH, retention=0.9) == 20
    assert f.predict_eol_cycle() == 40  # defaults to the first charge
    # CE^N: N80 = ln 0.8 / ln 0.995 = 44.5; linear extrapolation lands a bit early.
    fields, _ = synthetic_cycles(I0_AH, CE, 10, noise_rel=0.001, rng=np.random.default_rng(1))
    f, _ = run(fields)
    n80 = math.log(0.8) / math.log(CE)
    eol = f.predict_eol_cycle(I0_AH)
    assert eol is not None and abs(eol - n80) / n80 < 0.15


def test_eol_none_when_loss_is_not_significant_and_last_cycle_when_past():
    flat = [cycle_fields(k, I0_AH, I0_AH) for k in range(1, 6)]
    f, _ = run(flat)
    assert f.loss_ah_per_cycle == pytest.approx(0.0, abs=1e-12)
    assert f.predict_eol_cycle(I0_AH) is None
    assert f.predict_eol_cycle(I0_AH, retention=1.5) is None
    assert f.predict_eol_cycle(0.0) is None
    f, _ = run([cycle_fields(k, I0_AH * 0.7, I0_AH * 0.7 - 1e-4) for k in range(1, 4)])
    assert f.predict_eol_cycle(I0_AH) == 3  # already below 80 %


def test_formation_loss_does_not_dominate_the_steady_loss():
    # 8 % lost to SEI on the formation cycle, then a steady CE of 99.9 %.
    fields = [cycle_fields(1, 0.0200, 0.0184, formation=True)]
    inv = 0.0184
    for k in range(2, 8):
        fields.append(cycle_fields(k, inv, inv * 0.999))
        inv *= 0.999
    f, _ = run(fields)
    assert f.inventory_ah == pytest.approx(inv, rel=0.002)
    assert f.loss_ah_per_cycle == pytest.approx(0.001 * inv, rel=0.5)


def test_partial_cycle_is_gated_and_a_persistent_change_restarts():
    fields, truth = synthetic_cycles(I0_AH, CE, 7)
    f, _ = run(fields[:5])
    x, _ = state(f)
    # A charge stopped half way: non-physical against the model.
    assert f.update_cycle(cycle_fields(6, 0.01, 0.0099)) == GATED
    assert np.array_equal(state(f)[0], x) and f.last_cycle == 5 and f.gated == 1
    assert f.update_cycle(cycle_fields(7, truth[5], truth[6])) == UPDATE  # predicts across 6
    assert f.inventory_ah == pytest.approx(truth[6], rel=1e-3)
    # The cell was swapped for a smaller one: gated twice, restarted on the third.
    assert f.update_cycle(cycle_fields(8, 0.010, 0.0099)) == GATED
    assert f.update_cycle(cycle_fields(9, 0.0099, 0.0098)) == GATED
    assert f.update_cycle(cycle_fields(10, 0.0098, 0.0097)) == INIT
    assert f.restarts == 1 and f.initial_ah == 0.0098
    assert f.inventory_ah == pytest.approx(0.0097)


def test_repeated_and_old_cycles_are_stale():
    fields, _ = synthetic_cycles(I0_AH, CE, 3)
    f, _ = run(fields)
    x, P = state(f)
    assert f.update_cycle(fields[2]) == STALE
    assert f.update_cycle(fields[0]) == STALE
    x2, P2 = state(f)
    assert np.array_equal(x2, x) and np.array_equal(P2, P) and f.updates == 3


def test_missing_cycles_are_predicted_across():
    fields, truth = synthetic_cycles(I0_AH, CE, 12)
    f, _ = run(fields[:4] + fields[9:])  # cycles 5..9 never arrived
    assert f.last_cycle == 12
    assert f.inventory_ah == pytest.approx(truth[11], rel=0.005)


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
    f.update_cycle(cycle_fields(1, 0.02, 0.0199))
    assert f.kf.R[1, 1] == pytest.approx((0.01 * 0.02) ** 2 + (0.002 * 0.02) ** 2)


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"sigma_chrge_rel": 0.01}, "sigma_chrge_rel"),
        ({"sigma_charge_rel": -0.01}, "sigma_charge_rel"),
        ({"q_loss_rel": float("nan")}, "q_loss_rel"),
        ({"gate_reinit_after": 1.5}, "gate_reinit_after"),
        ({"gate_chi2": "13"}, "gate_chi2"),
    ],
)
def test_bad_tuning_fails_at_construction_naming_the_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        InventoryFilter(overrides)
    with pytest.raises(ValueError, match="must be an object"):
        filters.tuning_from_json(json.dumps([1]))
