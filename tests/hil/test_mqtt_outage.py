"""Store-and-forward: the broker goes away for 30 simulated minutes and
comes back; the firmware queues (RAM, then the flash spill), reconnects and
replays in order; the twin sees every sequence number exactly once."""

from __future__ import annotations

from firmware.config import defaults
from platewise.hil.cell.model import Cell, load_params
from platewise.hil.cell.sensors import Sensors
from platewise.hil.demo import firmware_config
from platewise.hil.virtual_board import VirtualBoard
from platewise.host.broker import MosquittoBroker
from platewise.host.twin.mqtt import TwinSubscriber
from platewise.host.twin.service import Twin

OUTAGE_START_S = 3600.0
OUTAGE_S = 1800.0  # 30 simulated minutes: 180 samples plus events, far past the RAM outbox (outbox_size, 8 by default)


def test_broker_outage_loses_nothing(tmp_path, wait_received):
    data = tmp_path / "broker"
    data.mkdir()
    broker = MosquittoBroker(data_dir=str(data)).start()
    port = broker.port
    twin = Twin(db_path=str(tmp_path / "twin.db"))
    sub = TwinSubscriber(twin, broker.host, port, client_id="outage-twin")
    sub.start()
    params = load_params("lfp-liquid")
    cell = Cell(params, seed=3)
    cfg = firmware_config(cell, "outage-1", broker.host, port, 1, mqtt_backoff_max_ms=500)
    state = {"broker": broker, "down_at": None, "up_at": None}

    def on_step(vb):
        if state["down_at"] is None and vb.t_s >= OUTAGE_START_S:
            state["broker"].stop()
            state["down_at"] = vb.t_s
        elif state["up_at"] is None and state["down_at"] is not None and vb.t_s >= OUTAGE_START_S + OUTAGE_S:
            state["broker"] = MosquittoBroker(port=port, data_dir=str(data)).start()
            state["up_at"] = vb.t_s

    vb = VirtualBoard(cell, Sensors(params, seed=3), cfg, on_step=on_step)
    try:
        vb.start()
        assert vb.wait(timeout_s=180) == 0, vb.stderr[-2000:]
        fw = vb.summary
        # All of it within the HIL heap (hil.virtual_board.DEFAULT_HEAPSIZE),
        # and the loop's measurement saw the full RAM outbox of the outage.
        assert fw["heap_total_bytes"] <= 128 * 1024
        assert 0 < fw["heap_start_bytes"] < fw["heap_max_bytes"] < fw["heap_total_bytes"]
        assert fw["heap_max_bytes"] - fw["heap_start_bytes"] > defaults()["outbox_size"] * 200  # a full RAM outbox of 200+ byte messages
        assert state["down_at"] is not None and state["up_at"] is not None
        assert fw["connects"] >= 2  # it really lost the broker and came back
        assert fw["dropped_samples"] == 0 and fw["dropped_priority"] == 0
        c = wait_received(twin, "outage-1", fw["published"])
        assert fw["published"] == fw["data_messages"] > 500
        assert c["received"] == fw["published"]
        assert c["gaps"] == 0
        assert (c["min_seq"], c["max_seq"]) == (1, fw["data_messages"])
        # Samples from inside the outage arrived (they were queued, not dropped).
        rows = twin.store.messages("outage-1")
        inside = [
            r for r in rows if r["kind"] == "telemetry" and OUTAGE_START_S + 60 < (r["t_s"] or 0) < OUTAGE_START_S + OUTAGE_S - 60
        ]
        assert len(inside) >= 150
    finally:
        vb.kill()
        sub.stop()
        twin.close()
        state["broker"].stop()
