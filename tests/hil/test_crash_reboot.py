"""A board that crashes (killed mid-run, no clean stop) and boots again: the
new boot continues after the sequence block it had reserved
(firmware/persist.py), and the twin counts the numbers in between as
skipped by the reboot, not as lost messages."""

from __future__ import annotations

import json
import time

from platewise.hil.cell.model import Cell, load_params
from platewise.hil.cell.sensors import Sensors
from platewise.hil.demo import firmware_config
from platewise.hil.virtual_board import VirtualBoard
from platewise.host.broker import MosquittoBroker
from platewise.host.twin.mqtt import TwinSubscriber
from platewise.host.twin.service import Twin

CELL = "crash-1"


def test_a_crash_reboot_is_no_gap_at_the_twin(tmp_path, wait_received):
    (tmp_path / "state").mkdir()
    with MosquittoBroker() as broker:
        twin = Twin()
        sub = TwinSubscriber(twin, broker.host, broker.port, client_id="crash-twin")
        sub.start()
        try:
            params = load_params("lfp-liquid")
            cell = Cell(params, seed=6)
            cfg = firmware_config(
                cell, CELL, broker.host, broker.port, 1, persist_dir=str(tmp_path / "state"), max_run_s=4 * 3600
            )
            first = VirtualBoard(cell, Sensors(params, seed=6), cfg)
            first.speed_cap(200.0)
            first.start()
            c = wait_received(twin, CELL, 150, timeout_s=60)
            assert c["received"] >= 150
            first.kill()  # no clean stop: the seq block stays reserved, unused
            time.sleep(0.5)  # what was on the wire has landed
            before = twin.cell(CELL)
            cfg2 = dict(cfg, max_run_s=600)
            second = VirtualBoard(cell, Sensors(params, seed=6), cfg2)
            second.start()
            assert second.wait(timeout_s=120) == 0, second.stderr[-2000:]
            fw = second.summary
            c = wait_received(twin, CELL, before["received"] + fw["published"], timeout_s=20)
        finally:
            sub.stop()
        boots = [json.loads(r["payload"]) for r in twin.store.messages(CELL, "event")]
        boots = [m for m in boots if m["event"] == "boot"]
        twin.close()
    assert len(boots) == 2 and boots[0]["value"] == 0
    base = int(boots[1]["value"])
    # The second boot continued after the first boot's reserved block ...
    assert base >= before["max_seq"] and base % 1024 == 0
    # ... and the twin, which lost nothing, says so: no gap, the block's rest skipped.
    assert c["received"] == before["received"] + fw["published"]
    assert c["gaps"] == 0, c
    assert c["seq_skipped_at_boot"] == base - before["max_seq"] and 0 < c["seq_skipped_at_boot"] <= 1024
