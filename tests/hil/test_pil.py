"""Processor in the loop: the firmware on a board at the end of a serial
line, its cell emulated here. The board is the real MicroPython VM (unix
port) behind a pseudo-terminal, booting its flashed main.py as a board does
(tests/host/ptyboard.py: only the cable and the reset line are fakes).

- The frame transport carries exactly what the FIFO link carries: the same
  cell, seed and config run over the line and over FIFOs end identical,
  with the firmware's prints between the frames.
- The harness drives it: ``platewise hil run --device`` flashes a
  scenario's config through the real mpremote (``platewise flash --pil``),
  the board resets into the run, faults are injected at the emulated
  sensors, and the scenario's criteria are judged as for a virtual board.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "host"))
from ptyboard import PtyBoard  # noqa: E402

from platewise.hil.cell.model import Cell, load_params  # noqa: E402
from platewise.hil.cell.sensors import Sensors  # noqa: E402
from platewise.hil.demo import firmware_config  # noqa: E402
from platewise.hil.hilcli import add_hil_commands  # noqa: E402
from platewise.hil.virtual_board import HilError, VirtualBoard  # noqa: E402
from platewise.host.flash import PIL_STATE_DIR, PIL_STUB  # noqa: E402
from platewise.host.mpybuild import build, mount  # noqa: E402

RUN_S = 3 * 3600


def _run(vb: VirtualBoard, trace: list) -> dict:
    vb.on_step = lambda b: trace.append((b.t_ms, b.current_a, b.contactor, b.cell.voltage_v))
    vb.start()
    assert vb.wait(timeout_s=240) == 0, vb.stdout[-2000:] + vb.stderr[-2000:]
    return vb.summary


def test_the_serial_line_carries_what_the_fifo_carries(mosquitto, tmp_path):
    params = load_params("lfp-liquid")
    fs = mount(build(), tmp_path / "board")
    (fs / "main.py").write_text(PIL_STUB)
    (fs / PIL_STATE_DIR).mkdir()
    (tmp_path / "fifo-state").mkdir()
    runs = {}
    for how in ("fifo", "serial"):
        cell = Cell(params, seed=4)
        cfg = firmware_config(cell, "pil-1", mosquitto.host, mosquitto.port, 1, max_run_s=RUN_S,
                              persist_dir=PIL_STATE_DIR if how == "serial" else str(tmp_path / "fifo-state"))  # fmt: skip
        trace: list = []
        if how == "fifo":
            summary = _run(VirtualBoard(cell, Sensors(params, seed=4), cfg), trace)
        else:
            (fs / "config.json").write_text(json.dumps(cfg))
            with PtyBoard(fs, boots=True) as board:
                vb = VirtualBoard(cell, Sensors(params, seed=4), cfg, device=board.device)
                summary = _run(vb, trace)
                assert board.booted == 1
                out = vb.stdout
        runs[how] = (summary, trace, cell.state())
    (fsum, ftrace, fcell), (ssum, strace, scell) = runs["fifo"], runs["serial"]
    assert len(ftrace) == len(strace) >= RUN_S - 5  # a tick a second, every one answered
    assert strace == ftrace  # the same actuator state at every tick, the same cell
    assert scell == fcell
    for k in ("data_messages", "published", "cycles", "fault", "dropped_samples", "connects"):
        assert ssum[k] == fsum[k], k
    assert ssum["published"] == ssum["data_messages"] > 1000  # telemetry every 10 s, and the events
    # The firmware's prints came between the frames, and none of a frame leaked into them.
    assert "qstr pool: n_pool=" in out and "PLATEWISE-EXIT {" in out and "\x00" not in out


def test_no_board_on_the_line_is_named(tmp_path):
    params = load_params("lfp-liquid")
    cell = Cell(params)
    cfg = firmware_config(cell, "pil-2", "127.0.0.1", 1, 1)
    fs = tmp_path / "empty"
    fs.mkdir()
    with PtyBoard(fs) as board:  # a REPL, no firmware: nobody answers the hellos
        vb = VirtualBoard(cell, Sensors(params), cfg, device=board.device, connect_timeout_s=1.0)
        with pytest.raises(HilError, match=r"no board answered on /dev/pts/\d+ within 1 s \(flashed with platewise flash --pil"):
            vb.start()
    with pytest.raises(HilError, match="serial port /nonexistent"):
        VirtualBoard(cell, Sensors(params), cfg, device="/nonexistent").start()


SCENARIO = """
[scenario]
description = "Processor in the loop: the voltage channel sticks mid-charge; the real board latches the fault and opens the contactor."
seed = 1
max_hours = 2.5
criteria = [
  'fault == "SENSOR_voltage_v_STUCK"',
  "contactor_open_after_fault_ticks <= 1",
  "lost_messages == 0",
]

[[events]]
at = "charge"
after_s = 600
do = "sensor_fault"
channel = "v"
fault = "stuck"
"""


def test_hil_run_drives_a_board_on_a_serial_port(tmp_path, capsys):
    import argparse

    sc = tmp_path / "pil-stuck-voltage.toml"
    sc.write_text(SCENARIO)
    fs = tmp_path / "board"
    fs.mkdir()
    out_json = tmp_path / "result.json"
    with PtyBoard(fs, boots=True) as board:
        sub = argparse.ArgumentParser(prog="platewise").add_subparsers(dest="command", required=True)
        add_hil_commands(sub)
        parser = sub.choices["hil"]
        args = parser.parse_args(["run", str(sc), "--device", board.device, "--json", str(out_json)])
        rc = args.handler(args)
        assert board.booted >= 2  # power-on (nothing flashed), then the reset into the run
    assert rc == 0, capsys.readouterr().out[-3000:]
    (res,) = json.loads(out_json.read_text())["scenarios"]
    assert res["passed"] is True and res["error"] is None
    got = {v["metric"]: v["value"] for v in res["verdicts"]}
    assert got["fault"] == "SENSOR_voltage_v_STUCK" and got["contactor_open_after_fault_ticks"] <= 1 and got["lost_messages"] == 0
    # The board's own flash holds the run's config, with its state folder.
    cfg = json.loads((fs / "config.json").read_text())
    assert cfg["persist_dir"] == PIL_STATE_DIR and cfg["secrets_path"] == "secrets.json"
    assert (fs / "main.py").read_text() == PIL_STUB


def test_a_power_cycle_is_refused_with_a_real_board(tmp_path):
    from platewise.hil.runner import run
    from platewise.hil.scenario import load

    sc = load(Path(__file__).resolve().parents[2] / "hil" / "scenarios" / "power-cycle-mid-charge.toml")
    with pytest.raises(HilError, match="power_cycle events need the virtual board"):
        run(sc, device="/dev/ttyACM0")
