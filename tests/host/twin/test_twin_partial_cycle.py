"""A cycle the board booted into (``partial``: a power cut mid-charge left
the charge before the boot uncounted, so its CE reads far above 1) is stored
and flagged as data quality, and teaches the estimators nothing: the twin's
estimate is the one it makes without that cycle, live and after a restart
(the flag survives in the store). Unflagged, the same counts reach the
filter's gate, which refuses them without knowing why."""

from __future__ import annotations

import pytest

from platewise.host.twin.service import Twin
from twinkit import cycle_fields, message, synthetic_cycles

CELL = "c1"
PARTIAL = 6  # the cycle the board booted into


def _feed(twin, fields_list):
    for seq, f in enumerate(fields_list):
        assert twin.handle(*message("cycle", CELL, seq, f))


def _cycles(partial_flag: bool | None):
    fields, _truth = synthetic_cycles(0.02, 0.995, 12)
    out = []
    for f in fields:
        if f["cycle"] == PARTIAL:
            if partial_flag is None:
                continue  # the cycle never reached the twin
            f = cycle_fields(PARTIAL, f["charge_ah"] * 0.4, f["discharge_ah"], t_s=f["t_s"])  # 60 % of the charge uncounted
            if partial_flag:
                f["partial"] = True
        out.append(f)
    return out


def test_a_partial_cycle_is_flagged_and_not_learnt_from(tmp_path):
    db = tmp_path / "twin.db"
    flagged = Twin(str(db))
    _feed(flagged, _cycles(True))
    without = Twin()
    _feed(without, _cycles(None))
    unflagged = Twin()
    _feed(unflagged, _cycles(False))

    c = flagged.cell(CELL)
    assert c["filter_outcomes"].get("skipped") == 1 and c["cycles"] == 12
    dq = [a for a in flagged.store.alarms(CELL) if a["code"] == "DATA_QUALITY"]
    assert [a["cycle"] for a in dq] == [PARTIAL] and "partial cycle" in dq[0]["evidence"], dq
    assert not c["alarms"]
    ref = without.cell(CELL)
    assert c["inventory_est_ah"] == pytest.approx(ref["inventory_est_ah"], rel=1e-12)
    assert c["inventory_std_ah"] == pytest.approx(ref["inventory_std_ah"], rel=1e-12)
    # The same counts unflagged reach the filter, whose gate refuses them as
    # non-physical (CE 2.5), and the detector calls them a counting artefact:
    # no cause named, and a refusal that counts towards a gated streak.
    u = unflagged.cell(CELL)
    assert u["filter_outcomes"].get("gated") == 1 and u["filter_outcomes"].get("skipped") is None, u["filter_outcomes"]
    udq = [a for a in unflagged.store.alarms(CELL) if a["code"] == "DATA_QUALITY"]
    assert udq and all("partial" not in a["evidence"] for a in udq), udq
    flagged.close()

    restarted = Twin(str(db))  # rebuilt from the stored cycles: the flag is in the cycles table
    r = restarted.cell(CELL)
    assert r["inventory_est_ah"] == pytest.approx(ref["inventory_est_ah"], rel=1e-12)
    assert [m.get("partial", False) for m in restarted.store.cycle_messages(CELL)].count(True) == 1
    restarted.close()
