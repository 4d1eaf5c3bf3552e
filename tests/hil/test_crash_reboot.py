"""A board that crashes (killed mid-run, no clean stop) and boots again: the
new boot continues after the sequence block it had reserved
(firmware/persist.py), and the twin counts the numbers in between as
skipped by the reboot, not as lost messages."""

from __future__ import annotations

import json
import time

import pytest

CELL = "crash-1"


@pytest.mark.hil_preset("lfp-liquid", seed=6)
def test_a_crash_reboot_is_no_gap_at_the_twin(tmp_path, twin, virtual_board, wait_received):
    # broker, twin, emulated_cell and virtual_board: the HIL plugin's fixtures (hil/plugin.py).
    (tmp_path / "state").mkdir()
    first = virtual_board(cell_id=CELL, persist_dir=str(tmp_path / "state"), max_run_s=4 * 3600)
    first.speed_cap(200.0)
    first.start()
    c = wait_received(twin, CELL, 150, timeout_s=60)
    assert c["received"] >= 150
    first.kill()  # no clean stop: the seq block stays reserved, unused
    time.sleep(0.5)  # what was on the wire has landed
    before = twin.cell(CELL)
    second = virtual_board(cell_id=CELL, persist_dir=str(tmp_path / "state"), max_run_s=600)
    second.start()
    assert second.wait(timeout_s=120) == 0, second.stderr[-2000:]
    fw = second.summary
    c = wait_received(twin, CELL, before["received"] + fw["published"], timeout_s=20)
    boots = [json.loads(r["payload"]) for r in twin.store.messages(CELL, "event")]
    boots = [m for m in boots if m["event"] == "boot"]
    assert len(boots) == 2 and boots[0]["value"] == 0
    base = int(boots[1]["value"])
    # The second boot continued after the first boot's reserved block ...
    assert base >= before["max_seq"] and base % 1024 == 0
    # ... and the twin, which lost nothing, says so: no gap, the block's rest skipped.
    assert c["received"] == before["received"] + fw["published"]
    assert c["gaps"] == 0, c
    assert c["seq_skipped_at_boot"] == base - before["max_seq"] and 0 < c["seq_skipped_at_boot"] <= 1024
