"""Message builders shared by the twin tests (valid v1 messages, by kind)."""

import json

from platewise.shared.telemetry import encode, topic


def telemetry_fields(t_s=1.0, cycle=1, voltage_v=3.3, current_a=0.002):
    return {
        "t_s": t_s,
        "voltage_v": voltage_v,
        "current_a": current_a,
        "temperature_c": 25.0,
        "pressure_mpa": 1.0,
        "cycle": cycle,
        "cycle_charge_ah": 0.001,
        "cycle_discharge_ah": 0.0,
        "total_charge_ah": 0.01,
        "total_discharge_ah": 0.009,
        "r_ohm": 0.05,
        "state": "CHARGE_CC",
    }


def cycle_fields(cycle, charge_ah, discharge_ah, t_s=None, formation=None):
    f = {
        "t_s": float(cycle * 3600 if t_s is None else t_s),
        "cycle": cycle,
        "charge_ah": charge_ah,
        "discharge_ah": discharge_ah,
        "ce": discharge_ah / charge_ah if charge_ah > 0 else 0.0,
        "charge_wh": charge_ah * 3.4,
        "discharge_wh": discharge_ah * 3.2,
        "t_min_c": 24.0,
        "t_max_c": 27.0,
        "p_min_mpa": 0.9,
        "p_max_mpa": 1.3,
        "r_ohm": 0.05,
    }
    if formation is not None:
        f["formation"] = formation
    return f


def status_fields(state="online", boot=1):
    return {"state": state, "fw": "0.1.0", "boot": boot}


def event_fields(t_s=1.0):
    return {"t_s": t_s, "event": "info", "code": "hello", "msg": "test"}


def twin_fields(cycle=1):
    return {"t_s": 1.0, "cycle": cycle, "inventory_ah": 0.02, "inventory_std_ah": 0.0001}


def message(kind, cell_id, seq, fields):
    """(topic, payload bytes) of a valid message."""
    return topic(cell_id, kind), encode(kind, cell_id, seq, dict(fields))


def raw(kind, cell_id, obj):
    """(topic, payload bytes) of an arbitrary JSON object, no checks."""
    return topic(cell_id, kind), json.dumps(obj).encode()


def good(seq, cell_id="c1", **kw):
    """A valid telemetry message with this seq."""
    return message("telemetry", cell_id, seq, telemetry_fields(t_s=float(seq), **kw))


def synthetic_cycles(initial_ah, ce, n_cycles, noise_rel=0.0, rng=None, start=1):
    """Cycle fields following CE^N: cycle k charges I0*CE^(k-1), discharges I0*CE^k.

    Returns (fields list, truth list) with truth[k] = inventory after cycle k
    = I0*CE^k (what the twin's inventory_ah estimates).
    """
    out, truth = [], []
    for k in range(start, start + n_cycles):
        c = initial_ah * ce ** (k - 1)
        d = initial_ah * ce**k
        if noise_rel and rng is not None:
            c += rng.normal(0.0, noise_rel * initial_ah)
            d += rng.normal(0.0, noise_rel * initial_ah)
        out.append(cycle_fields(k, c, d))
        truth.append(initial_ah * ce**k)
    return out, truth
