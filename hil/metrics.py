"""The metrics a HIL scenario is judged on: one registry, computed from a run record.

A run record (hil/runner.py ``Record``) holds the virtual board's per-tick
trace (the emulator's truth: time, terminal voltage, current, temperature,
pressure, contactor, series resistance, lithium inventory), the events the
scenario fired, what the twin stored (the firmware's events, telemetry and
cycle messages, with their times on the scenario's clock), the twin's view
of the cell and the firmware's exit summaries (one per boot).

``METRICS[name]`` is a ``Metric``: its unit, one doc line, the function of
the record, and the default tolerance against a baseline (in the metric's
unit; 0 for counts and codes: any move is a regression). ``compute(rec)``
gives every metric's value; a metric that does not apply to a run (no
fault, no throttle) is None. ``platewise hil list --metrics`` prints the
registry.

Failure behaviour: a metric function that raises is a bug in the
registry and propagates; missing data gives None, never a guess.
"""

from __future__ import annotations

from platewise.shared.wire import CHARGE_CC, CHARGE_CV

_CHARGING = (CHARGE_CC, CHARGE_CV)


class Metric:
    def __init__(self, name: str, unit: str, doc: str, fn, tol: float = 0.0, baseline: bool = True):
        self.name = name
        self.unit = unit
        self.doc = doc
        self.fn = fn
        self.tol = tol
        # False for figures of the machine, not of the firmware (wall time).
        self.baseline = baseline


METRICS: dict[str, Metric] = {}


def metric(unit: str, doc: str, tol: float = 0.0, baseline: bool = True):
    def reg(fn):
        METRICS[fn.__name__] = Metric(fn.__name__, unit, doc, fn, tol, baseline)
        return fn

    return reg


def compute(rec) -> dict:
    return {name: m.fn(rec) for name, m in METRICS.items()}


# --- helpers on the record -------------------------------------------------
def _events(rec, event=None, code=None):
    return [e for e in rec.fw_events if (event is None or e["event"] == event) and (code is None or e["code"] == code)]


def _first_fired_s(rec):
    return rec.fired[0][0] if rec.fired else None


def _last_fired_s(rec):
    return rec.fired[-1][0] if rec.fired else None


def _live_faults(rec):
    """Fault events latched in this run (a latch restored at boot says 'before reboot')."""
    return [e for e in _events(rec, "fault") if "before reboot" not in e.get("msg", "")]


def _first_fault_s(rec):
    live = _live_faults(rec)
    return live[0]["t_s"] if live else None


def _nominal_a(rec):
    return rec.cfg["charge_current_a"]


def _round(x, nd=6):
    return None if x is None else round(x, nd)


# --- safety ----------------------------------------------------------------
@metric("-", "fault code the firmware latched (its exit summary), null if none")
def fault(rec):
    return rec.fw[-1].get("fault") if rec.fw else None  # a run ended after its fault's tail keeps the code


@metric("count", "fault events the firmware published (a restored latch after a reboot not counted)")
def faults(rec):
    return len(_live_faults(rec))


def _fault_trace(rec):
    """(fault tick s, trace times, contactor column, tick length s), or None without a fault."""
    t_fault = _first_fault_s(rec)
    if t_fault is None:
        return None
    return t_fault, rec.trace["t_s"], rec.trace["contactor"], rec.cfg.get("control_period_ms", 1000) / 1000.0


def _ticks_to_open(t_fault, t, c, period_s):
    for k in range(len(t)):
        if t[k] > t_fault + 1e-6 and not c[k]:
            return int(round((t[k] - t_fault) / period_s))
    return None


def _closed_after_s(t_fault, t, c, period_s):
    return sum(period_s for k in range(len(t)) if t[k] > t_fault + period_s + 1e-6 and c[k])


@metric("ticks", "control ticks from the tick that latched the first fault to the first step run with the contactor open")
def contactor_open_after_fault_ticks(rec):
    ft = _fault_trace(rec)
    return None if ft is None else _ticks_to_open(*ft)


@metric("s", "simulated seconds the contactor was closed after the first fault (a latch keeps it open: 0)")
def contactor_closed_after_fault_s(rec):
    ft = _fault_trace(rec)
    return None if ft is None else _closed_after_s(*ft)


@metric("s", "simulated seconds from the scenario's first event to the first fault", tol=2.0)
def fault_after_event_s(rec):
    t0, tf = _first_fired_s(rec), _first_fault_s(rec)
    return None if t0 is None or tf is None else _round(tf - t0, 3)


@metric("-", "codes of the alarm (warning) events, comma-joined in order")
def alarms(rec):
    return ",".join(e["code"] for e in _events(rec, "alarm")) or None


@metric("V", "highest true terminal voltage of the cell", tol=0.01)
def max_cell_voltage_v(rec):
    v = rec.trace["voltage_v"]
    return _round(max(v)) if len(v) else None


@metric("degC", "highest true cell temperature", tol=0.5)
def max_temperature_c(rec):
    v = rec.trace["temperature_c"]
    return _round(max(v), 3) if len(v) else None


@metric("MPa", "highest true stack pressure", tol=0.05)
def max_pressure_mpa(rec):
    v = rec.trace["pressure_mpa"]
    return _round(max(v), 4) if len(v) else None


@metric("Ah", "charge pushed past an empty cathode (electrolyte oxidised: overcharge)", tol=1e-6)
def overcharge_ah(rec):
    return _round(rec.cell_end.get("overcharge_ah"), 9)


@metric("A", "highest current through the cell after the scenario's first event (+1 tick)", tol=1e-6)
def max_current_after_event_a(rec):
    t0 = _first_fired_s(rec)
    if t0 is None:
        return None
    t, i = rec.trace["t_s"], rec.trace["current_a"]
    after = [i[k] for k in range(len(t)) if t[k] > t0 + 1.0 + 1e-6]
    return _round(max(after), 9) if after else None


@metric("A", "highest charge current after the first accepted command (+1 tick): what the command allowed", tol=1e-6)
def max_charge_after_cmd_ok_a(rec):
    ok = _events(rec, "cmd_ok")
    if not ok:
        return None
    t, i = rec.trace["t_s"], rec.trace["current_a"]
    after = [i[k] for k in range(len(t)) if t[k] > ok[0]["t_s"] + 1.0 + 1e-6 and i[k] > 0]
    return _round(max(after), 9) if after else None


@metric("-", "the cell's hard short happened (emulator truth)")
def hard_short(rec):
    return bool(rec.cell_end.get("hard_short"))


@metric("-", "the cell's separator fractured (emulator truth)")
def fractured(rec):
    return bool(rec.cell_end.get("fractured"))


# --- commands --------------------------------------------------------------
@metric("count", "commands the firmware accepted (cmd_ok events)")
def cmd_ok(rec):
    return len(_events(rec, "cmd_ok"))


@metric("count", "commands the firmware rejected (cmd_reject events)")
def cmd_rejected(rec):
    return len(_events(rec, "cmd_reject"))


@metric("-", "reject codes of the rejected commands, comma-joined in order (bad_mac, replay, out_of_range, ...)")
def cmd_reject_codes(rec):
    return ",".join(e["code"] for e in _events(rec, "cmd_reject")) or None


# --- data path: board -> broker -> twin -----------------------------------
@metric("count", "data messages the firmware published, the boots that ended cleanly (a boot cut short has no count: see received)")
def published(rec):
    return sum(f.get("published", 0) for f in rec.fw)


@metric("count", "data messages the twin received")
def received(rec):
    return rec.twin_cell.get("received", 0)


@metric("count", "published by the board and never received by the twin (published - received, not below 0; "
        "after a power cut, whose count died with the board, the twin's sequence gaps)")
def lost_messages(rec):
    if not rec.fw:
        return None
    if any(f.get("killed") for f in rec.fw):
        return rec.twin_cell.get("gaps", 0)
    pub = sum(f.get("published", 0) for f in rec.fw)
    return max(0, pub - rec.twin_cell.get("received", 0))


@metric("count", "sequence gaps the twin counted (a reboot's skipped block is not a gap)")
def seq_gaps(rec):
    return rec.twin_cell.get("gaps", 0)


@metric("count", "duplicate data messages at the twin")
def duplicates(rec):
    return rec.twin_cell.get("duplicates", 0)


@metric("count", "samples and priority messages the firmware dropped from a full outbox")
def dropped_messages(rec):
    return sum(f.get("dropped_samples", 0) + f.get("dropped_priority", 0) for f in rec.fw)


@metric("count", "MQTT connections the firmware made, all boots")
def connects(rec):
    return sum(f.get("connects", 0) for f in rec.fw)


@metric("count", "boots of the board (power cycles + 1)")
def boots(rec):
    return len(rec.fw)


@metric("bytes", "highest heap use the firmware measured, all boots", tol=4096.0)
def heap_max_bytes(rec):
    return max((f.get("heap_max_bytes", 0) for f in rec.fw), default=None)


# --- charging and estimation ----------------------------------------------
@metric("count", "cycles the firmware completed (cycle messages at the twin)")
def cycles(rec):
    return len(rec.cycles)


@metric("count", "cycles flagged partial (the board booted into them: their CE is not judged)")
def partial_cycles(rec):
    return len([c for c in rec.cycles if c.get("partial")])


@metric("count", "cycle numbers reported more than once (a reboot must carry the number on)")
def repeated_cycle_numbers(rec):
    numbers = [c["cycle"] for c in rec.cycles]
    return len(numbers) - len(set(numbers))


@metric("count", "formation cycles (cycle messages flagged formation)")
def formation_cycles(rec):
    return len([c for c in rec.cycles if c.get("formation")])


@metric("mA/cm2", "highest plating current density during formation", tol=1e-4)
def formation_max_ma_cm2(rec):
    form = [c["t_s"] for c in rec.cycles if c.get("formation")]
    if not form:
        return None
    t, i = rec.trace["t_s"], rec.trace["current_a"]
    dens = [1000.0 * i[k] / rec.params["area_cm2"] for k in range(len(t)) if t[k] <= max(form) and i[k] > 0]
    return _round(max(dens), 6) if dens else None


@metric("s", "simulated seconds from the scenario's first event to the first THROTTLE event", tol=5.0)
def throttle_after_s(rec):
    t0 = _first_fired_s(rec)
    th = [e["t_s"] for e in _events(rec, "throttle", "THROTTLE") if t0 is not None and e["t_s"] >= t0]
    return None if not th else _round(th[0] - t0, 3)


@metric("count", "throttle events (THROTTLE and its release)")
def throttle_events(rec):
    return len(_events(rec, "throttle"))


@metric("-", "lowest plating limit over the nominal charge current (telemetry while charging)", tol=0.02)
def min_limit_ratio(rec):
    lim = [m["i_limit_a"] for m in rec.telemetry if m.get("i_limit_a") is not None and m["state"] in _CHARGING]
    return _round(min(lim) / _nominal_a(rec), 4) if lim else None


@metric("s", "simulated seconds from the scenario's last event until the plating limit is back to 95 % of nominal", tol=30.0)
def limit_recovered_s(rec):
    t1 = _last_fired_s(rec)
    if t1 is None:
        return None
    nominal = _nominal_a(rec)
    for m in rec.telemetry:
        if m["t_s"] >= t1 and m["state"] == CHARGE_CC and m.get("i_limit_a", 0.0) >= 0.95 * nominal:
            return _round(m["t_s"] - t1, 3)
    return None


@metric("Ah", "true lithium inventory at the end (emulator)", tol=1e-5)
def inventory_true_ah(rec):
    return _round(rec.cell_end.get("inventory_ah"), 9)


@metric("%", "true inventory at the end over the initial (capacity retention)", tol=0.1)
def retention_pct(rec):
    inv, init = rec.cell_end.get("inventory_ah"), rec.cell_end.get("initial_inventory_ah")
    return None if inv is None or not init else _round(100.0 * inv / init, 4)


@metric("%", "the twin's inventory estimate against the truth at the end, |est - true| / true", tol=0.5)
def inventory_error_pct(rec):
    est, true = rec.twin_cell.get("inventory_est_ah"), rec.cell_end.get("inventory_ah")
    return None if est is None or not true else _round(100.0 * abs(est - true) / true, 4)


@metric("sigma", "the twin's inventory error in units of its own standard deviation (in its band: <= 3)", tol=1.0)
def inventory_band_sigma(rec):
    est, std, true = rec.twin_cell.get("inventory_est_ah"), rec.twin_cell.get("inventory_std_ah"), rec.cell_end.get("inventory_ah")
    return None if est is None or not std or true is None else _round(abs(est - true) / std, 3)


@metric("h", "simulated hours the run lasted (all boots)", tol=0.05)
def sim_hours(rec):
    t = rec.trace["t_s"]
    return _round(t[-1] / 3600.0, 4) if len(t) else 0.0


@metric("s", "wall seconds the run took", baseline=False)
def wall_s(rec):
    return _round(rec.wall_s, 2)
