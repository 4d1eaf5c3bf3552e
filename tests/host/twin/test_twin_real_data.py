"""Issue 12 secs. 2 and 3 on a real cell: cycle accounting and alarms on
CALCE CS2_35 (tests/data/calce_cs2_35/, see ATTRIBUTION-csv.md): 886 cycles
of a healthy LiCoO2/graphite cell on an Arbin cycler, 24 sessions with gaps
of hours to days, sparse CV logging, partial session-end cycles, +/-10 %
counter outliers. The truth is the cycler's own per-cycle counters.

Before this accounting, the replay counted the charge 3.5 % low (CE read
1.04), raised SHORT_LIKELY on 880 of 882 cycles and predicted EOL on 6.
"""

import functools
import json
import math
import logging
from pathlib import Path

import pytest

from platewise.hil import twin_truth
from platewise.host.twin.alarms import ShortDetector
from platewise.host.twin.cycles import cycles_from_samples, gap_limit_s
from platewise.host.twin.recording import Recording
from platewise.host.twin.replay import replay
from platewise.host.twin.service import Twin

DATA = Path(__file__).resolve().parents[2] / "data" / "calce_cs2_35"
CSV, TRUTH = DATA / "calce_cs2_35.csv", DATA / "calce_cs2_35.truth.json"
SHORT_CODES = ("SHORT_SUSPECTED", "SHORT_LIKELY")


@functools.lru_cache(maxsize=None)
def calce():
    logging.getLogger("platewise.twin").setLevel(logging.ERROR)
    twin = Twin()
    out = replay(CSV, twin)
    return twin, out["cycles"], json.loads(TRUTH.read_text())


def test_no_short_alarm_on_any_cycle_of_a_healthy_real_cell():
    twin, cycles, _ = calce()
    assert len(cycles) >= 880
    assert not [c["cycle"] for c in cycles if any(a in SHORT_CODES for a in c["alarms"])]
    assert max(c["short_risk"] for c in cycles) < 0.2
    assert not [a for a in twin.store.alarms("replay") if a["code"] in SHORT_CODES]


def test_discharge_and_charge_ah_match_the_cyclers_counters():
    _, cycles, truth = calce()
    complete = [c for c in cycles if truth["complete_cycle"][c["cycle"]] and not c["partial"]]
    assert len(complete) >= 870
    errs = sorted(abs(c["discharge_ah"] / truth["discharge_capacity_ah"][c["cycle"]] - 1.0) for c in complete)
    assert errs[len(errs) // 2] < 0.01 and errs[int(0.95 * len(errs))] < 0.03, (errs[len(errs) // 2], errs[int(0.95 * len(errs))])
    # the charge too: it was 3.5 % low (a CV tail read as current offset), so CE read 1.04
    errs = sorted(abs(c["charge_ah"] / truth["charge_capacity_ah"][c["cycle"]] - 1.0) for c in complete)
    assert errs[len(errs) // 2] < 0.01 and errs[int(0.95 * len(errs))] < 0.03
    ces = sorted(c["ce"] for c in complete)
    assert 0.995 < ces[len(ces) // 2] < 1.005  # the cycler: 0.9996; before: 1.04


def test_partial_cycles_and_outliers_are_marked_reported_and_not_fed():
    twin, cycles, truth = calce()
    by = {c["cycle"]: c for c in cycles}
    # session-end cycles the cycler itself calls incomplete (e.g. 104: discharge stopped at 3.46 V)
    assert by[104]["partial"] and not by[104]["fed"]
    assert all(not c["fed"] for c in cycles if c["partial"])
    # a -10 % single-cycle jump in the counts (cycle 58: 0.971 Ah among 1.08-1.09 Ah)
    assert not by[58]["fed"] and any(f["reason"].startswith("outlier: discharge") for f in by[58]["data_quality"])
    # rest recovery is real capacity: cycle 53 starts a session and reads 4.6 % above the last one
    # (its CE above 100 % may be flagged as a count, it is not gated)
    assert by[53]["after_gap"] and by[53]["fed"]
    assert all(f["reason"].startswith("ce above 100 %") for f in by[53]["data_quality"])
    assert by[53]["discharge_ah"] > 1.04 * by[52]["discharge_ah"]
    # re-admission: the cycles after an outlier are fed again
    assert by[59]["fed"] and by[60]["fed"]
    fed = sum(c["fed"] for c in cycles)
    outcomes = twin.cell("replay")["filter_outcomes"]
    assert sum(outcomes.values()) == fed
    assert 0.9 * len(cycles) < fed < len(cycles)


def test_data_quality_flags_name_cycle_and_reason_and_are_never_cell_faults():
    twin, cycles, _ = calce()
    flags = [f for c in cycles for f in c["data_quality"]]
    assert len(flags) >= 20
    assert all(isinstance(f["cycle"], int) and f["reason"].split(":")[0] in ("partial", "outlier", "carry-over", "ce above 100 %") for f in flags)
    assert all(f["cycle"] == c["cycle"] for c in cycles for f in c["data_quality"])
    assert not any("DATA_QUALITY" in c["alarms"] for c in cycles)
    # CE above 100 % on a fed cycle: stored as an info flag with its reason, not raised
    stored = [a for a in twin.store.alarms("replay") if a["code"] == "DATA_QUALITY"]
    assert stored and all(a["severity"] == "info" and a["action"] == "flag" and json.loads(a["evidence"])["reason"].startswith("ce above 100 %") for a in stored)


def test_ce_above_100_is_a_data_quality_flag_not_short_risk():
    det = ShortDetector()
    base = {"t_s": 0.0, "charge_ah": 1.0, "p_min_mpa": 0.0, "formation": False}
    for cycle in range(2, 8):
        det.update({**base, "cycle": cycle, "discharge_ah": 0.999, "ce": 0.999}, 0.0, alarmed=False)
    risk, ev = det.update({**base, "cycle": 8, "discharge_ah": 1.03, "ce": 1.03}, 0.0, alarmed=False)
    assert risk < 0.05 and ev["ce_above_100_z"] > 20
    assert len(det.data_quality) == 1 and det.data_quality[0].startswith("ce above 100 %")
    risk, _ = det.update({**base, "cycle": 9, "discharge_ah": 0.999, "ce": 0.999}, 0.0, alarmed=False)
    assert risk < 0.05 and det.data_quality == []


def _samples(blocks):
    """Rows from [(duration_s, step_s, current_a, voltage_v)], current held within a block."""
    t, cols = 0.0, {"time_s": [], "voltage_v": [], "current_a": [], "temperature_c": []}
    for duration_s, step_s, i_a, v in blocks:
        n = max(int(round(duration_s / step_s)), 1)
        for _ in range(n):
            t += step_s
            cols["time_s"].append(t)
            cols["voltage_v"].append(v(t) if callable(v) else v)
            cols["current_a"].append(i_a(t) if callable(i_a) else i_a)
            cols["temperature_c"].append(25.0)
    return cols


def test_no_current_is_counted_across_a_gap_and_a_sparse_cv_tail_is_trapezoidal():
    # rest; CC 1 h at 1 A (a row a minute); a CV tail logged every 10 min, falling
    # linearly 1.0 -> 0.5 -> 0.1 A; 2 days unlogged (the discharge's first row
    # comes after the gap, at -1 A); the discharge 1 h at -1 A; rest
    t, i = [60.0 * k for k in range(11)], [0.0] * 11
    t += [t[-1] + 60.0 * k for k in range(1, 61)]
    i += [1.0] * 60
    cv = [0.5 - 0.4 * j / 5 for j in range(6)]
    t += [t[-1] + 600.0 * k for k in range(1, 7)]
    i += cv
    t += [t[-1] + 2 * 86400.0]
    i += [-1.0]
    t += [t[-1] + 60.0 * k for k in range(1, 61)]
    i += [-1.0] * 60
    t += [t[-1] + 60.0 * k for k in range(1, 11)]
    i += [0.0] * 10
    v = [4.2 if x > 0 else (3.0 if x < 0 else 3.6) for x in i]
    cols = {"time_s": t, "voltage_v": v, "current_a": i, "temperature_c": [25.0] * len(t)}
    assert gap_limit_s(t) == 1800.0
    (c,) = cycles_from_samples(cols)
    # trapezoid: CC 1.0 Ah, then 1.0 -> 0.5 A over 10 min, then the tail (0.5 + 0.1) / 2 over 50 min;
    # the later row's current alone would read 1.30 Ah, the earlier row's 1.45
    assert abs(c["charge_ah"] - (1.0 + 0.75 / 6 + 0.3 * 5 / 6)) < 1e-9, c["charge_ah"]
    # the 2-day gap counts nothing (else 48 Ah); the discharge is its 60 rows
    assert abs(c["discharge_ah"] - 1.0) < 1e-9, c["discharge_ah"]
    assert not c["_flags"]


def test_emulated_soft_shorts_are_still_caught_through_the_csv_replay(tmp_path):
    logging.getLogger("platewise.twin").setLevel(logging.ERROR)
    for preset, onset, resistance_ohm in (("lfp-liquid", 8, 20000.0), ("nmc811-liquid", 12, 50000.0), ("sulfide-ssb", 6, 5000.0)):
        run = twin_truth.life(preset, seed=0, inject=[(onset, "internal_short", {"resistance_ohm": resistance_ohm})], samples=True)
        path = tmp_path / (preset + ".csv")
        twin_truth.write_csv(path, run["rows"])
        cycles = replay(path, Twin())["cycles"]
        first = next(c["cycle"] for c in cycles if "SHORT_SUSPECTED" in c["alarms"])
        assert onset <= first <= onset + 1, (preset, first)
        assert all(c["short_risk"] < 0.2 for c in cycles if c["cycle"] < onset)
        assert all(c["fed"] and not c["partial"] for c in cycles)


def test_replay_takes_a_recording_and_uses_the_cyclers_counters():
    cols = {"time_s": [], "voltage_v": [], "current_a": [], "cycle_index": []}
    t = 0.0
    for k in range(12):
        for i_a, v, n in ((0.0, 3.5, 5), (1.0, 4.0, 60), (0.0, 4.1, 5), (-1.0, 3.4, 58), (0.0, 3.0, 5)):
            for _ in range(n):
                t += 60.0
                cols["time_s"].append(t)
                cols["voltage_v"].append(v + (0.2 if i_a > 0 and _ == n - 1 else 0.0) - (0.4 if i_a < 0 and _ == n - 1 else 0.0))
                cols["current_a"].append(i_a)
                cols["cycle_index"].append(k + 1)
    counters = {k + 1: (1.0 - 0.001 * k, 0.98 - 0.001 * k) for k in range(12)}
    cycles = replay(Recording(cols, counters, {"files": ["a.res"]}), Twin())["cycles"]
    assert [c["cycle"] for c in cycles] == list(range(1, 13))
    assert all(abs(c["discharge_ah"] - counters[c["cycle"]][1]) < 1e-12 for c in cycles)
    assert all(c["fed"] for c in cycles)


def test_calibrate_refuses_a_cell_with_cycles_and_a_bad_field():
    twin, _, _ = calce()
    with pytest.raises(ValueError, match="already has"):
        twin.calibrate("replay", {"sigma_charge_rel": 0.01})
    with pytest.raises(ValueError, match="unknown"):
        Twin().calibrate("new", {"no_such_field": 1.0})


def test_eol_through_the_replay_admits_the_knee_and_covers_the_true_80_percent_cycle():
    """Issue 12's EOL acceptance end to end (readers' CSV -> accounting -> filter -> knee):
    a prediction from 25 % of life on; the 90 % interval covers the true 80 %
    cycle at 25/50/75 % of life at least twice; at 75 % within 20 %. It holds
    because the cell's initial inventory, the EOL reference, survives the
    filter's gated-streak restarts (before, each restart moved it and the
    prediction at 75 % of life was +47 % late)."""
    twin, cycles, truth = calce()
    eol = truth["first_cycle_below_80pct_of_initial"]
    by_cycle = {c["cycle"]: c for c in cycles}
    life = [c for c in cycles if 0.25 * eol <= c["cycle"] <= eol]
    assert len(life) > 300 and all(c["eol_cycle_pred"] is not None for c in life)
    covered = 0
    for frac in (0.25, 0.5, 0.75):
        c = by_cycle[min(by_cycle, key=lambda n: abs(n - frac * eol))]
        lo, hi = c["eol_cycle_lo"], c["eol_cycle_hi"]
        covered += lo <= eol and (hi is None or eol <= hi)
    assert covered >= 2
    c75 = by_cycle[min(by_cycle, key=lambda n: abs(n - 0.75 * eol))]
    assert abs(c75["eol_cycle_pred"] - eol) <= 0.2 * eol, c75
    # The reference stays the cell's first: EOL_REACHED comes near the true 80 % cycle, not hundreds later.
    reached = [c["cycle"] for c in cycles if "EOL_REACHED" in c["alarms"]]
    assert reached and abs(reached[0] - eol) <= 0.05 * eol, reached[:1]
    assert any("FADE_ACCELERATING" in c["alarms"] for c in cycles if c["cycle"] <= eol + 50)
    knee = [c["knee_cycle"] for c in cycles if c["knee_detected"]]
    assert knee and 0.5 * eol < knee[0] < eol + 50, knee[:1]  # after the early fade, near where it bends


def test_eol_interval_is_bounded_and_narrows_once_the_early_fade_is_over():
    """Model-form uncertainty (host/twin/eol.py): the interval is the union of
    the forms the data do not reject, so it covers the true 80 % cycle at 25,
    50, 75 and 90 % of life, and from 75 % of life on it is bounded above (the
    straight line after the early fade: a knee only makes the end earlier).
    Measured (true 545): 240 [209, 775], 388 [341, 2589], 567 [473, 758],
    530 [490, 854]; before, the upper bound was open from ~50 % of life on
    (the fade curve's, whose rates random-walk over the whole horizon)."""
    _, cycles, truth = calce()
    eol = truth["first_cycle_below_80pct_of_initial"]
    by_cycle = {c["cycle"]: c for c in cycles}
    at = {frac: by_cycle[min(by_cycle, key=lambda n: abs(n - frac * eol))] for frac in (0.25, 0.5, 0.75, 0.9)}
    for frac, c in at.items():
        assert c["eol_cycle_lo"] <= eol <= (c["eol_cycle_hi"] or math.inf), (frac, c["eol_cycle_lo"], c["eol_cycle_hi"])
        assert c["eol_cycle_lo"] <= c["eol_cycle_pred"] <= (c["eol_cycle_hi"] or math.inf)
    width = {frac: c["eol_cycle_hi"] - c["eol_cycle_lo"] for frac, c in at.items() if c["eol_cycle_hi"] is not None}
    assert 0.75 in width and 0.9 in width
    assert width[0.75] < 0.6 * width[0.25] and width[0.9] < 0.75 * width[0.25], width
    # from 50 to 75 % of life every fed cycle's interval is bounded and covers the truth
    # (measured 133 of 133; before, 92 of 133 were bounded)
    mid = [c for c in cycles if 0.5 * eol <= c["cycle"] < 0.75 * eol and c["fed"]]
    assert len(mid) > 100 and all(c["eol_cycle_hi"] is not None and c["eol_cycle_lo"] <= eol <= c["eol_cycle_hi"] for c in mid)
