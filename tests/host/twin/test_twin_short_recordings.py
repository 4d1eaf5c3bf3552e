"""Short recordings through the replay: no short alarm on a healthy cell, a
short still raised (host/twin/replay.py calibrate, cycles.counting_scatter,
alarms.ShortDetector).

A lab replays one workbook or one cycler file, 1-50 cycles. Judged at the
emulator's counting noise, the CALCE CS2_35 workbook (50 cycles of a healthy
1.1 Ah LiCoO2 cell on an Arbin) raised SHORT_LIKELY at cycle 5 and the IFE
Arbin .res half cell at cycle 3. A short record now gets its own robust
scatter and its short evidence must last two cycles (a leak drains every
cycle, cell-physics sec. 6); the loss innovation counts once the filter has
learnt the cell's own losses. Data: tests/data/cyclers/ (README.md gives
each file's source and licence).
"""

import functools
import importlib.util
import json
import logging
from pathlib import Path

import pytest

from platewise.hil import twin_truth
from platewise.host import cyclers
from platewise.host.twin import replay as replay_mod
from platewise.host.twin.alarms import DETECTOR_TUNING
from platewise.host.twin.cycles import counting_scatter, cycles_from_samples
from platewise.host.twin.recording import Recording, ReplayError
from platewise.host.twin.replay import replay
from platewise.host.twin.service import Twin

HOST_TESTS = Path(__file__).resolve().parents[1]
DATA = HOST_TESTS.parent / "data" / "cyclers"
SHORT_CODES = ("SHORT_SUSPECTED", "SHORT_LIKELY")
WORKBOOK = DATA / "CS2_35_9_21_10.xlsx"
RES = DATA / "20160805_test001_45_cc_01.res"
CALCE_CSV = HOST_TESTS.parent / "data" / "calce_cs2_35" / "calce_cs2_35.csv"

# file, format, cycles reported, cycles fed (the rest are partial or outliers)
SAMPLES = [
    ("CS2_35_9_21_10.xlsx", "arbin-xlsx", 50, 47),
    ("20160805_test001_45_cc_01.res", "arbin-res", 17, 17),
    ("maccor_three.txt", "maccor-txt", 15, 15),
    ("xTESLADIAG_000019_CH70_first2400lines.070", "maccor-txt", 6, 6),
    ("nw4-120-6-1-36.ndax", "neware-ndax", 5, 4),
    ("test.nda", "neware-nda", 1, 1),
    ("pec_every5th.csv", "pec-csv", 1, 1),
    ("250116_kigr_gen6_01_02_GCPL_CD8_as_mpt.mpt", "biologic-mpt", 3, 3),
]
# BioLogic .mpr: read through galvani (GPL-3, never a dependency; see test_cyclers.run_with_galvani)
MPR_SAMPLES = [
    ("250116_kigr_gen6_01_02_GCPL_CD8.mpr", "biologic-mpr", 3, 3),
    ("jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09_first16152points.mpr", "biologic-mpr", 2, 2),
]
# samples that do not replay, and why
NOT_REPLAYED = {"test_Nova_Form-CH01-01_short.csv": "no complete cycle"}  # a first formation charge only


def quiet():
    logging.getLogger("platewise.twin").setLevel(logging.ERROR)


def short_alarms(twin, cycles):
    """(cycles with a short alarm active, short alarm rows in the store)."""
    on = [c["cycle"] for c in cycles if any(a in SHORT_CODES for a in c["alarms"])]
    stored = [a for a in twin.store.alarms("replay") if a["code"] in SHORT_CODES]
    return on, stored


def first_cycle_with(cycles, code):
    return next((c["cycle"] for c in cycles if code in c["alarms"]), None)


# --- 1. every short real sample: no short alarm ---------------------------------------------


def test_every_sample_file_is_replayed_here_or_named_with_why_not():
    files = {p.name for p in DATA.iterdir() if p.is_file() and p.name != "README.md"}
    listed = {s[0] for s in SAMPLES + MPR_SAMPLES} | set(NOT_REPLAYED)
    assert files == listed
    for name, why in NOT_REPLAYED.items():
        with pytest.raises(ReplayError, match=why):
            replay(DATA / name, Twin())


@pytest.mark.parametrize("name, fmt, n_cycles, n_fed", SAMPLES, ids=[s[0] for s in SAMPLES])
def test_short_real_sample_raises_no_short_alarm_on_any_cycle(name, fmt, n_cycles, n_fed):
    quiet()
    twin = Twin()
    out = replay(DATA / name, twin)
    cycles = out["cycles"]
    assert out["format"] == fmt
    assert len(cycles) == n_cycles and sum(c["fed"] for c in cycles) == n_fed
    on, stored = short_alarms(twin, cycles)
    assert len(on) == 0 and len(stored) == 0
    assert max(c["short_risk"] or 0.0 for c in cycles) < 0.2  # under SHORT_SUSPECTED's release
    # a record this short cannot show its counts' tail: its evidence must last two cycles
    assert out["from_data"]["counting"]["detector"]["confirm_cycles"] == 2


def test_the_biologic_mpr_samples_raise_no_short_alarm(tmp_path):
    spec = importlib.util.spec_from_file_location("test_cyclers_for_galvani", HOST_TESTS / "test_cyclers.py")
    helpers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helpers)
    names = [s[0] for s in MPR_SAMPLES]
    got = helpers.run_with_galvani(
        tmp_path,
        "import logging\n"
        "from platewise.host.twin.replay import replay\n"
        "from platewise.host.twin.service import Twin\n"
        "logging.getLogger('platewise.twin').setLevel(logging.ERROR)\n"
        "got = {}\n"
        f"for name in {names!r}:\n"
        "    twin = Twin()\n"
        f"    out = replay({str(DATA)!r} + '/' + name, twin)\n"
        "    cs = out['cycles']\n"
        "    got[name] = [out['format'], len(cs), sum(c['fed'] for c in cs),\n"
        "                 sum(1 for c in cs if any(a.startswith('SHORT') for a in c['alarms'])),\n"
        "                 sum(1 for a in twin.store.alarms('replay') if a['code'].startswith('SHORT')),\n"
        "                 max(c['short_risk'] or 0.0 for c in cs)]\n"
        "print(json.dumps(got))",
    )
    for name, fmt, n_cycles, n_fed in MPR_SAMPLES:
        got_fmt, cycles, fed, on, stored, worst = got[name]
        assert (got_fmt, cycles, fed) == (fmt, n_cycles, n_fed), name
        assert on == 0 and stored == 0 and worst < 0.2, name


@functools.lru_cache(maxsize=None)
def calce_by_cycle():
    """The long CALCE CS2_35 record (886 cycles, the workbook's cell) as {cycle_index: [sample rows]}."""
    cols = cyclers.read(CALCE_CSV).cols
    names = list(cols)
    by = {}
    for row in zip(*(cols[n] for n in names)):
        by.setdefault(row[names.index("cycle_index")], []).append(row)
    return names, by


@pytest.mark.parametrize("cut_cycles, n_cuts", [(30, 29), (50, 17)])
def test_short_cuts_of_the_long_real_record_raise_no_short_alarm(cut_cycles, n_cuts):
    """The healthy cell of the 886-cycle record cut into recordings of
    ``cut_cycles`` each, numbered from 1 as a lab's workbook is: a check on
    more than the one workbook. Measured: none raises a short alarm (worst
    risk 0.19 and 0.14); judged at the emulator's counting noise, 18 of the 29
    and 12 of the 17 did."""
    quiet()
    names, by = calce_by_cycle()
    k = names.index("cycle_index")
    order = sorted(by)
    alarmed, cuts = [], 0
    for start in range(0, len(order) - cut_cycles + 1, cut_cycles):
        rows = [r[:k] + (j + 1,) + r[k + 1 :] for j, c in enumerate(order[start : start + cut_cycles]) for r in by[c]]
        cols = {n: [r[i] for r in rows] for i, n in enumerate(names)}
        twin = Twin()
        cycles = replay(Recording(cols, None, {"files": [str(CALCE_CSV)]}), twin)["cycles"]
        cuts += 1
        on, stored = short_alarms(twin, cycles)
        if on or stored or max(c["short_risk"] or 0.0 for c in cycles) >= 0.2:
            alarmed.append(order[start])
    assert cuts == n_cuts and alarmed == []


# --- 2. why they raised one: the diagnosis, measured ----------------------------------------


def workbook_cycles():
    rec = cyclers.read(WORKBOOK)
    cycles = cycles_from_samples(cyclers.columns_for_replay(rec))
    for c in cycles:  # the counters, which the twin is fed
        ch, dis = rec.cycle_ah[c["cycle"]]
        c.update(charge_ah=ch, discharge_ah=dis, ce=dis / ch)
    return cycles


def test_the_workbook_scatters_more_than_the_default_and_is_too_short_for_its_tail():
    """Measured: 45 second differences; robust std 0.225 % in CE and 0.193 % in
    discharge, against the defaults 0.14 % and 0.1 % (the emulator's and a
    board's counting); the 886-cycle record of the same cell has a tail scale
    of 0.73 % (tests/host/twin/test_twin_real_data.py)."""
    s = counting_scatter(workbook_cycles())
    assert s["second_differences"] == 45 and s["tail"] is False
    assert 0.0020 < s["ce"] < 0.0025 and s["ce"] > 1.5 * DETECTOR_TUNING["ce_sigma_rel"][0]
    assert 0.0017 < s["discharge_rel"] < 0.0022


def test_judged_at_the_default_noise_the_workbook_raised_short_likely_at_cycle_5(monkeypatch):
    """The bug as it was: with no calibration the workbook's CE dip at cycle 5
    (0.9885 after 1.0004; the next cycle 0.9999) scores loss_z 8.5 and a CE
    deficit of 8.2 counting std: risk 0.965, both alarms, latched for the file."""
    quiet()
    monkeypatch.setattr(replay_mod, "calibrate", lambda twin, cell_id, cycles: None)
    twin = Twin()
    cycles = replay(WORKBOOK, twin)["cycles"]
    assert first_cycle_with(cycles, "SHORT_LIKELY") == 5 and first_cycle_with(cycles, "SHORT_SUSPECTED") == 5
    raised = next(a for a in twin.store.alarms("replay") if a["code"] == "SHORT_LIKELY")
    ev = json.loads(raised["evidence"])
    assert ev["loss_z"] == pytest.approx(8.5, abs=0.1) and ev["ce_deficit_z"] == pytest.approx(8.2, abs=0.1)


def test_the_half_cell_was_judged_against_the_prior_not_its_own_losses(monkeypatch):
    """The .res half cell loses 8 % a cycle right after its first (CE 0.922,
    0.916; 0.956-0.963 from cycle 4). Scored before the filter learnt any of
    its own losses, that read as loss_z 8.6 and 11.8: SHORT_SUSPECTED at
    cycle 2, SHORT_LIKELY at 3. Waiting for two learnt losses, the same
    uncalibrated twin raises nothing."""
    quiet()
    monkeypatch.setattr(replay_mod, "calibrate", lambda twin, cell_id, cycles: None)
    twin = Twin(detector_tuning_overrides={"loss_learnt_cycles": 0})
    cycles = replay(RES, twin)["cycles"]
    assert first_cycle_with(cycles, "SHORT_SUSPECTED") == 2 and first_cycle_with(cycles, "SHORT_LIKELY") == 3
    twin = Twin()
    cycles = replay(RES, twin)["cycles"]
    on, stored = short_alarms(twin, cycles)
    assert len(on) == 0 and len(stored) == 0


# --- 3. a short in a short record is still raised -------------------------------------------


@pytest.mark.parametrize("preset, n_cycles", [("lfp-liquid", 29), ("nmc811-liquid", 23), ("sulfide-ssb", 34)])
def test_emulated_soft_short_in_a_short_run_is_raised_one_cycle_after_its_onset(tmp_path, preset, n_cycles):
    """A 50 kOhm leak from cycle 20 of a run of at most 40 cycles (each preset
    reaches end of life first, at n_cycles), written as a replay CSV: on the
    onset cycle the deficit is not confirmed yet (risk < 0.2), on cycle 21
    both alarms rise (measured: loss_z 14-24, CE deficit 16-28 std, each
    sustained over the two cycles). The same run with no leak raises none."""
    quiet()
    for inject in ([], [(20, "internal_short", {"resistance_ohm": 50000.0})]):
        run = twin_truth.life(preset, seed=1, cycles=40, inject=inject, samples=True)
        path = tmp_path / (preset + ".csv")
        twin_truth.write_csv(path, run["rows"])
        twin = Twin()
        out = replay(path, twin)
        cycles = out["cycles"]
        assert len(cycles) == n_cycles and all(c["fed"] for c in cycles)
        assert out["from_data"]["counting"]["detector"]["confirm_cycles"] == 2
        on, stored = short_alarms(twin, cycles)
        if not inject:
            assert len(on) == 0 and len(stored) == 0
            continue
        assert first_cycle_with(cycles, "SHORT_SUSPECTED") == 21
        assert first_cycle_with(cycles, "SHORT_LIKELY") == 21
        assert all(c["short_risk"] < 0.2 for c in cycles if c["cycle"] <= 20)
        assert [a["cycle"] for a in stored] == [21, 21]  # one raise each, latched after


@pytest.mark.parametrize("onset, leak_rel, raised_at", [(30, 0.03, 31), (20, 0.03, 21), (30, 0.015, None)])
def test_a_leak_in_the_real_workbook_is_raised_at_its_own_scatter(onset, leak_rel, raised_at):
    """The workbook with a leak added to the cycler's counters from ``onset``:
    each discharge short by ``leak_rel`` of its charge (3 %: about 400 Ohm on
    this cell over its 3.3 h cycles). Against the workbook's own robust
    scatter (CE 0.225 %) a 3 % leak is 13 std and raised one cycle after its
    onset; 1.5 % (7 std, under the CE deficit's midpoint of 8) is not: the
    limit a record this noisy sets. At the long record's tail scale (0.73 %)
    even 3 % would be 4 std."""
    quiet()
    rec = cyclers.read(WORKBOOK)
    counters = {c: (ch, dis - leak_rel * ch if c >= onset else dis) for c, (ch, dis) in rec.cycle_ah.items()}
    twin = Twin()
    cycles = replay(Recording(rec.cols, counters, rec.meta), twin)["cycles"]
    assert all(c["short_risk"] < 0.2 for c in cycles if c["cycle"] < onset)
    assert first_cycle_with(cycles, "SHORT_SUSPECTED") == raised_at
    on, _ = short_alarms(twin, cycles)
    assert len(on) == (0 if raised_at is None else 50 - raised_at + 1)
