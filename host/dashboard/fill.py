"""Synthetic fleets fed through the real twin, for the dashboard's bench and
tests: per cell a retained birth message, telemetry samples and cycle
summaries (coulombic efficiency fixed per cell, so the twin's filter makes
real estimates and EOL predictions), every message encoded with the v1
contract and taken by ``Twin.handle``.

Failure behaviour: a message the twin refuses raises ``FillError`` with its
seq (the generator must only make valid ones).
"""

import math

from platewise.shared.telemetry import encode, topic
from platewise.shared.wire import CHARGE_CC, CHARGE_CV, DISCHARGE, REST

INITIAL_AH = 0.02  # a small pouch cell: the emulator's lfp-liquid scale
STATES = (CHARGE_CC, CHARGE_CV, DISCHARGE, REST)


class FillError(RuntimeError):
    pass


def _put(twin, cell_id, kind, seq, fields, retained=False):
    if not twin.handle(topic(cell_id, kind), encode(kind, cell_id, seq, dict(fields)), retained=retained):
        raise FillError("the twin refused %s %s seq %d" % (cell_id, kind, seq))


def telemetry(t_s, cycle, k, spike_v=None):
    """A sample at board time ``t_s``: a smooth sawtooth of a cycling cell."""
    phase = (k % 600) / 600.0
    return {
        "t_s": t_s,
        "voltage_v": spike_v if spike_v is not None else 3.0 + 0.6 * phase + 0.01 * math.sin(k / 7.0),
        "current_a": 0.002 if phase < 0.5 else -0.002,
        "temperature_c": 25.0 + 2.0 * math.sin(k / 300.0),
        "pressure_mpa": 1.0 + 0.2 * phase,
        "cycle": cycle,
        "cycle_charge_ah": 0.01 * phase,
        "cycle_discharge_ah": 0.0,
        "total_charge_ah": 0.01 * cycle,
        "total_discharge_ah": 0.0099 * cycle,
        "r_ohm": 0.05 + 1e-5 * cycle,
        "state": STATES[k % len(STATES)],
        "i_limit_a": 0.002,
    }


def cycle_summary(cycle, ce, t_s):
    charge = INITIAL_AH * ce ** (cycle - 1)
    discharge = INITIAL_AH * ce**cycle
    return {
        "t_s": t_s, "cycle": cycle, "charge_ah": charge, "discharge_ah": discharge, "ce": discharge / charge,
        "charge_wh": charge * 3.4, "discharge_wh": discharge * 3.2, "t_min_c": 24.0, "t_max_c": 27.0,
        "p_min_mpa": 0.9, "p_max_mpa": 1.3, "r_ohm": 0.05 + 2e-4 * cycle,
    }


def fill_cell(twin, cell_id, samples=0, cycles=0, ce=0.995, dt_s=1.0, spike_at=None, spike_v=9.5, seq0=1):
    """Feed one cell; returns the next free seq. Cycles are spread evenly among the samples."""
    _put(twin, cell_id, "status", seq0, {"state": "online", "fw": "0.1.0", "boot": 1}, retained=True)
    seq = seq0 + 1
    per_cycle = max(1, samples // cycles) if cycles else samples + 1
    cycle = 1
    for k in range(samples):
        _put(twin, cell_id, "telemetry", seq, telemetry((k + 1) * dt_s, cycle, k, spike_v if k == spike_at else None))
        seq += 1
        if cycles and (k + 1) % per_cycle == 0 and cycle <= cycles:
            _put(twin, cell_id, "cycle", seq, cycle_summary(cycle, ce, (k + 1) * dt_s))
            seq += 1
            cycle += 1
    while cycle <= cycles:  # cycles beyond the samples
        _put(twin, cell_id, "cycle", seq, cycle_summary(cycle, ce, (samples + cycle) * dt_s))
        seq += 1
        cycle += 1
    return seq


def fill_fleet(twin, n_cells, samples_per_cell=2, cycles=3):
    """``n_cells`` cells named cell-0001..., CE spread so EOL predictions differ."""
    ids = []
    for n in range(n_cells):
        cell_id = "cell-%04d" % (n + 1)
        fill_cell(twin, cell_id, samples=samples_per_cell, cycles=cycles, ce=0.999 - 0.004 * (n % 10) / 10.0)
        ids.append(cell_id)
    twin.flush()
    return ids
