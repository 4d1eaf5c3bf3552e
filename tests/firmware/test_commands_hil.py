"""End to end: the host signs commands (shared.auth), publishes them on a real
Mosquitto broker, the real firmware (MicroPython unix port, virtual board)
verifies, acts and reports them; its counter and seq survive a reboot.
Mosquitto is required: without it these tests fail (they never skip)."""

from __future__ import annotations

import json
import time

import pytest

from platewise.hil.cell.model import Cell, load_params
from platewise.hil.cell.sensors import Sensors
from platewise.hil.commands import CommandPort
from platewise.hil.demo import firmware_config
from platewise.hil.virtual_board import VirtualBoard
from platewise.host.broker import MosquittoBroker
from platewise.shared import auth, cmdsign

KEY = bytes(range(100, 132))
CELL = "hil-cmd"


def _run(broker, tmp_path, script, trace=None, speed_cap=None, **overrides):
    params = load_params("lfp-liquid")
    cell = Cell(params, seed=1)
    kw = {"secrets_path": str(tmp_path / "secrets.json"), "persist_dir": str(tmp_path / "state"), "max_run_s": 4 * 3600}
    kw.update(overrides)
    cfg = firmware_config(cell, CELL, broker.host, broker.port, 1, **kw)
    w = CommandPort(broker.host, broker.port, CELL, KEY)

    def on_step(vb):
        if trace is not None:
            trace.append((vb.t_s, vb.current_a, vb.contactor))

    vb = VirtualBoard(cell, Sensors(params, seed=1), cfg, on_step=on_step)
    vb.speed_cap(speed_cap)
    w.board = vb  # type: ignore[attr-defined]
    try:
        vb.start()
        deadline = time.monotonic() + 30
        while not any(m.get("state") == "online" for m in w.of("status")) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert any(m.get("state") == "online" for m in w.of("status")), "board not online: " + vb.stdout[-1000:]
        script(w, cfg)
        assert vb.wait(timeout_s=180) == 0, vb.stdout[-1000:] + vb.stderr[-2000:]
        data = [m["seq"] for k, m in w.msgs if k in ("telemetry", "cycle", "event")]
        w.summary = vb.summary  # type: ignore[attr-defined]
        return data, w
    finally:
        vb.kill()
        w.close()


def test_signed_commands_end_to_end_and_across_a_reboot(tmp_path):
    (tmp_path / "secrets.json").write_text(json.dumps({"cmd_key_hex": KEY.hex()}))
    (tmp_path / "state").mkdir()
    sent = {}

    def first(w, cfg):
        sent["a"] = w.send("set_limits", {"charge_current_a": cmdsign.quantize(0.5 * cfg["charge_current_a"])}, ctr=100)
        ok = w.wait_event("cmd_ok", "set_limits")[0]
        assert "ctr 100" in ok["msg"]
        w.send("stop", {}, auth="forged", ctr=101)
        assert "MAC" in w.wait_event("cmd_reject", "bad_mac")[0]["msg"]
        w.publish(sent["a"])  # replayed
        assert "ctr 100 not above last accepted 100" in w.wait_event("cmd_reject", "replay")[0]["msg"]

    with MosquittoBroker() as broker:
        trace1 = []
        seqs1, w1 = _run(broker, tmp_path, first, trace=trace1)
        # The accepted set_limits applies: from its event on, CC plates at half the current.
        nominal_a = firmware_config(Cell(load_params("lfp-liquid")), CELL, "h", 1, 1)["charge_current_a"]
        t_ok = [e for e in w1.of("event") if e["event"] == "cmd_ok" and e["code"] == "set_limits"][0]["t_s"]
        after = [i for t, i, c in trace1 if t > t_ok + 1 and i > 0]
        assert after and max(after) == pytest.approx(0.5 * nominal_a, rel=1e-5)
        # The command code was loaded for the commands (its names interned
        # then), and all the names still fit five qstr pools (app.py, main.py).
        fw = w1.summary
        assert fw["qstr_count"] > fw["qstr_count_start"] and fw["qstr_pools"] <= 5, fw

        def second(w, cfg):
            w.publish(sent["a"])
            assert "not above last accepted 100" in w.wait_event("cmd_reject", "replay")[0]["msg"]
            w.send("pulse", {"amplitude_a": cmdsign.quantize(0.5 * cfg["charge_current_a"]), "duration_ms": 500}, ctr=101)
            w.wait_event("cmd_ok", "pulse")

        trace2 = []
        seqs2, _w2 = _run(broker, tmp_path, second, trace=trace2)
    # The pulse lowered the charge current by its amplitude for one 1 s tick (500 ms rounds up).
    lowered = [i for t, i, c in trace2 if i > 0 and i == pytest.approx(0.5 * nominal_a, rel=1e-5)]
    assert len(lowered) == 1
    assert seqs1 and seqs2
    assert min(seqs2) > max(seqs1)  # the board's seq continues across the reboot


def test_latched_fault_survives_reboot_until_clear_fault(tmp_path):
    (tmp_path / "secrets.json").write_text(json.dumps({"cmd_key_hex": KEY.hex()}))
    (tmp_path / "state").mkdir()
    with MosquittoBroker() as broker:
        # Boot 1: ambient 25 C against a 24 C limit: OT latches.
        _s, w1 = _run(broker, tmp_path, lambda w, cfg: w.wait_event("fault", "OT"), t_max_c=24.0, max_run_s=60)
        # Boot 2, limit back to 60 C: the latch is restored, the contactor stays
        # open, until an authenticated clear_fault and start.
        trace: list = []
        started: list = []

        def second(w, cfg):
            assert "before reboot" in w.wait_event("fault", "OT")[0]["msg"]
            # Past the 30 s start-up rest before the commands (virtual time is
            # capped to 20x real until the board has answered them, so it
            # cannot run out its hour first).
            deadline = time.monotonic() + 30
            while w.board.t_s < 60.0 and time.monotonic() < deadline:
                time.sleep(0.05)
            w.send("clear_fault", {}, ctr=1)
            w.wait_event("cmd_ok", "clear_fault")
            w.send("start", {}, ctr=2)
            started.append(w.wait_event("cmd_ok", "start")[0]["t_s"])
            w.board.speed_cap(None)

        _s2, w2 = _run(broker, tmp_path, second, trace=trace, speed_cap=20.0, max_run_s=3600)
    alarms = [e for e in w2.of("event") if e["event"] == "fault"]
    assert alarms and alarms[0]["code"] == "OT"
    closed = [k for k, row in enumerate(trace) if row[2]]
    assert closed, "contactor never closed after clear_fault + start"
    # Open from boot until the start command (without the restored latch it
    # would close after the 30 s start-up rest, long before the commands).
    assert trace[closed[0]][0] >= started[0] - 1.0 and started[0] > 60.0
    assert all(not row[2] and row[1] == 0.0 for row in trace[: closed[0]])
