"""Key rotation on the board: ``set_cmd_key`` judged by the command handler
(both interpreters), and ``shared.keyfile.take_rotation`` under the real
MicroPython unix port undoing what the host's keyring encrypted, writing
the secrets file before anything uses the new key. End to end (the board
answering, the old key refused, the new password used at the next
connect): tests/hil/test_deploy_lab.py."""

from __future__ import annotations

import json

import pytest
from test_commands import INTERPRETERS, TOPIC, run_cases, signed

from platewise.host.deploy import keyring

OLD = bytes(range(1, 33))  # test_commands.KEY: the key the handler holds
NEW = bytes(range(200, 232))
PASSWORD = "0123456789abcdef0123456789abcdef"


def _ring():
    ring = keyring.empty()
    keyring.set_key(ring, "cell-7", OLD.hex())
    keyring.set_pending(ring, "cell-7", NEW.hex(), PASSWORD)
    return ring


@pytest.mark.parametrize("interp", INTERPRETERS)
def test_set_cmd_key_is_judged_like_every_command(interp, tmp_path):
    args = keyring.rotation_args(_ring(), "cell-7", 5)
    cases = [
        ("ok", TOPIC, signed(5, "set_cmd_key", args)),
        ("short", TOPIC, signed(6, "set_cmd_key", {**args, "cmd_key_hex": args["cmd_key_hex"][:-2]})),
        ("number", TOPIC, signed(7, "set_cmd_key", {**args, "mqtt_password": 12})),
        ("missing", TOPIC, signed(8, "set_cmd_key", {"cmd_key_hex": args["cmd_key_hex"]})),
        ("forged", TOPIC, signed(9, "set_cmd_key", args, key=NEW)),
    ]
    r, _, _ = run_cases(interp, tmp_path, cases)
    assert r["ok"]["accepted"] and r["ok"]["durable"] is True and r["ok"]["args"] == args
    assert args["cmd_key_hex"] != NEW.hex() and NEW.hex() not in r["ok"]["reason"]  # only ciphertext travels
    assert r["short"]["code"] == "bad_type" and "64 hex digits" in r["short"]["reason"]
    assert r["number"]["code"] == "bad_type"
    assert r["missing"]["code"] == "missing_arg"
    assert r["forged"]["code"] == "bad_mac"


def test_take_rotation_under_micropython_writes_what_the_host_sent(tmp_path, mpy):
    sec = tmp_path / "secrets.json"
    sec.write_text(json.dumps({"mqtt_user": "board-cell-7", "mqtt_password": "old", "cmd_key_hex": OLD.hex()}))
    args = keyring.rotation_args(_ring(), "cell-7", 1796195146322)
    code = (
        "from shared.keyfile import take_rotation, load_key\n"
        f"k, pw = take_rotation({str(sec)!r}, {OLD!r}, 1796195146322, {args!r})\n"
        "print('NEW', k.hex() if hasattr(k, 'hex') else k, pw)\n"
        f"print('LOADED', load_key({str(sec)!r})[0] == k)\n"
        "try:\n"
        f"    take_rotation({str(tmp_path / 'gone' / 'secrets.json')!r}, {OLD!r}, 2, {args!r})\n"
        "except OSError:\n"
        "    print('OSERROR')\n"
    )
    r = mpy(code, heapsize="256K")
    assert r.returncode == 0, r.stderr
    assert f"NEW {NEW.hex()} {PASSWORD}" in r.stdout and "LOADED True" in r.stdout and "OSERROR" in r.stdout
    d = json.loads(sec.read_text())
    assert d == {"mqtt_user": "board-cell-7", "mqtt_password": PASSWORD, "cmd_key_hex": NEW.hex()}
    # Another counter gives other ciphertext (a fresh pad per command).
    assert keyring.rotation_args(_ring(), "cell-7", 2) != args


def test_keyring_promotes_only_a_pending_rotation(tmp_path):
    ring = _ring()
    keyring.save(tmp_path / "k.json", ring)
    ring = keyring.load(tmp_path / "k.json")
    assert keyring.key_for(ring, "cell-7") == OLD
    keyring.promote(ring, "cell-7")
    assert keyring.key_for(ring, "cell-7") == NEW and "next_mqtt_password" not in ring["cells"]["cell-7"]
    with pytest.raises(keyring.KeyringError, match="no rotation pending"):
        keyring.rotation_args(ring, "cell-7", 3)
    with pytest.raises(keyring.KeyringError, match="no key for cell other"):
        keyring.key_for(ring, "other")
    (tmp_path / "bad.json").write_text(json.dumps({"keyring": 1, "cells": {"c": {"cmd_key_hex": "ab"}}}))
    with pytest.raises(keyring.KeyringError, match=r"cells\.c\.cmd_key_hex"):
        keyring.load(tmp_path / "bad.json")
