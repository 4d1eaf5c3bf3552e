"""The real firmware (MicroPython unix port) against the emulated cell,
lock-stepped, publishing through a real Mosquitto broker."""

from __future__ import annotations

import socket
import time

import pytest

from platewise.hil.cell.model import Cell, load_params
from platewise.hil.cell.sensors import Sensors
from platewise.hil.demo import firmware_config
from platewise.hil.virtual_board import VirtualBoard


def _board(mosquitto, cycles=1, seed=0, **overrides):
    params = load_params("lfp-liquid")
    cell = Cell(params, seed=seed)
    cfg = firmware_config(cell, "hil-1", mosquitto.host, mosquitto.port, cycles, **overrides)
    trace = []

    def on_step(vb):
        trace.append((vb.t_s, vb.current_a, vb.contactor, vb.cell.voltage_v, vb.cell.inventory_ah))

    vb = VirtualBoard(cell, Sensors(params, seed=seed), cfg, on_step=on_step)
    return vb, cfg, trace


def test_one_cccv_cycle_terminates_and_counts_like_the_cell(mosquitto, collector):
    vb, cfg, trace = _board(mosquitto, cycles=1)
    vb.start()
    assert vb.wait(timeout_s=120) == 0, vb.stderr[-2000:]
    fw = vb.summary
    assert fw["cycles"] == 1 and fw["fault"] is None and fw["backlog"] == 0
    # The names the firmware interns fit the VM's first five qstr pools (620
    # names on this port; 570 measured). A sixth pool would take 7 KB of
    # heap for good, for the first name past the fifth's end
    # (docs/firmware.md, Heap): cut names before adding a pool.
    assert fw["qstr_pools"] <= 5, fw["qstr_count"]

    # Charge never exceeds the CC setpoint; the CV phase ends below C/20.
    charge = [i for _t, i, _c, _v, _inv in trace if i > 0]
    assert max(charge) == pytest.approx(cfg["charge_current_a"], rel=1e-9)
    assert min(charge) < cfg["charge_current_a"] * 0.5  # CV tapered the current
    # CV held the voltage (the loop's overshoot guard is 20 mV) and the charge
    # ended at the cut-off current: the last charging tick was at most one
    # P-loop step above cv_cutoff_a, the next one carried no current.
    last_chg = max(k for k, row in enumerate(trace) if row[1] > 0)
    first_cv = min(k for k, row in enumerate(trace) if row[1] > 0 and row[3] >= cfg["charge_voltage_v"] - 1e-3)
    assert max(row[3] for row in trace[first_cv : last_chg + 1]) <= cfg["charge_voltage_v"] + 0.02
    assert trace[last_chg][1] <= 1.5 * cfg["cv_cutoff_a"] and trace[last_chg + 1][1] == 0.0  # measured: 1.19 mA vs 1.0
    # True charge moved, from the emulator's side of the wire.
    dt = 1.0  # control_period_ms default 1000
    true_in = sum(i for _t, i, _c, _v, _inv in trace if i > 0) * dt / 3600
    true_out = -sum(i for _t, i, _c, _v, _inv in trace if i < 0) * dt / 3600
    # The discharge stopped at the cut-off: the last discharge tick saw V <= cut-off.
    last_dis = max(k for k, row in enumerate(trace) if row[1] < 0)
    assert trace[last_dis + 1][3] <= cfg["discharge_cutoff_v"] + 0.05 or trace[last_dis][3] <= cfg["discharge_cutoff_v"] + 0.3

    assert collector.wait_for(lambda c: len(c.of("cycle")) == 1)
    cyc = collector.of("cycle")[0]
    # The board's coulomb counter (through the sensors' gain error) matches
    # the true charge within the current channel's calibration error.
    assert cyc["charge_ah"] == pytest.approx(true_in, rel=0.01)
    assert cyc["discharge_ah"] == pytest.approx(true_out, rel=0.01)
    # CE is a ratio: the gain error cancels, so it matches much tighter.
    assert cyc["ce"] == pytest.approx(true_out / true_in, abs=0.0005)
    assert 0.9 < cyc["ce"] < 1.0  # an anode-less cell loses Li every cycle


def test_safety_fault_opens_contactor_and_is_published(mosquitto, collector):
    # Ambient is 25 C; an over-temperature limit of 24 C must trip at once.
    vb, cfg, trace = _board(mosquitto, cycles=1, t_max_c=24.0, max_run_s=120)
    vb.start()
    assert vb.wait(timeout_s=60) == 0, vb.stderr[-2000:]
    assert vb.summary["fault"] == "OT"
    # Debounce is 2 ticks: from the 2nd tick on, the contactor is open and no current flows.
    tripped = [k for k, row in enumerate(trace) if not row[2]]
    assert tripped and tripped[0] <= 2
    assert all(not row[2] and row[1] == 0.0 for row in trace[2:])
    assert len(trace) >= 100  # it kept running (latched) until max_run_s
    assert collector.wait_for(lambda c: any(e["event"] == "fault" for e in c.of("event")))
    ev = [e for e in collector.of("event") if e["event"] == "fault"]
    assert len(ev) == 1 and ev[0]["code"] == "OT" and ev[0]["limit"] == 24.0 and ev[0]["value"] > 24.0


def test_broken_config_keeps_cell_safe_and_names_the_field(mosquitto):
    vb, cfg, trace = _board(mosquitto, cycles=1, charge_voltage_v="3.65")
    vb.start()
    rc = vb.wait(timeout_s=30)
    assert rc != 0
    assert "PLATEWISE-CONFIG-ERROR charge_voltage_v" in vb.stdout
    assert vb.contactor is False and vb.current_a == 0.0
    assert all(row[1] == 0.0 for row in trace)


def test_offline_pacing_comes_from_the_virtual_board():
    # No broker at all: the firmware's tick wait runs virtual time at the
    # speed-up the server gave it at connect (20x here), not faster.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    params = load_params("lfp-liquid")
    cell = Cell(params, seed=0)
    cfg = firmware_config(cell, "hil-pace", "127.0.0.1", port, 1, max_run_s=40, flush_timeout_s=0)
    real = []
    vb = VirtualBoard(cell, Sensors(params, seed=0), cfg, on_step=lambda b: real.append(time.monotonic()), offline_speedup=20)
    vb.start()
    assert vb.wait(timeout_s=60) == 0, vb.stderr[-2000:]
    assert vb.summary["connects"] == 0 and vb.summary["published"] == 0
    assert vb.t_s == pytest.approx(40.0, abs=1.0)
    # 40 ticks of 1 s at 20x: at least 50 ms of real time each. real[0] is
    # the board's first readings (t = 0, before boot loads its config), so
    # the span starts at the first tick. The board waits in whole ms
    # (ticks_ms), so each end of the span may be off by up to 1 ms.
    assert len(real) >= 40
    assert real[-1] - real[1] >= 0.05 * (len(real) - 2) - 0.002


def test_backlog_limit_must_be_below_the_ram_outbox():
    params = load_params("lfp-liquid")
    cell = Cell(params, seed=0)
    cfg = firmware_config(cell, "hil-x", "127.0.0.1", 1883, 1, outbox_size=4, spill_path="")
    with pytest.raises(ValueError, match="backlog_max 4: must be below the firmware's outbox_size 4"):
        VirtualBoard(cell, Sensors(params, seed=0), cfg)
    assert VirtualBoard(cell, Sensors(params, seed=0), cfg, backlog_max=3).backlog_max == 3
