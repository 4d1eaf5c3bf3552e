"""firmware/persist.py under the real MicroPython unix port (and CPython):
every run of tests/firmware/mp/mp_persist.py is one boot, so a new process
sees only what is on disk. Files are torn and corrupted between boots."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from firmware import persist, stateformat, stateload
from platewise.host.mpybuild import micropython_env, micropython_path
from repo_paths import REPO_ROOT

SCRIPT = REPO_ROOT / "tests" / "firmware" / "mp" / "mp_persist.py"
INTERPRETERS = ("micropython", "cpython")


def boot(interp: str, *args, cwd: Path = REPO_ROOT) -> dict:
    if interp == "micropython":
        argv = [micropython_path(), "-X", "heapsize=256K", str(SCRIPT), *map(str, args)]
        env = micropython_env()
    else:
        argv = [sys.executable, str(SCRIPT), *map(str, args)]
        env = {"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"}
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, cwd=cwd)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("OUT ")]
    assert len(lines) == 1, r.stdout
    return json.loads(lines[0][4:])


def slots(d: Path) -> list[tuple[int, Path]]:
    """(gen or -1 if unreadable, path) of both slots, newest first."""
    out = []
    for name in stateformat.SLOTS:
        p = d / name
        if not p.exists():
            continue
        state, _why = stateload.parse_state(p.read_bytes())
        out.append((state["gen"] if state else -1, p))
    return sorted(out, key=lambda x: x[0], reverse=True)


@pytest.fixture(params=INTERPRETERS)
def interp(request):
    return request.param


def test_roundtrip_keeps_two_generations(interp, tmp_path):
    w = boot(interp, "write", tmp_path)
    assert w["writes"] == 3 and w["write_errors"] == 0 and not w["dirty"]
    r = boot(interp, "read", tmp_path)
    assert r["status"] == "ok" and r["event"] is None and r["gen"] == 3
    assert r["boots"] == 1 and r["cycles"] == 3 and r["charge_ah"] == 1.25 and r["discharge_ah"] == 1.2
    assert r["last_ctr"] == 42 and r["fault"] == "OV" and r["fault_log"] == [[100.5, "OV", 3.9, 3.8]]
    assert r["baselines"] == {"r0_ohm": 1.61} and r["seq_ceiling"] == 1024
    s = slots(tmp_path)
    assert [g for g, _ in s] == [3, 2]  # newest and the previous good one
    assert not (tmp_path / stateformat.TMP).exists()


def test_torn_newest_falls_back_to_previous_generation(interp, tmp_path):
    boot(interp, "write", tmp_path)
    (gen_new, newest), (gen_old, _older) = slots(tmp_path)
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 2])  # power cut mid-write
    r = boot(interp, "read", tmp_path)
    assert r["status"] == "fallback" and r["gen"] == gen_old == 2
    # gen 2 had the counter and totals, not the fault latched in gen 3.
    assert r["last_ctr"] == 42 and r["cycles"] == 3 and r["fault"] is None
    assert r["event"][0] == "persist_fallback" and "no checksum line" in r["event"][1]
    assert r["seq_ceiling"] == 1024 + 1024  # one block skipped: gen 3 might have reserved it
    # The next write goes over the torn slot, never over the good one.
    b = boot(interp, "boot", tmp_path, 0, "crash")
    assert b["status"] == "fallback" and b["base"] == 1024 + 100  # the script boots with seq_block 100
    gens = [g for g, _ in slots(tmp_path)]
    assert gens == [3, 2]


@pytest.mark.parametrize("where", ["body", "checksum"])
def test_corrupt_newest_falls_back(interp, tmp_path, where):
    boot(interp, "write", tmp_path)
    (_g, newest), _ = slots(tmp_path)
    data = bytearray(newest.read_bytes())
    i = data.index(b'"last_ctr": 42') + 12 if where == "body" else data.rindex(b"#") + 3
    data[i] = ord("7") if data[i] != ord("7") else ord("8")  # one flipped digit, same length
    newest.write_bytes(bytes(data))
    r = boot(interp, "read", tmp_path)
    assert r["status"] == "fallback" and r["gen"] == 2 and r["last_ctr"] == 42
    assert "checksum mismatch" in r["reason"]


def test_both_bad_gives_defaults_and_a_flag(interp, tmp_path):
    boot(interp, "write", tmp_path)
    for _g, p in slots(tmp_path):
        p.write_bytes(p.read_bytes()[:-5])
    r = boot(interp, "read", tmp_path)
    assert r["status"] == "defaults" and r["gen"] == 0 and r["last_ctr"] == 0 and r["cycles"] == 0
    assert r["event"][0] == "persist_lost" and r["reason"].count("checksum") == 2


def test_no_files_is_a_first_boot(interp, tmp_path):
    r = boot(interp, "read", tmp_path)
    assert r["status"] == "new" and r["event"] is None and r["last_ctr"] == 0


def test_write_rate_is_bounded_and_force_writes_at_once(interp, tmp_path):
    r = boot(interp, "rate", tmp_path)
    assert r["within"] == 1  # 10 saves of changing state inside 1000 ms: one write
    assert r["after"] == 2  # due after min_interval
    assert r["clean"] == 2  # due, but nothing changed
    assert r["forced_ok"] and r["forced"] == 3
    assert r["ctr"] == 4 and r["fault"] == 5 and r["clear"] == 6
    assert r["deferred"] is False and r["deferred_writes"] == 6
    assert r["wrap_early"] is False and r["wrap_late"] is True and r["wrap_writes"] == 7


def test_write_errors_keep_state_in_ram_and_retry(interp, tmp_path):
    r = boot(interp, "oserror", tmp_path)
    assert r["start_base"] == 0 and r["ctr_saved"] is False
    assert r["after_open_fail"] == [0, 2, True, 5, 1024]  # 2 failed writes, state kept in RAM
    assert r["rename_saved"] is False and r["after_rename_fail"] == [0, 3, True]
    assert r["retry_early"] is False and r["retry_due"] is True
    assert r["after_recover"] == [1, 3, False, 1]
    back = boot(interp, "read", tmp_path)
    assert back["status"] == "ok" and back["last_ctr"] == 5 and back["seq_ceiling"] == 1024


def test_fault_log_is_a_bounded_ring(interp, tmp_path):
    r = boot(interp, "faultlog", tmp_path)
    assert len(r["fault_log"]) == 16 and r["fault_log"][0][1] == "F5" and r["fault_log"][-2][1] == "F19"
    assert r["fault_log"][-1] == [20.0, "SENSOR_voltage_v", 0.0, 0.0]  # NaN/inf stored as 0
    assert r["cycles"] == 0 and r["write_errors"] == 0
    back = boot(interp, "read", tmp_path)
    assert back["status"] == "ok" and back["fault"] == "SENSOR_voltage_v"
    assert [e[1] for e in back["fault_log"]] == ["F%d" % i for i in range(5, 20)] + ["SENSOR_voltage_v"]


def test_seq_is_monotonic_across_reboots_and_crashes(interp, tmp_path):
    # seq_block 100 in the script. Boot 1 uses 250 numbers and crashes.
    b1 = boot(interp, "boot", tmp_path, 250, "crash")
    assert b1["base"] == 0 and b1["last_seq"] == 250 and b1["seq_ceiling"] > 250
    b2 = boot(interp, "boot", tmp_path, 10, "crash")
    assert b1["last_seq"] < b2["base"] + 1 <= b1["last_seq"] + 1 + 100  # no reuse; at most a block skipped
    b3 = boot(interp, "boot", tmp_path, 5, "clean")
    assert b2["last_seq"] < b3["base"] + 1 <= b2["last_seq"] + 1 + 100
    b4 = boot(interp, "boot", tmp_path, 1, "crash")
    assert b4["base"] == b3["last_seq"]  # a clean shutdown leaves no gap
    assert [b["boots"] for b in (b1, b2, b3, b4)] == [1, 2, 3, 4]
    used = []
    for b in (b1, b2, b3, b4):
        used += list(range(b["base"] + 1, b["last_seq"] + 1))
    assert used == sorted(set(used))  # strictly increasing over all boots


def test_empty_dir_is_the_current_directory(interp, tmp_path):
    # The default persist_dir "": "/" on a board at boot, the run's temp dir in HIL.
    w = boot(interp, "write", "", cwd=tmp_path)
    assert w["writes"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(stateformat.SLOTS)
    assert boot(interp, "read", "", cwd=tmp_path)["last_ctr"] == 42


def test_parse_state_rejects_bad_fields():
    good = persist.Store.__new__(persist.Store)
    body = json.dumps({"fmt": 1, "gen": 2, "last_ctr": -1}).encode()
    blob = body + b"\n#" + stateformat.checksum(body).encode() + b"\n"
    assert stateload.parse_state(blob) == (None, "bad value of last_ctr")
    body = json.dumps({"fmt": 1, "gen": 2, "fault_log": [[1, "OV", 2]]}).encode()
    assert stateload.parse_state(body + b"\n#" + stateformat.checksum(body).encode() + b"\n")[1] == "bad fault_log entry"
    assert stateload.parse_state(b"x" * 5000)[1] == "file too large"
    assert good is not None


def test_heap_figures_under_micropython(tmp_path):
    r = boot("micropython", "heap", tmp_path)
    assert r["ok"]
    # 64-bit unix port figures (a 32-bit MCU needs about half).
    # load() is once per boot and transient (two 4 KiB reads, JSON parse).
    assert r["import"] < 20000 and r["save"] < 8000 and r["load"] < 32000, r
    print("persist heap [bytes]:", r)
