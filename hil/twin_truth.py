"""Ground truth for the digital twin's tests: emulated cells cycled by the
reference cycler, seen the way a board reports them.

``life(preset, seed, ...)`` cycles one ``hil.cell.model.Cell`` with
``hil.cell.cycler.run`` one cycle at a time and returns, per cycle,
(a) the ``cycle`` message a board would publish (fields of the telemetry
contract v1) and (b) the emulator's truth (inventory, SEI, dead Li,
resistance, leak). ``samples=True`` also records the sample stream (what a
lab cycler logs: time, voltage, current, temperature, pressure, cycle index),
which ``write_csv`` writes for ``platewise twin replay``.

How the board's view differs from the truth (the twin must cope with it):
- Coulomb counting: every count is multiplied by ``1 + g``, g the current
  channel's gain error drawn by ``hil.cell.sensors.Sensors`` for the seed
  (uniform within the preset's ``sensor_i_gain_error``), plus a random
  per-count error of ``count_noise_rel`` of the capacity (the residual of the
  firmware's auto-zero and integration, engineering value).
- A CC-CV charge leaves some Li in the cathode: ``discharge_ah`` is the
  inventory minus that residue (cell-physics sec. 1), a bias the twin models.
- Pressure, temperature, voltage and current samples go through the seed's
  sensor channels (offset, gain, noise, quantisation).
- ``r_ohm`` is the true series resistance at the top of charge with 1 %
  random error (the board's impedance estimate).

``inject`` = (cycle, fault name, kwargs): the fault is injected at the start
of that cycle (e.g. ``(12, "internal_short", {"resistance_ohm": 2000.0})``),
and ``truth["short"]`` marks the cycles a leak path existed.

Nothing here is imported by product code; tests and benches use it.
"""

import csv
import math
import random

from platewise.hil.cell import cycler
from platewise.hil.cell.model import Cell, load_params
from platewise.hil.cell.sensors import Sensors
from platewise.shared.cellconst import EOL_RETENTION

COUNT_NOISE_REL = 2e-4  # residual coulomb-counting error per count, fraction of capacity (engineering value)
R_NOISE_REL = 0.01  # board impedance estimate scatter (engineering value)


class _RecordingCell(Cell):
    """A Cell that tracks per-cycle extremes and optionally logs every step through the sensors."""

    def __init__(self, params, seed, sensors, record):
        super().__init__(params, seed=seed)
        self.sensors = sensors
        self.record = record
        self.rows = []
        self.cycle_index = 0
        self.reset_extremes()

    def reset_extremes(self):
        self.p_min = self.p_max = self.pressure_mpa
        self.t_min = self.t_max = self.temperature_c
        self.charge_wh_true = 0.0
        self.discharge_wh_true = 0.0

    def step(self, dt_s, current_a):
        super().step(dt_s, current_a)
        p, t = self.pressure_mpa, self.temperature_c
        if p < self.p_min:
            self.p_min = p
        if p > self.p_max:
            self.p_max = p
        if t < self.t_min:
            self.t_min = t
        if t > self.t_max:
            self.t_max = t
        e_wh = abs(current_a) * self.voltage_v * dt_s / 3600.0
        if current_a > 0:
            self.charge_wh_true += e_wh
        elif current_a < 0:
            self.discharge_wh_true += e_wh
        if self.record:
            v, i, tc, pm = self.sensors.read(self, current_a)
            # columns 0-5 as CSV_COLUMNS; 6-7 the truth (plated Li, series resistance) for the fast filter's tests
            self.rows.append((self.time_s, v, i, tc, pm, self.cycle_index, self.plated_ah, self.resistance_ohm))


def life(
    preset="lfp-liquid",
    seed=0,
    cycles=400,
    aging_factor=1.0,
    overrides=None,
    inject=None,
    samples=False,
    stop_at_eol=True,
    count_noise_rel=COUNT_NOISE_REL,
):
    """Cycle one cell to end of life (or ``cycles``); see the module docstring.

    Returns {"preset", "seed", "initial_ah", "gain", "eol_cycle", "eol_cause",
    "messages": [cycle fields], "truth": [per-cycle truth], "rows": [samples]}.
    """
    ov = dict(overrides or {})
    ov["aging_factor"] = aging_factor
    params = load_params(preset, ov)
    sensors = Sensors(params, seed=seed)
    cell = _RecordingCell(params, seed, sensors, samples)
    rng = random.Random(1000003 * seed + 7)
    gain = sensors.channels["i"].gain
    n_form = int(params["formation_cycles"])
    cap_ah = cell.capacity_ah
    limit_ah = EOL_RETENTION * cell.initial_inventory_ah
    messages, truth = [], []
    eol_cycle = eol_cause = None
    faults = {}
    for c, name, kw in inject or ():
        faults.setdefault(c, []).append((name, kw))
    for n in range(1, cycles + 1):
        for name, kw in faults.get(n, ()):
            cell.inject(name, **kw)
        cell.cycle_index = n
        cell.reset_extremes()
        t0 = cell.time_s
        rec = cycler.run(params, protocol="formation-cccv" if n <= n_form else "cccv", cycles=1, cell=cell, stop_at_eol=False,
                         formation_cycles=n_form if n <= n_form else 0)["cycles"][0]
        chg = rec["charge_ah"] * gain + rng.gauss(0.0, count_noise_rel * cap_ah)
        dis = rec["discharge_ah"] * gain + rng.gauss(0.0, count_noise_rel * cap_ah)
        chg, dis = max(chg, 0.0), max(dis, 0.0)
        p_ch = sensors.channels["p"]
        t_ch = sensors.channels["t"]
        msg = {
            "t_s": cell.time_s,
            "cycle": n,
            "charge_ah": chg,
            "discharge_ah": dis,
            "ce": dis / chg if chg > 0 else 0.0,
            "charge_wh": cell.charge_wh_true * gain,
            "discharge_wh": cell.discharge_wh_true * gain,
            "t_min_c": cell.t_min * t_ch.gain + t_ch.offset,
            "t_max_c": cell.t_max * t_ch.gain + t_ch.offset,
            "p_min_mpa": max(cell.p_min * p_ch.gain + p_ch.offset + rng.gauss(0.0, p_ch.noise), 0.0),
            "p_max_mpa": max(cell.p_max * p_ch.gain + p_ch.offset + rng.gauss(0.0, p_ch.noise), 0.0),
            "r_ohm": rec["resistance_ohm"] * (1.0 + rng.gauss(0.0, R_NOISE_REL)),
            "formation": n <= n_form,
        }
        messages.append(msg)
        truth.append(
            {
                "cycle": n,
                "inventory_ah": cell.inventory_ah,
                "sei_ah": cell.sei_ah,
                "dead_ah": cell.dead_ah,
                "resistance_ohm": rec["resistance_ohm"],
                "short": cell.leak_ohm < math.inf,
                "duration_s": cell.time_s - t0,
            }
        )
        if eol_cycle is None:
            if cell.hard_short:
                eol_cycle, eol_cause = n, "short"
            elif cell.inventory_ah < limit_ah:
                eol_cycle, eol_cause = n, "inventory"
            if eol_cycle is not None and stop_at_eol:
                break
    return {
        "preset": preset,
        "seed": seed,
        "initial_ah": cell.initial_inventory_ah,
        "capacity_ah": cap_ah,
        "params": params,
        "gain": gain,
        "eol_cycle": eol_cycle,
        "eol_cause": eol_cause,
        "messages": messages,
        "truth": truth,
        "rows": cell.rows,
    }


CSV_COLUMNS = ("time_s", "voltage_v", "current_a", "temperature_c", "pressure_mpa", "cycle_index")


def write_csv(path, rows, with_cycle_index=True, with_pressure=True):
    """Write sample rows (from ``life(samples=True)``) as a replay CSV."""
    cols = [c for c in CSV_COLUMNS if (with_cycle_index or c != "cycle_index") and (with_pressure or c != "pressure_mpa")]
    idx = [CSV_COLUMNS.index(c) for c in cols]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            w.writerow([repr(r[i]) if isinstance(r[i], float) else r[i] for i in idx])
