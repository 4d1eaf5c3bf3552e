"""Quirks of real cycler files that the replay must take with no preset:

- the cell's capacity and its voltage and current limits come from the data
  (the replay's ``from_data``), and come out right, and different, for three
  different cells;
- the current spike at the start of every CV step (CALCE CS2_35: 0.93-1.07 A
  after the rest that follows the 0.55 A CC step, on 856 of its cycles)
  neither splits a cycle nor loses its charge, and raises no alarm;
- the second BioLogic .mpr sample (navani's jdb11, its own column layout)
  reads through galvani with its own counters.

Data: tests/data/calce_cs2_35/ (ATTRIBUTION*.md) and tests/data/cyclers/
(README.md gives each file's source and licence).
"""

import functools
import json
import logging
import math
import statistics
from pathlib import Path

import pytest

from platewise.hil import twin_truth
from platewise.host import cyclers
from platewise.host.twin.cycles import cycles_from_samples
from platewise.host.twin.recording import Recording
from platewise.host.twin.replay import replay
from platewise.host.twin.service import Twin
from test_cyclers import DATA, SAMPLES, SHARED, run_with_galvani

CALCE = Path(__file__).resolve().parents[1] / "data" / "calce_cs2_35"
CALCE_CSV = CALCE / "calce_cs2_35.csv"
TRUTH = json.loads((CALCE / "calce_cs2_35.truth.json").read_text())
LIFE_ALARMS = {"EOL_NEAR", "EOL_REACHED", "FADE_ACCELERATING"}  # what a fading cell should raise, late in life


@functools.lru_cache(maxsize=None)
def replayed(path):
    """(replay output, the twin's stored alarm codes) of a file replayed with no preset."""
    logging.getLogger("platewise.twin").setLevel(logging.ERROR)
    twin = Twin()
    out = replay(path, twin)
    return out, sorted({a["code"] for a in twin.store.alarms("replay")})


# --- 1. capacity and limits from the data -----------------------------------------------


def counters_capacity_ah(path):
    """The cell's capacity by its cycler's own counters: the median discharge of its first 5 complete cycles."""
    if path == CALCE_CSV:
        return TRUTH["initial_discharge_capacity_ah"]  # the truth file's, defined the same way
    complete = next(s[2] for s in SAMPLES if s[0] == path.name)
    rec = cyclers.read(path)
    return statistics.median(rec.cycle_ah[c][1] for c in complete[:5])


# file, top and bottom voltage limits and the largest current (the 1C discharge of CALCE,
# 900 mA of maccor_three, 22.5 mA of the Neware coin cell), as
# shared/data/cycler-samples/README.md gives them
CELLS = [
    (CALCE_CSV, 4.20, 2.70, 1.10),
    (DATA / "maccor_three.txt", 3.80, 1.30, 0.90),
    (DATA / "nw4-120-6-1-36.ndax", 4.20, 2.75, 0.0225),
]


@pytest.mark.parametrize("path, v_top_v, v_bottom_v, current_max_a", CELLS, ids=[c[0].name for c in CELLS])
def test_capacity_and_limits_come_from_the_data(path, v_top_v, v_bottom_v, current_max_a):
    """Measured: CALCE 1.1372 Ah (counters 1.1375; rated 1.1, so +3.4 %), 4.2001 / 2.6998 V,
    1.1003 A; maccor_three 0.84157 Ah (counters the same), 3.8018 / 1.3001 V, 0.8974 A;
    Neware 37.98 mAh (counters the same; rated 45 mAh, the cell shows 38), 4.2005 / 2.7498 V,
    22.50 mA."""
    got = replayed(path)[0]["from_data"]
    # the capacity the cell shows (not its label's): 0.5 % is under one cycle's fade on maccor_three
    assert got["capacity_ah"] == pytest.approx(counters_capacity_ah(path), rel=0.005)
    # the limits: within 10 mV, under the 25 mV step of the thinned CALCE rows and LIMIT_TOL_V
    assert got["v_top_v"] == pytest.approx(v_top_v, abs=0.01)
    assert got["v_bottom_v"] == pytest.approx(v_bottom_v, abs=0.01)
    assert got["current_max_a"] == pytest.approx(current_max_a, rel=0.01)
    if path == CALCE_CSV:
        assert got["capacity_ah"] == pytest.approx(1.1, rel=0.05)  # rated 1.1 Ah: a new cell shows a few % more


def test_each_cell_gets_its_own_capacity_and_limits():
    found = {path.name: replayed(path)[0]["from_data"] for path, *_ in CELLS}
    names = sorted(found)
    for j, a in enumerate(names):
        for b in names[j + 1 :]:
            x, y = found[a], found[b]
            assert abs(x["capacity_ah"] / y["capacity_ah"] - 1.0) > 0.1, (a, b)
            assert max(abs(x["v_top_v"] - y["v_top_v"]), abs(x["v_bottom_v"] - y["v_bottom_v"])) > 0.04, (a, b)


def test_a_file_opening_with_a_partial_cycle_replays_with_no_estimate_for_it():
    """The Neware file's first charge tops up a nearly full cell (4.7 of 38 mAh), an outlier
    the twin is not fed; before any cycle is fed the twin knows no such cell, and the replay
    raised KeyError instead of reporting null estimates (the CALCE workbook did the same)."""
    out, _ = replayed(DATA / "nw4-120-6-1-36.ndax")
    first, second = out["cycles"][:2]
    assert first["cycle"] == 1 and not first["fed"] and first["charge_ah"] < 0.2 * first["discharge_ah"]
    assert first["inventory_ah"] is None and first["eol_cycle_pred"] is None and first["short_risk"] == 0.0 and first["alarms"] == []
    assert second["fed"] and second["inventory_ah"] == pytest.approx(0.038, rel=0.02)


# --- 2. the current spike at the start of CV ----------------------------------------------


def test_cv_start_spike_on_the_real_cell_splits_no_cycle_and_loses_no_charge():
    """CALCE CS2_35 replayed without its cycle_index, so that the cycles come from the
    current alone, as for a file without a cycle counter. Measured: 882 cycles either way;
    856 spikes of 0.929-1.074 A, each in one cycle with its CC step and its discharge; charge
    within 0.51 % of the cycler's counter on every complete cycle with a spike (median 0.20 %);
    the first alarm is EOL_NEAR at cycle 481 (the true 80 % cycle is 545)."""
    rec = cyclers.read(CALCE_CSV)
    i_a, index = rec.cols["current_a"], rec.cols["cycle_index"]
    bare = {k: v for k, v in rec.cols.items() if k != "cycle_index"}
    segments = cycles_from_samples(cyclers.columns_for_replay(Recording(bare, None, {})))
    assert len(segments) == len(cycles_from_samples(cyclers.columns_for_replay(rec))) == 882
    row_segment = [-1] * len(i_a)  # -1: a row of no cycle (a rest-only stretch or a lone half cycle)
    for n, c in enumerate(segments):
        start, stop = c["_rows"]
        row_segment[start:stop] = [n] * (stop - start)
    rest_a = 0.05 * max(abs(x) for x in i_a)
    spikes = [k for k in range(1, len(i_a)) if i_a[k] > 0.8 and abs(i_a[k - 1]) < rest_a]
    assert len(spikes) > 850 and 0.9 < min(i_a[k] for k in spikes) and max(i_a[k] for k in spikes) < 1.1
    errs = []
    for k in spikes:
        if not TRUTH["complete_cycle"][index[k]]:
            continue
        cc = max(j for j in range(k) if 0.5 < i_a[j] < 0.6)  # the CC step's last row, before the rest
        dis = next(j for j in range(k, len(i_a)) if i_a[j] < -0.5)  # the discharge's first row
        assert row_segment[k] >= 0 and row_segment[cc] == row_segment[k] == row_segment[dis], (index[k], row_segment[cc], row_segment[k], row_segment[dis])
        c = segments[row_segment[k]]
        start, stop = c["_rows"]
        # the cycler's charge counter over the cycles whose charging rows this one holds
        # (a session ending mid-charge continues its charge in the next session's first cycle)
        held = {index[j] for j in range(start, stop) if i_a[j] > rest_a}
        counter_ah = sum(TRUTH["charge_capacity_ah"][cyc] for cyc in held)
        errs.append(abs(c["charge_ah"] / counter_ah - 1.0))
    assert len(errs) > 820 and max(errs) < 0.01 and statistics.median(errs) < 0.005, (len(errs), max(errs), statistics.median(errs))
    logging.getLogger("platewise.twin").setLevel(logging.ERROR)
    cycles = replay(Recording(bare, None, {"files": [str(CALCE_CSV)]}), Twin())["cycles"]
    assert len(cycles) == 882 and not any(c["alarms"] for c in cycles if c["cycle"] < 0.8 * TRUTH["first_cycle_below_80pct_of_initial"])
    assert {a for c in cycles for a in c["alarms"]} <= LIFE_ALARMS


CC_A, CUTOFF_A, CV_V = 0.55, 0.05, 4.2


def cv_current_a(t_s, spike):
    """CALCE CS2_35's CV step: ~1 A at its start, 0.5 A after ~100 s, C/20 after ~36 min;
    without the spike the hold starts at the CC current."""
    i_a = 0.45 * math.exp(-t_s / 30.0) + 0.55 * math.exp(-t_s / 900.0)
    return i_a if spike else min(i_a, CC_A)


def spiky_cell_rows(discharge_a, spike, n_cycles=8):
    """Rows of our replay CSV for a 1.1 Ah cell cycled as CALCE CS2_35 is, logged as its file is:
    rest; CC 0.55 A to 4.2 V (a row every 150 s); rest; CV at 4.2 V, whose first row comes at the
    rest's last row's time and then a row per 50 mA of fall, to C/20; rest; CC discharge (a row
    every 90 s, the last at its end); rest. Returns (rows, [(charge_ah, discharge_ah)] as a
    cycler counting at 10 Hz reads them)."""
    rows, counters, t_s = [], [], 0.0

    def row(dt_s, v, i_a):
        nonlocal t_s
        t_s += dt_s
        rows.append((t_s, v, i_a, 25.0, 0.0, 0))

    for _ in range(n_cycles):
        for _ in range(3):
            row(30.0, 3.55, 0.0)
        for k in range(40):
            row(150.0, 3.6 + 0.6 * (k + 1) / 40, CC_A)
        charge_ah = CC_A * 40 * 150.0 / 3600.0
        for _ in range(3):
            row(30.0, 4.12, 0.0)
        row(0.0, CV_V, cv_current_a(0.0, spike))
        last_s, last_a, cv_s = 0.0, cv_current_a(0.0, spike), 0.0
        while True:
            cv_s += 1.0
            i_a = cv_current_a(cv_s, spike)
            if last_a - i_a >= 0.05 or i_a <= CUTOFF_A:
                row(cv_s - last_s, CV_V, i_a)
                last_s, last_a = cv_s, i_a
            if i_a <= CUTOFF_A:
                break
        cv_ah = {s: sum(cv_current_a(0.1 * (k + 0.5), s) for k in range(int(cv_s * 10))) * 0.1 / 3600.0 for s in (True, False)}
        charge_ah += cv_ah[spike]
        for _ in range(2):
            row(30.0, 4.19, 0.0)
        # the same discharge with or without the spike: 99.9 % of the spike-free charge
        discharge_ah = 0.999 * (charge_ah - cv_ah[spike] + cv_ah[False])
        discharge_s = discharge_ah * 3600.0 / discharge_a
        n_dis = math.ceil(discharge_s / 90.0)
        for k in range(n_dis):
            row(min(90.0, discharge_s - 90.0 * k), 4.0 - 1.3 * (k + 1) / n_dis, -discharge_a)
        for _ in range(3):
            row(30.0, 3.0, 0.0)
        counters.append((charge_ah, discharge_ah))
    return rows, counters


@pytest.mark.parametrize("discharge_a", [1.1, 0.5], ids=["1C-discharge", "spike-is-the-largest-current"])
def test_cv_start_spike_alone_splits_no_cycle_and_raises_no_alarm(tmp_path, discharge_a):
    """The same synthetic cell with and without the spike, no cycle_index: the spike changes
    nothing but the charge, by its own Ah. With a 0.5 A discharge the 1 A spike is the file's
    largest current, so the rest and counting thresholds scale from it. Measured, both ways:
    8 cycles, each fed and learnt (init 1, update 7), no alarm; charge within 0.094 % of the
    counter (0.008 % without the spike). The spike's 2.98 mAh is counted as 2.09 mAh (70 %):
    its rows, a second or two apart, are read as the current since the previous row, which
    under-reads a current falling 50 mA a row; 0.09 % of the cycle's charge."""
    runs = {}
    for spike in (True, False):
        rows, counters = spiky_cell_rows(discharge_a, spike)
        path = tmp_path / ("spike.csv" if spike else "no_spike.csv")
        twin_truth.write_csv(path, rows, with_cycle_index=False, with_pressure=False)
        twin = Twin()
        out = replay(path, twin)
        runs[spike] = (out["cycles"], counters)
        cycles = out["cycles"]
        assert len(cycles) == len(counters) == 8
        assert all(c["fed"] and not c["partial"] and not c["data_quality"] and not c["alarms"] for c in cycles)
        assert twin.store.alarms("replay") == [] and twin.cell("replay")["filter_outcomes"] == {"init": 1, "update": 7}
        assert out["from_data"]["current_max_a"] == max(discharge_a, 1.0 if spike else CC_A)
        for c, (charge_ah, discharge_ah) in zip(cycles, counters):
            assert c["charge_ah"] == pytest.approx(charge_ah, rel=0.01)
            assert c["discharge_ah"] == pytest.approx(discharge_ah, rel=1e-9)
    (with_spike, counters), (without, counters_without) = runs[True], runs[False]
    for a, b, (qa, _), (qb, _) in zip(with_spike, without, counters, counters_without):
        assert a["discharge_ah"] == b["discharge_ah"]
        spike_ah = qa - qb
        assert 0.002 < spike_ah < 0.004  # the spike's own charge: a quarter of a percent of the cycle's
        assert 0.5 * spike_ah < a["charge_ah"] - b["charge_ah"] < 1.05 * spike_ah  # counted, not lost nor doubled


# --- 3. the second BioLogic .mpr -----------------------------------------------------------

JDB11 = "jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr"
JDB11_CUT = DATA / "jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09_first16152points.mpr"


def test_second_biologic_mpr_reads_with_its_own_capacity_within_1pct(tmp_path):
    """navani's jdb11 .mpr (EC-Lab 2020, 2.0-3.8 V at C/24): data module version 3 like the
    LMNO file, but its own record layout (a P/W column: 11 columns, 53-byte records) and a
    first discharge before its first charge. tests/data holds its first 16152 points (the
    first discharge and 2 complete cycles); the whole file (6 complete cycles, 2.5 MB) is
    read from shared/data beside the checkout. Measured: every complete cycle's integrated
    discharge within 0.026 % of the file's counter (0.853-0.880 mAh)."""
    full = SHARED / "biologic" / JDB11
    assert full.is_file(), f"{full} not found: the cycler samples sit beside the checkout"
    code = f"""
from galvani import BioLogic
def per_cycle(rec):
    d, v, idx = discharge_ah_by_cycle(rec), rec.cols["voltage_v"], rec.cols["cycle_index"]
    return {{c: [d.get(c, 0.0), qc, qd, max(x for x, k in zip(v, idx) if k == c), min(x for x, k in zip(v, idx) if k == c)]
            for c, (qc, qd) in rec.cycle_ah.items()}}
cut, full = cyclers.read({str(JDB11_CUT)!r}), cyclers.read({str(full)!r})
n = len(cut.cols["time_s"])
mpr = BioLogic.MPRfile({str(JDB11_CUT)!r})
print(json.dumps({{
    "format": cut.meta["format"], "start": cut.meta["start"], "rows": n,
    "version": mpr.version, "columns": list(mpr.dtype.names), "record_bytes": mpr.dtype.itemsize,
    "first_rows_of_the_whole": all(list(cut.cols[k]) == list(full.cols[k])[:n] for k in full.cols),
    "cut": per_cycle(cut), "full": per_cycle(full),
}}))
"""
    got = run_with_galvani(tmp_path, code)
    assert got["format"] == "biologic-mpr" and got["start"].startswith("2020-10-26T12:49:58")
    assert got["version"] == 3 and "P/W" in got["columns"] and got["record_bytes"] == 53
    assert got["rows"] == 16152 and got["first_rows_of_the_whole"]
    for part, n_complete in (("cut", 2), ("full", 6)):
        cycles = got[part]
        # complete: charged to the 3.8 V limit and discharged to 2.0 V (cycle 0 is the first discharge alone)
        complete = sorted(int(c) for c, (_, qc, _, hi, lo) in cycles.items() if qc > 0 and hi > 3.79 and lo < 2.01)
        assert complete == list(range(1, n_complete + 1)), (part, complete)
        for c in complete:
            integrated, charge_ah, discharge_ah, _, _ = cycles[str(c)]
            assert integrated == pytest.approx(discharge_ah, rel=0.01), (part, c)
            assert 0.8 < discharge_ah / charge_ah < 1.0  # CE of a cell at C/24, not a decoding mix-up
    assert got["cut"]["1"][2] == pytest.approx(8.5285e-4, rel=1e-4)  # its counter: 0.85285 mAh
    assert {c: v[1:3] for c, v in got["cut"].items()} == {c: got["full"][c][1:3] for c in got["cut"]}
