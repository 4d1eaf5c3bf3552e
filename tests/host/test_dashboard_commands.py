"""Commands through the dashboard's API, end to end: the dashboard signs
them with a keyring, a real Mosquitto carries them, the real firmware
(virtual board) judges them, and the log names the operator, the command
and the board's answer. Read-only without a keyring, same origin only,
bad input refused with its reason and logged."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import urllib.error
import urllib.request

import paho.mqtt.client as mqtt
import pytest
from cmdboard import commanded_board
from dashkit import run_command
from paho.mqtt.enums import CallbackAPIVersion

from platewise.host.broker import MosquittoBroker, free_port
from platewise.host.dashboard import commands
from platewise.host.dashboard.server import Dashboard, add_dashboard_command
from platewise.host.deploy import keyring as kr
from platewise.host.twin import access
from platewise.host.twin.mqtt import TwinSubscriber
from platewise.host.twin.service import Twin
from platewise.host.twin.store import Store

KEY = bytes(range(40, 72))
CELL = "dash-cmd"


def _post(url, body, token=None, headers=None):
    """(status, JSON answer) of a POST; ``body`` a dict (JSON) or bytes as they are."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json", **(headers or {})})
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _get(url, token=None):
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token} if token else {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


class CmdWatch:
    """Every message on any cell's cmd topic, as the broker delivers it."""

    def __init__(self, broker):
        self.seen, self._ready = [], threading.Event()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="cmd-watch")
        self.c.on_message = lambda c, u, m: self.seen.append((m.topic, json.loads(m.payload)))
        self.c.on_subscribe = lambda *a: self._ready.set()
        self.c.connect(broker.host, broker.port)
        self.c.loop_start()
        self.c.subscribe("platewise/v1/+/cmd", qos=1)
        assert self._ready.wait(5)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def _keyring(tmp_path, cells):
    ring = kr.empty()
    for cell, key in cells.items():
        ring["cells"][cell] = {"cmd_key_hex": key.hex()}
    path = tmp_path / "keyring.json"
    kr.save(path, ring)
    return path


def test_read_only_without_a_keyring_and_nothing_is_sent(tmp_path):
    db = str(tmp_path / "twin.db")
    Store(db).close()
    with MosquittoBroker() as broker:
        watch = CmdWatch(broker)
        dash = Dashboard(db).start()
        try:
            url = dash.url + "api/cells/%s/commands" % CELL
            status, body = _post(url, {"command": "stop", "args": {}})
            assert status == 403 and body["error"].startswith("read-only: this dashboard was started without a signing key")
            # the same from another site's page: refused before anything else
            status, body = _post(url, {"command": "stop"}, headers={"Origin": "http://evil.example"})
            assert status == 403 and "only from this server's pages" in body["error"]
            time.sleep(0.5)
            assert watch.seen == []
            conn = sqlite3.connect(db)
            assert conn.execute("SELECT COUNT(*) FROM commands").fetchone()[0] == 0  # a read-only dashboard writes nothing
        finally:
            dash.stop()
            watch.close()


def test_dashboard_commands_reach_the_firmware_and_are_logged_with_the_operator(tmp_path):
    db = str(tmp_path / "twin.db")
    tokens = tmp_path / "tokens.json"
    alice = access.add_token(str(tokens), "alice")
    ring = _keyring(tmp_path, {CELL: KEY, "other": bytes(32)})
    with MosquittoBroker() as broker, commanded_board(tmp_path, broker, CELL, KEY) as (vb, _secrets):
        twin = Twin(db_path=db)
        sub = TwinSubscriber(twin, broker.host, broker.port, client_id="dash-cmd-twin")
        sub.start()
        watch = CmdWatch(broker)
        desk = commands.CommandDesk(str(ring), broker.host, broker.port, db, timeout_s=20.0)
        dash = Dashboard(db, host="0.0.0.0", twin=twin, token_file=str(tokens), desk=desk).start()
        base = "http://127.0.0.1:%d/api/cells/" % dash.server.server_port
        url = base + CELL + "/commands"
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not twin.store.count_messages(CELL):
                time.sleep(0.1)
            twin.flush()
            info = _get(url, alice)
            assert info["enabled"] is True and info["operator"] == "alice" and info["log"] == []

            # No token: 401, nothing sent.
            status, _ = _post(url, {"command": "stop"})
            assert status == 401

            # The fault's condition is still there: the board refuses, and the page hears why.
            status, r = _post(url, {"command": "clear_fault", "args": {}}, alice)
            assert status == 200 and r["outcome"] == "rejected" and r["operator"] == "alice"
            assert r["answer"][0]["event"] == "cmd_reject" and r["answer"][0]["code"] == "not_applied"
            assert "OT condition still present" in r["answer"][0]["msg"]

            # Accepted, clamped to the configured charge current.
            status, r = _post(url, {"command": "set_limits", "args": {"charge_current_a": 5.0}}, alice)
            assert status == 200 and r["outcome"] == "ok", r
            assert r["answer"][0]["value"] == r["ctr"] and "clamped charge_current_a 5.0 ->" in r["answer"][0]["msg"]

            # Refused here, before signing: each says why, nothing goes to the broker.
            for body, code, why in (
                ({"command": "set_cmd_key", "args": {}}, 400, "command 'set_cmd_key': one of clear_fault, start, stop, set_limits, pulse"),
                ({"command": "set_limits", "args": {}}, 400, "set_limits needs at least 1 of charge_current_a"),
                ({"command": "set_limits", "args": {"charge_current_a": "lots"}}, 400, "charge_current_a: 'lots' is not a number"),
                ({"command": "pulse", "args": {"amplitude_a": 0.001, "duration_ms": 2.5}}, 400, "duration_ms: 2.5 is not a whole number"),
                ({"command": "stop", "args": {"speed": 1}}, 400, "stop takes no arguments, not 'speed'"),
                (b"{not json", 400, "body is not JSON"),
            ):
                status, r = _post(url, body, alice)
                assert status == code and why in r["error"], (body, r)
            status, r = _post(base + "nowhere/commands", {"command": "stop"}, alice)
            assert status == 409 and "nowhere" in r["error"]
            status, r = _post(url, {"command": "stop"}, alice, headers={"Content-Type": "text/plain"})
            assert status == 403

            sent = [m for t, m in watch.seen if t.endswith("/%s/cmd" % CELL)]
            assert [m["cmd"] for m in sent] == ["clear_fault", "set_limits"]
            assert all(m["mac"] and "key" not in json.dumps(m) for m in sent)

            # The log, newest first: every attempt with its operator, the refusals too.
            log = _get(url, alice)["log"]
            assert [(e["command"], e["outcome"]) for e in reversed(log)] == [
                ("clear_fault", "rejected"), ("set_limits", "ok"), ("set_cmd_key", "refused"), ("set_limits", "refused"),
                ("set_limits", "refused"), ("pulse", "refused"), ("stop", "refused"), ("?", "refused")]  # fmt: skip
            assert log[0]["answer"] == [{"error": "body is not JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"}]
            assert {e["operator"] for e in log} == {"alice"}
            assert log[-2]["args"] == {"charge_current_a": 5.0} and log[-2]["ctr"] == sent[1]["ctr"]
            assert log[-2]["answered_at"] >= log[-2]["sent_at"]
            conn = sqlite3.connect(db)
            assert conn.execute("SELECT operator, command, outcome FROM commands WHERE cell_id = 'nowhere'").fetchall() == [
                ("alice", "stop", "refused")]  # fmt: skip
            conn.close()

            # The board's answers reached the twin as events too.
            twin.flush()
            events = [e["msg"] for e in _get(base + CELL + "/events", alice)["events"] if e["kind"] == "event"]
            assert {(m["event"], m["value"]) for m in events if m["event"].startswith("cmd_")} >= {
                ("cmd_reject", sent[0]["ctr"]), ("cmd_ok", sent[1]["ctr"])}  # fmt: skip
        finally:
            dash.stop()
            watch.close()
            sub.stop()
            twin.close()


def test_broker_down_is_answered_502_and_logged(tmp_path):
    db = str(tmp_path / "twin.db")
    Store(db).close()
    ring = _keyring(tmp_path, {CELL: KEY})
    desk = commands.CommandDesk(str(ring), "127.0.0.1", free_port("127.0.0.1"), db, timeout_s=2.0)
    dash = Dashboard(db, desk=desk).start()
    try:
        status, r = _post(dash.url + "api/cells/%s/commands" % CELL, {"command": "stop"})
        assert status == 502 and r["outcome"] == "broker_error" and "broker 127.0.0.1:" in r["answer"][0]["error"]
        conn = sqlite3.connect(db)
        assert conn.execute("SELECT operator, command, outcome FROM commands").fetchall() == [("local", "stop", "broker_error")]
    finally:
        dash.stop()


def test_cli_keyring_needs_a_broker_and_a_readable_keyring(tmp_path, capsys):
    db = str(tmp_path / "twin.db")
    Store(db).close()
    assert run_command(add_dashboard_command, ["dashboard", "--db", db, "--keyring", str(tmp_path / "ring.json")]) == 2
    assert "--keyring needs a broker to send commands through" in capsys.readouterr().err
    argv = ["dashboard", "--db", db, "--keyring", str(tmp_path / "ring.json"), "--cmd-broker", "mqtt://127.0.0.1:1"]
    assert run_command(add_dashboard_command, argv) == 2
    assert "ring.json" in capsys.readouterr().err
    assert run_command(add_dashboard_command, ["dashboard", "--db", db, "--cmd-broker", "mqtt://127.0.0.1:1"]) == 2
    assert "--cmd-broker sends commands, which need --keyring FILE" in capsys.readouterr().err
    ring = _keyring(tmp_path, {CELL: KEY})
    argv = ["dashboard", "--db", db, "--port", "0", "--keyring", str(ring), "--cmd-broker", "mqtt://127.0.0.1:1", "--duration-s", "0.3"]
    assert run_command(add_dashboard_command, argv) == 0
    assert "commands signed with %s" % ring in capsys.readouterr().out
