"""firmware/commands.py: authenticated commands, signed by the host (CPython,
shared.auth) and judged by the firmware under the real MicroPython unix port
(and CPython, which must agree). Every reject is a decision with a code and a
reason, never an exception; the replay counter survives a reboot (a second
process over the same state directory)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from firmware import cmdlimits
from firmware import config
from firmware.config import defaults
from platewise.host.mpybuild import micropython_env, micropython_path
from repo_paths import REPO_ROOT
from platewise.shared import auth, cmdsign
from platewise.shared import telemetry as tm

KEY = bytes(range(1, 33))
CELL = "cell-7"
TOPIC = tm.topic(CELL, "cmd")
SCRIPT = REPO_ROOT / "tests" / "firmware" / "mp" / "mp_commands.py"
INTERPRETERS = ("micropython", "cpython")
# Explicit command bounds (the defaults derive them from the operating point;
# test_derived_bounds_only_allow_gentler_operation covers those).
EXPLICIT = {
    "cmd_charge_current_max_a": 0.05,
    "cmd_discharge_current_max_a": 0.05,
    "cmd_charge_voltage_min_v": 3.0,
    "cmd_charge_voltage_max_v": 3.7,
    "cmd_discharge_cutoff_min_v": 2.2,
    "cmd_discharge_cutoff_max_v": 2.9,
    "cmd_pulse_max_a": 0.05,
}


def signed(ctr: int, cmd: str, args: dict, key: bytes = KEY, cell: str = CELL, seq: int | None = None) -> bytes:
    fields = cmdsign.command_fields(key, cell, ctr, cmd, args)
    return tm.encode("cmd", cell, ctr if seq is None else seq, fields)


def raw(d: dict) -> bytes:
    return json.dumps(d).encode()


def run_cases(interp: str, tmp_path, cases, key: bytes | None = KEY, state_dir=None, cfg=EXPLICIT, measure=False):
    spec = {
        "measure": measure,
        "key_hex": key.hex() if key else None,
        "cell": CELL,
        "cfg": cfg,
        "cases": [[n, t, None if p is None else p.hex()] for n, t, p in cases],
    }
    path = tmp_path / f"cases-{interp}-{len(list(tmp_path.iterdir()))}.json"
    path.write_text(json.dumps(spec))
    state = state_dir or (tmp_path / f"state-{interp}")
    state.mkdir(exist_ok=True)
    if interp == "micropython":
        argv = [micropython_path(), "-X", "heapsize=256K", str(SCRIPT), str(path), str(state)]
        env = micropython_env()
    else:
        argv = [sys.executable, str(SCRIPT), str(path), str(state)]
        env = {"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"}
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    out = {}
    load = heap = None
    for line in r.stdout.splitlines():
        tag, _, body = line.partition(" ")
        if tag == "CASE":
            row = json.loads(body)
            out[row[0]] = {
                "accepted": row[1],
                "code": row[2],
                "reason": row[3],
                "args": row[4],
                "clamped": row[5],
                "last_ctr": row[6],
                "event": row[7],
                "durable": row[8],
            }
        elif tag == "LOAD":
            load = json.loads(body)
        elif tag == "HEAP":
            heap = json.loads(body)
    assert len(out) == len(cases), r.stdout
    assert load is not None and heap is not None, r.stdout
    return out, load, heap


@pytest.mark.parametrize("interp", INTERPRETERS)
def test_valid_clamped_rejected_and_replayed(interp, tmp_path):
    good = signed(10, "set_limits", {"charge_current_a": 0.02, "charge_voltage_v": 3.6})
    forged = bytearray(signed(11, "stop", {}))
    i = forged.index(b'"mac": "') + 8
    forged[i] = ord("0") if forged[i] != ord("0") else ord("1")
    cases = [
        ("good", TOPIC, good),
        ("replay_same", TOPIC, good),
        ("forged", TOPIC, bytes(forged)),
        ("clamp_hi", TOPIC, signed(11, "set_limits", {"charge_current_a": 0.5, "discharge_current_a": 0.03})),
        ("clamp_lo", TOPIC, signed(12, "set_limits", {"discharge_cutoff_v": 1.5})),
        ("v_too_low", TOPIC, signed(13, "set_limits", {"charge_voltage_v": 2.5})),
        ("older", TOPIC, signed(12, "stop", {})),
        ("v_too_low_replayed", TOPIC, signed(13, "set_limits", {"charge_voltage_v": 2.5})),
        ("pulse_ok", TOPIC, signed(14, "pulse", {"amplitude_a": 0.01, "duration_ms": 500})),
        ("pulse_long", TOPIC, signed(15, "pulse", {"amplitude_a": 0.01, "duration_ms": 10001})),
        ("pulse_big", TOPIC, signed(16, "pulse", {"amplitude_a": 0.06, "duration_ms": 500})),
        ("pulse_missing", TOPIC, signed(17, "pulse", {"amplitude_a": 0.01})),
        ("pulse_float_ms", TOPIC, signed(18, "pulse", {"amplitude_a": 0.01, "duration_ms": 500.5})),
        ("pulse_str", TOPIC, signed(19, "pulse", {"amplitude_a": "0.01", "duration_ms": 500})),
        ("limits_bool", TOPIC, signed(20, "set_limits", {"charge_current_a": True})),
        ("limits_empty", TOPIC, signed(21, "set_limits", {})),
        ("unknown_arg", TOPIC, signed(22, "set_limits", {"charge_current_amps": 0.01})),
        ("stop_arg", TOPIC, signed(23, "stop", {"now": True})),
        ("clear_fault", TOPIC, signed(24, "clear_fault", {})),
        ("start", TOPIC, signed(25, "start", {})),
        ("stop", TOPIC, signed(26, "stop", {})),
        ("int_current", TOPIC, signed(27, "set_limits", {"charge_current_a": 0})),
    ]
    r, load, heap = run_cases(interp, tmp_path, cases)
    assert load == ["new", 0]
    g = r["good"]
    assert g["accepted"] and g["code"] == "set_limits" and g["event"] == "cmd_ok"
    assert g["args"] == {"charge_current_a": 0.02, "charge_voltage_v": 3.6} and g["clamped"] == [] and g["last_ctr"] == 10
    assert r["replay_same"]["code"] == "replay" and "10" in r["replay_same"]["reason"] and r["replay_same"]["event"] == "cmd_reject"
    # A forged MAC is rejected and does not consume its counter: ctr 11 is still free.
    assert r["forged"]["code"] == "bad_mac" and r["forged"]["last_ctr"] == 10
    c = r["clamp_hi"]
    assert c["accepted"] and c["args"] == {"charge_current_a": 0.05, "discharge_current_a": 0.03}
    assert c["clamped"] == [["charge_current_a", 0.5, 0.05]] and "clamped charge_current_a 0.5 -> 0.05" in c["reason"]
    c = r["clamp_lo"]
    assert c["accepted"] and c["args"] == {"discharge_cutoff_v": 2.2} and c["clamped"] == [["discharge_cutoff_v", 1.5, 2.2]]
    # Below the rejecting side: refused, but the authentic counter is consumed.
    assert r["v_too_low"]["code"] == "out_of_range" and "below 3.0" in r["v_too_low"]["reason"] and r["v_too_low"]["last_ctr"] == 13
    assert r["older"]["code"] == "replay" and "ctr 12 not above last accepted 13" in r["older"]["reason"]
    assert r["v_too_low_replayed"]["code"] == "replay"
    p = r["pulse_ok"]
    assert p["accepted"] and p["args"] == {"amplitude_a": 0.01, "duration_ms": 500}
    assert r["pulse_long"]["code"] == "out_of_range" and "10001 above 10000" in r["pulse_long"]["reason"]
    assert r["pulse_big"]["code"] == "out_of_range" and "amplitude_a" in r["pulse_big"]["reason"]
    assert r["pulse_missing"]["code"] == "missing_arg" and "duration_ms" in r["pulse_missing"]["reason"]
    assert r["pulse_float_ms"]["code"] == "bad_type" and "integer" in r["pulse_float_ms"]["reason"]
    assert r["pulse_str"]["code"] == "bad_type" and "amplitude_a" in r["pulse_str"]["reason"]
    assert r["limits_bool"]["code"] == "bad_type"
    assert r["limits_empty"]["code"] == "missing_arg"
    assert r["unknown_arg"]["code"] == "unknown_arg" and "charge_current_amps" in r["unknown_arg"]["reason"]
    assert r["stop_arg"]["code"] == "unknown_arg"
    for name in ("clear_fault", "start", "stop"):
        assert r[name]["accepted"] and r[name]["code"] == name and r[name]["args"] == {}
    # 0 A is below the 1 uA floor of a current limit: rejected, not clamped up.
    assert r["int_current"]["code"] == "out_of_range"
    assert r["int_current"]["last_ctr"] == 27
    # Every consumed counter was written at once (forced save): 10, 11, 12 and 13..27.
    assert heap["writes"] == 18


@pytest.mark.parametrize("interp", INTERPRETERS)
def test_malformed_payloads_are_rejected_with_reasons(interp, tmp_path):
    ok = json.loads(signed(5, "stop", {}))
    cases = [
        ("truncated", TOPIC, signed(5, "stop", {})[:-7]),
        ("not_json", TOPIC, b"hello"),
        ("empty", TOPIC, b""),
        ("none", TOPIC, None),
        ("not_utf8", TOPIC, b"\xff\xfe{}"),
        ("array", TOPIC, b"[1,2,3]"),
        ("huge", TOPIC, b'{"v":1,"pad":"' + b"x" * 5000 + b'"}'),
        ("deep", TOPIC, b"[" * 2000 + b"]" * 2000),
        ("ctr_str", TOPIC, raw(dict(ok, ctr="5"))),
        ("ctr_neg", TOPIC, raw(dict(ok, ctr=-1))),
        ("ctr_float", TOPIC, raw(dict(ok, ctr=5.0))),
        ("mac_short", TOPIC, raw(dict(ok, mac="ab"))),
        ("mac_nonhex", TOPIC, raw(dict(ok, mac="z" * 64))),
        ("args_list", TOPIC, raw(dict(ok, args=[1]))),
        ("args_nested", TOPIC, raw(dict(ok, args={"x": {"y": 1}}))),
        ("args_null", TOPIC, raw(dict(ok, args={"x": None}))),
        ("args_many", TOPIC, raw(dict(ok, args={"a%d" % i: i for i in range(17)}))),
        ("unknown_cmd", TOPIC, raw(dict(ok, cmd="reboot"))),
        ("extra_field", TOPIC, raw(dict(ok, why="x"))),
        ("missing_mac", TOPIC, raw({k: v for k, v in ok.items() if k != "mac"})),
        ("wrong_version", TOPIC, raw(dict(ok, v=2))),
        ("cell_mismatch", TOPIC, raw(dict(ok, cell="cell-8"))),
        ("other_cell_topic", tm.topic("cell-8", "cmd"), signed(5, "stop", {}, cell="cell-8")),
        ("wrong_kind_topic", tm.topic(CELL, "event"), signed(5, "stop", {})),
        ("bad_topic", "garbage", signed(5, "stop", {})),
        ("other_key", TOPIC, signed(5, "stop", {}, key=b"\x02" * 32)),
        ("nan_arg", TOPIC, b'{"v":1,"cell":"cell-7","seq":1,"cmd":"set_limits","args":{"charge_current_a":NaN},"ctr":6,"mac":"' + b"0" * 64 + b'"}'),
        ("still_ok", TOPIC, signed(5, "stop", {})),
    ]
    r, _load, _heap = run_cases(interp, tmp_path, cases)
    for name, _t, _p in cases[:-1]:
        assert not r[name]["accepted"], name
        assert r[name]["reason"], name
        assert r[name]["last_ctr"] == 0, name  # nothing unauthenticated consumed a counter
    codes = {name: r[name]["code"] for name in r}
    for name in ("truncated", "not_json", "empty", "none", "not_utf8", "array", "huge", "deep", "ctr_str", "ctr_neg",
                 "ctr_float", "mac_short", "args_list", "args_many", "extra_field", "missing_mac", "wrong_version",
                 "cell_mismatch"):
        assert codes[name] == "bad_msg", (name, r[name])
    assert codes["unknown_cmd"] == "unknown_cmd" and "reboot" in r["unknown_cmd"]["reason"]
    assert codes["mac_nonhex"] == "bad_mac" and codes["other_key"] == "bad_mac"
    assert codes["args_nested"] == "bad_type" and codes["args_null"] == "bad_type"
    assert codes["other_cell_topic"] == codes["wrong_kind_topic"] == codes["bad_topic"] == "bad_topic"
    assert "exceeds 4096" in r["huge"]["reason"]
    assert "missing field mac" in r["missing_mac"]["reason"]
    assert codes["nan_arg"] in ("bad_msg", "bad_type")  # MicroPython's json refuses NaN; CPython's parses it
    assert r["still_ok"]["accepted"] and r["still_ok"]["last_ctr"] == 5


@pytest.mark.parametrize("interp", INTERPRETERS)
def test_counter_survives_reboot(interp, tmp_path):
    state = tmp_path / "state"
    first = signed(100, "set_limits", {"charge_current_a": 0.01})
    r1, load1, _ = run_cases(interp, tmp_path, [("first", TOPIC, first)], state_dir=state)
    assert load1 == ["new", 0] and r1["first"]["accepted"]
    # Reboot: a new process, a new handler, the same state directory.
    r2, load2, _ = run_cases(interp, tmp_path, [("replay", TOPIC, first), ("older", TOPIC, signed(99, "stop", {})), ("next", TOPIC, signed(101, "stop", {}))], state_dir=state)
    assert load2 == ["ok", 100]
    assert r2["replay"]["code"] == "replay" and r2["older"]["code"] == "replay"
    assert r2["next"]["accepted"] and r2["next"]["last_ctr"] == 101
    _r3, load3, _ = run_cases(interp, tmp_path, [], state_dir=state)
    assert load3 == ["ok", 101]


@pytest.mark.parametrize("interp", INTERPRETERS)
def test_durable_commands_are_marked_and_the_counter_moves_in_ram(interp, tmp_path):
    # What the application does with an unsaved counter (ctr_not_saved for
    # every durable command, stop still acts) is checked on the BMS itself,
    # with a failing filesystem: tests/mpcheck/firmware_app.py.
    cases = [
        ("limits", TOPIC, signed(1, "set_limits", {"charge_current_a": 0.01})),
        ("limits_again", TOPIC, signed(1, "set_limits", {"charge_current_a": 0.01})),
        ("stop", TOPIC, signed(2, "stop", {})),
        ("clear", TOPIC, signed(3, "clear_fault", {})),
        ("rejected", TOPIC, signed(4, "set_limits", {"charge_current_a": -1.0})),
    ]
    r, _, _ = run_cases(interp, tmp_path, cases)
    assert r["limits"]["accepted"] and r["limits"]["durable"] is True
    assert r["limits_again"]["code"] == "replay"  # the RAM counter moved
    assert r["stop"]["accepted"] and r["stop"]["durable"] is False
    assert r["clear"]["accepted"] and r["clear"]["durable"] is True
    assert not r["rejected"]["accepted"] and r["rejected"]["durable"] is False and r["rejected"]["last_ctr"] == 4


@pytest.mark.parametrize("interp", INTERPRETERS)
def test_no_key_rejects_everything(interp, tmp_path):
    r, _, _ = run_cases(interp, tmp_path, [("stop", TOPIC, signed(1, "stop", {}))], key=None)
    assert r["stop"]["code"] == "no_key" and r["stop"]["last_ctr"] == 0


def test_allocation_per_command_is_bounded(tmp_path):
    cases = [("c%d" % i, TOPIC, signed(i + 1, "set_limits", {"charge_current_a": 0.01 + i * 0.001})) for i in range(5)]
    cases.append(("forged", TOPIC, signed(50, "stop", {}, key=b"\x09" * 32)))
    r, _, heap = run_cases("micropython", tmp_path, cases, measure=True)
    assert all(r["c%d" % i]["accepted"] for i in range(5)) and r["forged"]["code"] == "bad_mac"
    alloc = heap["alloc"]
    # handle() alone: the counter's write comes after it (the harness and the application).
    assert max(alloc[:5]) < 12000 and alloc[5] < 6000, alloc
    print("alloc per accepted set_limits [bytes]:", alloc[:5], "forged:", alloc[5])


def test_load_key(tmp_path):
    p = tmp_path / "secrets.json"
    assert config.load_key(str(p)) == (None, "no secrets file " + str(p))
    p.write_text(json.dumps({"cmd_key_hex": KEY.hex()}))
    assert config.load_key(str(p)) == (KEY, None)
    p.write_text(json.dumps({"cmd_key_hex": "abcd"}))
    key, why = config.load_key(str(p))
    assert key is None and "32..64 bytes" in str(why)
    p.write_text(json.dumps({"cmd_key_hex": "zz" * 32}))
    assert str(config.load_key(str(p))[1]).endswith("not hex")
    p.write_text("{")
    assert str(config.load_key(str(p))[1]).endswith("not JSON")


def test_load_key_under_micropython(tmp_path, mpy):
    p = tmp_path / "secrets.json"
    p.write_text(json.dumps({"cmd_key_hex": KEY.hex()}))
    r = mpy(f"from firmware.config import load_key\nk, why = load_key({str(p)!r})\nprint('KEY', k.hex() if hasattr(k, 'hex') else k, why)", heapsize="256K")
    assert r.returncode == 0, r.stderr
    assert f"KEY {KEY.hex()} None" in r.stdout


@pytest.mark.parametrize("interp", INTERPRETERS)
def test_derived_bounds_only_allow_gentler_operation(interp, tmp_path):
    # Defaults: charge 0.01 A at 3.65 V, discharge 0.02 A to 2.5 V.
    cases = [
        ("more_current", TOPIC, signed(1, "set_limits", {"charge_current_a": 0.02, "discharge_current_a": 0.03})),
        ("less_current", TOPIC, signed(2, "set_limits", {"charge_current_a": 0.005})),
        ("higher_cv", TOPIC, signed(3, "set_limits", {"charge_voltage_v": 3.7})),
        ("lower_cv", TOPIC, signed(4, "set_limits", {"charge_voltage_v": 3.4})),
        ("cv_too_low", TOPIC, signed(5, "set_limits", {"charge_voltage_v": 3.3})),
        ("deeper_cutoff", TOPIC, signed(6, "set_limits", {"discharge_cutoff_v": 2.0})),
        ("cutoff_too_high", TOPIC, signed(7, "set_limits", {"discharge_cutoff_v": 2.8})),
        ("pulse_big", TOPIC, signed(8, "pulse", {"amplitude_a": 0.011, "duration_ms": 500})),
        ("pulse_ok", TOPIC, signed(9, "pulse", {"amplitude_a": 0.01, "duration_ms": 500})),
    ]
    r, _, _ = run_cases(interp, tmp_path, cases, cfg={})
    m = r["more_current"]
    assert m["accepted"] and m["args"] == {"charge_current_a": 0.01, "discharge_current_a": 0.02}
    assert m["clamped"] == [["charge_current_a", 0.02, 0.01], ["discharge_current_a", 0.03, 0.02]]
    assert r["less_current"]["args"] == {"charge_current_a": 0.005} and r["less_current"]["clamped"] == []
    assert r["higher_cv"]["args"] == {"charge_voltage_v": 3.65} and r["higher_cv"]["clamped"]
    assert r["lower_cv"]["args"] == {"charge_voltage_v": 3.4} and not r["lower_cv"]["clamped"]
    assert r["cv_too_low"]["code"] == "out_of_range" and "below 3.3625" in r["cv_too_low"]["reason"]
    assert r["deeper_cutoff"]["args"] == {"discharge_cutoff_v": 2.5}
    assert r["cutoff_too_high"]["code"] == "out_of_range" and "above 2.7875" in r["cutoff_too_high"]["reason"]
    assert r["pulse_big"]["code"] == "out_of_range" and r["pulse_ok"]["accepted"]


def test_config_rules():
    cfg = dict(defaults(), **EXPLICIT)
    assert cmdlimits.check(defaults()) is None
    assert cmdlimits.check(cfg) is None
    cfg["cmd_charge_current_max_a"] = 0.2  # above i_max_a 0.1
    assert cmdlimits.check(cfg) == "cmd_charge_current_max_a: above i_max_a"
    cfg = dict(defaults(), **EXPLICIT)
    cfg["cmd_charge_voltage_max_v"] = 3.9  # above v_max_v 3.8
    assert cmdlimits.check(cfg) == "cmd_charge_voltage_max_v: must be below v_max_v"
    cfg = dict(defaults(), **EXPLICIT)
    cfg["cmd_discharge_cutoff_max_v"] = 3.0  # equal to charge_voltage_min: a cutoff at the CV voltage
    assert cmdlimits.check(cfg) == "cmd_charge_voltage_min_v: must be above cmd_discharge_cutoff_max_v"
    cfg = dict(defaults(), **EXPLICIT)
    cfg["cmd_pulse_min_ms"] = 20000
    assert cmdlimits.check(cfg) == "cmd_pulse_max_ms: below cmd_pulse_min_ms"
    from firmware.config import spec

    cmd_rows = {k: row for k, row in spec().items() if k.startswith("cmd_")}
    assert len(cmd_rows) == 9
    for k, row in cmd_rows.items():
        assert row[2] <= row[0] <= row[3], k
