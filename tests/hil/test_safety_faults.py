"""Each safety condition, injected alone into the emulated cell, its sensors
or the board's actuator, while the real firmware runs: the supervisor
latches the fault, the contactor opens in the same tick (the next step the
emulator runs is with the contactor open), it stays open, and the fault is
published as an event, and persisted: the board's state file holds it, and
a reboot (a healthy cell, nothing injected) restores the latch and keeps
the contactor open.

Under-voltage is not here: it counts only under load, and the charger's
discharge cut-off (above the UV limit, enforced by config validation) ends
the load in the same tick, so UV cannot be reached alone in a working
board; firmware/safety.py's self-check covers its logic."""

from __future__ import annotations

import json

import pytest

from platewise.hil.cell.model import Cell, load_params
from platewise.hil.cell.sensors import Sensors
from platewise.hil.demo import firmware_config
from platewise.hil.virtual_board import VirtualBoard


def _after_charge_start(delay_s):
    def when(b, st):
        if b.current_a > 0 and "charge0" not in st:
            st["charge0"] = b.t_s
        return "charge0" in st and b.t_s >= st["charge0"] + delay_s

    return when


def _in_discharge(delay_s):
    def when(b, st):
        if b.current_a < 0 and "dis0" not in st:
            st["dis0"] = b.t_s
        return "dis0" in st and b.t_s >= st["dis0"] + delay_s

    return when


def _in_rest_after_charge(delay_s):
    def when(b, st):
        if b.current_a > 0:
            st["charged"] = True
        if st.get("charged") and b.current_a == 0 and not b.contactor and "rest0" not in st:
            st["rest0"] = b.t_s
        return "rest0" in st and b.t_s >= st["rest0"] + delay_s

    return when


def _at_cycle_2_charge():
    def when(b, st):
        if b.current_a < 0:
            st["discharged"] = True
        return st.get("discharged") and b.current_a > 0

    return when


def _ramp_pressure(rate_mpa_s):
    def act(b, st):
        p0 = st.setdefault("p0", b.cell.pressure_mpa)
        t0 = st.setdefault("t0", b.t_s)
        b.cell.inject("set_pressure", pressure_mpa=max(0.0, p0 + rate_mpa_s * (b.t_s - t0) - (b.cell.pressure_mpa - b.cell.fixture_pressure_mpa)))

    act.every_step = True
    return act


# name: (expected code, trigger, action, config overrides)
SCENARIOS = {
    "over_voltage": ("OV", _after_charge_start(600), lambda b, st: b.sensors.inject("v", "stuck", value=4.0), {}),
    "over_current_charge": (
        "OC_CHG",
        _after_charge_start(600),
        lambda b, st: setattr(b, "actuator_stuck_a", 1.5 * b.fw_config["i_max_a"]),
        {},
    ),
    "over_current_discharge": (
        "OC_DIS",
        _in_discharge(60),
        lambda b, st: setattr(b, "actuator_stuck_a", -1.5 * b.fw_config["i_max_a"]),
        {"max_run_s": 30000},
    ),
    "over_temperature": ("OT", _after_charge_start(600), lambda b, st: b.cell.inject("ambient", temperature_c=75.0), {}),
    "under_temperature": ("UT", _after_charge_start(600), lambda b, st: b.cell.inject("ambient", temperature_c=-25.0), {}),
    "pressure_high": ("P_HIGH", _after_charge_start(600), _ramp_pressure(0.005), {}),
    "pressure_low": ("P_LOW", _after_charge_start(600), _ramp_pressure(-0.005), {}),
    "pressure_rate": (
        "P_RATE",
        _after_charge_start(600),
        lambda b, st: b.cell.inject("set_pressure", pressure_mpa=b.cell.fixture_pressure_mpa + 1.0),
        {},
    ),
    "soft_short_at_rest": (
        "SOFT_SHORT",
        _in_rest_after_charge(60),
        lambda b, st: b.cell.inject("internal_short", resistance_ohm=2000.0),
        {"rest_s": 3600, "max_run_s": 30000},
    ),
    "ce_anomaly": (
        "CE_ANOMALY",
        _at_cycle_2_charge(),
        lambda b, st: b.cell.inject("internal_short", resistance_ohm=17000.0),
        {"max_cycles": 3, "max_run_s": 60000},
    ),
    "open_ntc": (
        "SENSOR_RANGE_temperature_c",
        _after_charge_start(600),
        lambda b, st: b.sensors.inject("t", "open"),
        {},
    ),
    "stuck_voltage_sensor": (
        "SENSOR_voltage_v_STUCK",
        _after_charge_start(600),
        lambda b, st: b.sensors.inject("v", "stuck"),
        {},
    ),
}


def _persisted(state_dir):
    """The newest good state file of the board (firmware/persist.py layout)."""
    best = None
    for p in state_dir.glob("pw_state_*.json"):
        body = p.read_bytes().rsplit(b"\n#", 1)[0]
        d = json.loads(body)
        if best is None or d["gen"] > best["gen"]:
            best = d
    return best


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_fault_latches_and_opens_the_contactor_in_the_same_tick(name, mosquitto, collector, tmp_path):
    code, when, act, overrides = SCENARIOS[name]
    params = load_params("lfp-liquid")
    cell = Cell(params, seed=1)
    overrides = dict(overrides)
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    overrides["persist_dir"] = str(state_dir)
    cycles = overrides.pop("max_cycles", 1)
    overrides.setdefault("max_run_s", 8000)  # the run ends this long after start, fault latched
    cfg = firmware_config(cell, "safety-1", mosquitto.host, mosquitto.port, cycles, **overrides)
    st: dict = {}
    trace = []

    def on_step(b):
        if "injected" not in st and when(b, st):
            st["injected"] = b.t_s
            act(b, st)
        elif "injected" in st and getattr(act, "every_step", False):
            act(b, st)
        trace.append((b.t_s, b.contactor, b.current_a))
        if "injected" in st and "stop" not in st and not b.contactor and b.t_s > st["injected"]:
            st["stop"] = b.t_s

    vb = VirtualBoard(cell, Sensors(params, seed=1), cfg, on_step=on_step)
    vb.start()
    assert vb.wait(timeout_s=240) == 0, vb.stderr[-2000:]
    assert "injected" in st, "the scenario never reached its injection point"
    assert vb.summary["fault"] == code, vb.summary
    assert collector.wait_for(lambda c: any(e["event"] == "fault" for e in c.of("event")))
    faults = [e for e in collector.of("event") if e["event"] == "fault"]
    assert len(faults) == 1 and faults[0]["code"] == code
    t_fault = faults[0]["t_s"]
    assert t_fault >= st["injected"] - 1.0
    period_s = cfg.get("control_period_ms", 1000) / 1000.0
    # The step after the tick that latched ran with the contactor open and no current ...
    nxt = [row for row in trace if abs(row[0] - (t_fault + period_s)) < 1e-6]
    assert nxt and nxt[0][1] is False and nxt[0][2] == 0.0, nxt
    # ... and it never closed again: the fault is latched.
    assert all(not c and i == 0.0 for t, c, i in trace if t > t_fault)
    # Persisted: the state file holds the latch and logs the fault.
    saved = _persisted(state_dir)
    assert saved["fault"] == code and saved["fault_log"][-1][1] == code
    # A reboot on a healthy cell, nothing injected: still latched, contactor never closes.
    reboot_cfg = dict(cfg, max_run_s=120)
    trace2 = []
    vb2 = VirtualBoard(Cell(params, seed=2), Sensors(params, seed=2), reboot_cfg, on_step=lambda b: trace2.append(b.contactor))
    vb2.start()
    assert vb2.wait(timeout_s=120) == 0, vb2.stderr[-2000:]
    assert vb2.summary["fault"] == code and trace2 and not any(trace2)
    assert collector.wait_for(
        lambda c: any(e["event"] == "fault" and "before reboot" in e["msg"] and e["code"] == code for e in c.of("event"))
    )


def test_over_temperature_warning_derates_the_charge_without_latching(mosquitto, collector, tmp_path):
    """OT_WARN (safety.py, severity warning): the cell held at 57 C, between
    the warning (t_warn_c, 55 C) and the fault (t_max_c, 60 C), while it
    charges. The warning is published, the charge current falls to
    warn_charge_factor (0.5) of nominal at once, the contactor stays closed
    and nothing latches; back at 25 C the warning clears after 60 s below
    its threshold, and the current climbs back at the limiter's slew."""
    params = load_params("lfp-liquid")
    cell = Cell(params, seed=1)
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    cfg = firmware_config(cell, "safety-w", mosquitto.host, mosquitto.port, 1, persist_dir=str(state_dir), max_run_s=3000)
    nominal_a = cfg["charge_current_a"]
    st: dict = {}
    trace = []

    def on_step(b):
        if b.current_a > 0 and "charge0" not in st:
            st["charge0"] = b.t_s
        if "charge0" in st and "hot" not in st and b.t_s >= st["charge0"] + 600:
            st["hot"] = b.t_s
            b.cell.inject("ambient", temperature_c=57.0)
        if "hot" in st and "cool" not in st and b.t_s >= st["hot"] + 900:
            st["cool"] = b.t_s
            b.cell.inject("ambient", temperature_c=params["ambient_c"])
        trace.append((b.t_s, b.contactor, b.current_a, b.cell.temperature_c))

    vb = VirtualBoard(cell, Sensors(params, seed=1), cfg, on_step=on_step)
    vb.start()
    assert vb.wait(timeout_s=240) == 0, vb.stderr[-2000:]
    assert "cool" in st, st
    assert vb.summary["fault"] is None, vb.summary
    assert collector.wait_for(lambda c: len([e for e in c.of("event") if e["code"] == "OT_WARN"]) >= 2)
    events = collector.of("event")
    assert not [e for e in events if e["event"] == "fault"]
    warn = [e for e in events if e["code"] == "OT_WARN"]
    assert len(warn) == 2 and all(e["event"] == "alarm" for e in warn), warn
    raised, cleared = warn
    assert "derated" in raised["msg"] and "cleared" in cleared["msg"]
    assert raised["limit"] == 55.0 and raised["value"] > 55.0  # t_warn_c's default
    assert cleared["value"] < 55.0
    assert st["hot"] < raised["t_s"] < st["cool"] < cleared["t_s"]
    assert max(row[3] for row in trace) < 60.0  # the cell never reached the fault's 60 C
    period_s = cfg.get("control_period_ms", 1000) / 1000.0
    # Before: the nominal current. From the tick after the raise to the clear:
    # half of it, contactor closed. Then back up at 0.005 of nominal per s.
    before = [row for row in trace if st["charge0"] + 10 <= row[0] <= raised["t_s"]]
    during = [row for row in trace if raised["t_s"] + period_s <= row[0] <= cleared["t_s"]]
    after = [row for row in trace if row[0] > cleared["t_s"]]
    assert before and all(row[1] and row[2] == pytest.approx(nominal_a, rel=1e-5) for row in before)
    assert during and all(row[1] and row[2] == pytest.approx(0.5 * nominal_a, rel=1e-5) for row in during)
    assert after[0][2] == pytest.approx(0.505 * nominal_a, rel=1e-4)  # one second of slew, not a step
    back = [row[0] for row in after if row[2] == pytest.approx(nominal_a, rel=1e-5)]
    assert back and back[0] - cleared["t_s"] == pytest.approx(100.0, abs=1.5)
    assert all(row[1] for row in trace if row[0] >= st["charge0"] + 10)  # never opened
