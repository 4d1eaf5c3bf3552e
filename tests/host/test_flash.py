"""`platewise flash` through the real mpremote onto a board that is the real
MicroPython VM on a serial line (tests/hil/ptyboard.py); the flashed
filesystem then boots as a board boots, against the emulated cell."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from platewise.host.mpybuild import micropython_env, micropython_path
from platewise.hil.cell.model import Cell, load_params
from platewise.hil.cell.sensors import Sensors
from platewise.hil.demo import firmware_config
from platewise.host.mpybuild import build
from platewise.hil.virtual_board import VirtualBoard
from platewise.host.broker import MosquittoBroker
from ptyboard import PtyBoard

CELL = "flashed-1"


def _flash(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "platewise", "flash", *argv], capture_output=True, text=True, timeout=300)


def test_flash_then_boot_the_flashed_board(tmp_path):
    fs = tmp_path / "board-fs"
    fs.mkdir()
    # A stale source module from an older install: it would shadow the new bytecode.
    (fs / "firmware").mkdir()
    (fs / "firmware" / "app.py").write_text("raise ImportError('stale')\n")
    with MosquittoBroker() as broker:
        params = load_params("lfp-liquid")
        cell = Cell(params, seed=5)
        cfg = firmware_config(cell, CELL, broker.host, broker.port, 1, max_run_s=900)
        (tmp_path / "config.json").write_text(json.dumps(cfg))
        (tmp_path / "secrets.json").write_text(json.dumps({"cmd_key_hex": bytes(range(32)).hex()}))
        with PtyBoard(fs) as dev:
            t0 = time.monotonic()
            r = _flash(dev.device, "--config", str(tmp_path / "config.json"), "--secrets", str(tmp_path / "secrets.json"), "--no-reset")
            flash_s = time.monotonic() - t0
        assert r.returncode == 0, r.stdout + r.stderr
        print(f"flashed in {flash_s:.1f} s")
        # What is on the board: every module as bytecode, nothing stale, the stub, the files.
        tree = build()
        want = sorted(str(p.relative_to(tree)) for p in tree.rglob("*.mpy"))
        got = sorted(str(p.relative_to(fs)) for p in fs.rglob("*.mpy"))
        assert got == want and len(got) > 25
        assert not list((fs / "firmware").rglob("*.py")) and not list((fs / "shared").rglob("*.py"))
        assert all((fs / p).read_bytes() == (tree / p).read_bytes() for p in want)
        assert "firmware.main.main()" in (fs / "main.py").read_text()
        assert json.loads((fs / "config.json").read_text()) == cfg
        assert json.loads((fs / "secrets.json").read_text())["cmd_key_hex"] == bytes(range(32)).hex()
        assert not (fs / "platewise.hold").exists()  # the maintenance hold is lifted at the end
        # Boot it: /main.py, the flashed config, state files in its own folder.
        vb = VirtualBoard(cell, Sensors(params, seed=5), cfg, flash_dir=fs)
        vb.start()
        assert vb.wait(timeout_s=120) == 0, vb.stdout[-1000:] + vb.stderr[-2000:]
        assert vb.summary["published"] == vb.summary["data_messages"] > 80 and vb.summary["fault"] is None
        assert (fs / "pw_state_a.json").exists()  # persisted where a board keeps it


def test_flash_refuses_a_bad_config_and_touches_nothing(tmp_path):
    fs = tmp_path / "board-fs"
    fs.mkdir()
    bad = tmp_path / "config.json"
    bad.write_text(json.dumps({"charge_voltage_v": "4.2"}))
    with PtyBoard(fs) as dev:
        r = _flash(dev.device, "--config", str(bad), "--no-reset")
    assert r.returncode == 2 and "charge_voltage_v: expected a number" in r.stderr, r.stderr
    assert list(fs.iterdir()) == []
    board = tmp_path / "board.json"
    board.write_text(json.dumps({"ntc": {"pin": 99}}))
    r = _flash("/dev/null", "--board-config", str(board), "--board", "rp2", "--dry-run")
    assert r.returncode == 2 and "ntc" in r.stderr, r.stderr
    r = _flash("/dev/null", "--board-config", str(board), "--dry-run")
    assert r.returncode == 2 and "--board rp2|esp32" in r.stderr
    # A config that is not there is an error (the firmware would boot on defaults).
    r = _flash("/dev/null", "--config", str(tmp_path / "nope.json"), "--dry-run")
    assert r.returncode == 2 and "nope.json: no such file" in r.stderr


def test_the_hold_file_keeps_the_firmware_from_starting(tmp_path):
    """What `platewise flash` relies on before it copies: after the hold reset,
    /main.py sees platewise.hold and returns at once (no board, so no
    watchdog), leaving the REPL to mpremote."""
    tree = build()
    (tmp_path / "platewise.hold").write_text("")
    (tmp_path / "main.py").write_text("import firmware.main\nfirmware.main.main()\n")
    env = micropython_env(path=tree)  # no PLATEWISE_HIL: it must not even look for a board
    r = subprocess.run([micropython_path(), "main.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "PLATEWISE-HOLD platewise.hold present" in r.stdout, r.stdout + r.stderr
    (tmp_path / "platewise.hold").unlink()
    r = subprocess.run([micropython_path(), "main.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "PLATEWISE_HIL=host:port is not set" in r.stdout + r.stderr  # without it, the firmware starts


def test_flash_holds_and_resets_before_it_copies(tmp_path):
    from firmware.main import HOLD_FILE
    from platewise.host import flash

    assert f"'{HOLD_FILE}'" in flash._HOLD and f"'{HOLD_FILE}'" in flash._UNHOLD  # one name on both sides
    cfg = tmp_path / "config.json"
    cfg.write_text("{}")
    r = _flash("/dev/ttyACM0", "--config", str(cfg), "--dry-run")
    assert r.returncode == 0, r.stderr
    hold, copy = r.stdout.strip().splitlines()
    assert "platewise.hold" in hold and hold.endswith("+ reset")
    assert "fs cp" not in hold
    assert "fs cp" in copy and "os.remove('platewise.hold')" in copy and copy.endswith("+ reset")
    r = _flash("/dev/ttyACM0", "--config", str(cfg), "--dry-run", "--no-reset")
    (one,) = r.stdout.strip().splitlines()
    assert "platewise.hold" in one and "reset" not in one.split("exec")[-1]
