"""`platewise cmd` end to end: the real CLI signs a command, a real Mosquitto
carries it, the real firmware (MicroPython unix port, virtual board) judges
it and answers; the CLI prints the answer and says it in its exit code."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from platewise.host.broker import MosquittoBroker, free_port

from cmdboard import commanded_board, cool

KEY = bytes(range(7, 39))
CELL = "cli-cmd"


def _cli(*argv: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "platewise", "cmd", *argv], capture_output=True, text=True, timeout=timeout_s
    )


@pytest.fixture
def board(tmp_path):
    with MosquittoBroker() as broker, commanded_board(tmp_path, broker, CELL, KEY) as (vb, secrets):
        yield vb, f"mqtt://{broker.host}:{broker.port}", secrets


def test_cmd_cli_against_the_firmware(board, tmp_path):
    vb, url, secrets = board
    common = ("--broker", url, "--secrets", str(secrets), "--timeout", "20")

    # The fault's condition is still there: an authentic clear_fault is refused, and says why.
    r = _cli(CELL, "clear_fault", *common, "--ctr", "10")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "cmd_reject not_applied: clear_fault: OT condition still present" in r.stdout

    # Accepted, clamped to the configured charge current (commands only make operation gentler).
    r = _cli(CELL, "set_limits", "charge_current_a=5.0", *common, "--ctr", "11", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["ctr"] == 11 and out["answer"][0]["event"] == "cmd_ok" and out["answer"][0]["value"] == 11
    assert "set_limits accepted, ctr 11; clamped charge_current_a 5.0 ->" in out["answer"][0]["msg"]

    # The same counter again: a replay.
    r = _cli(CELL, "stop", *common, "--ctr", "11")
    assert r.returncode == 1 and "cmd_reject replay: ctr 11 not above last accepted 11" in r.stdout

    # Signed with another key: the board refuses it.
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"cmd_key_hex": bytes(32).hex()}))
    r = _cli(CELL, "stop", "--broker", url, "--secrets", str(wrong), "--timeout", "20", "--ctr", "12")
    assert r.returncode == 1 and "cmd_reject bad_mac" in r.stdout

    # Cool the cell below the limit: now clear_fault clears, and the board says so.
    cool(vb)
    r = _cli(CELL, "clear_fault", *common)  # default ctr: the clock in ms, above 11
    assert r.returncode == 0, r.stdout + r.stderr
    assert "cmd_ok clear_fault: clear_fault accepted" in r.stdout and "fault_clear OT: fault OT cleared by command" in r.stdout


def test_cmd_cli_usage_errors_send_nothing(tmp_path):
    secrets = tmp_path / "s.json"
    secrets.write_text(json.dumps({"cmd_key_hex": KEY.hex()}))
    url = "mqtt://127.0.0.1:1"  # never reached: each error comes first
    for argv, why in (
        ((CELL, "fly"), "command 'fly': one of set_limits, pulse, clear_fault, start, stop"),
        ((CELL, "set_limits", "charge_current_a"), "expected NAME=VALUE"),
        ((CELL, "set_limits", "charge_current_a=lots"), "'lots' is not a number"),
        (("bad/cell", "stop"), "cell id 'bad/cell'"),
        ((CELL, "stop", "--ctr", "0"), "ctr 0: a whole number"),
    ):
        r = _cli(*argv, "--broker", url, "--secrets", str(secrets))
        assert r.returncode == 2 and why in r.stderr, (argv, r.stderr)
    r = _cli(CELL, "stop", "--broker", url, "--secrets", str(tmp_path / "missing.json"))
    assert r.returncode == 2 and "missing.json" in r.stderr
    secrets.write_text('{"cmd_key_hex": "abc"}')
    r = _cli(CELL, "stop", "--broker", url, "--secrets", str(secrets))
    assert r.returncode == 2 and "not hex" in r.stderr


def test_cmd_cli_broker_down_and_board_silent(tmp_path):
    secrets = tmp_path / "s.json"
    secrets.write_text(json.dumps({"cmd_key_hex": KEY.hex()}))
    r = _cli(CELL, "stop", "--broker", f"mqtt://127.0.0.1:{free_port('127.0.0.1')}", "--secrets", str(secrets))
    assert r.returncode == 3 and "platewise cmd: broker 127.0.0.1:" in r.stderr
    with MosquittoBroker() as broker:
        t0 = time.monotonic()
        r = _cli(CELL, "stop", "--broker", f"mqtt://{broker.host}:{broker.port}", "--secrets", str(secrets), "--timeout", "1")
        assert r.returncode == 4 and "no answer from cli-cmd within 1 s" in r.stderr
        assert time.monotonic() - t0 < 20
