"""Reference cycler: CC-CV charge / CC discharge of one emulated cell, cycle after cycle.

This is the lab's cycling protocol as code, used for life tests, the CLI
(``platewise cell run``) and as ground truth for the twin. It is not the BMS:
it has no safety logic beyond each phase's time limit.

Protocols:
- ``cccv``: every cycle: CC charge at the cycling current to the preset's
  charge_voltage_v, CV until the current falls to cv_cutoff_c, rest, CC
  discharge to discharge_cutoff_v, rest.
- ``formation-cccv``: the first ``formation_cycles`` cycles (preset value
  unless given) charge and discharge at the formation current
  (``formation_ma_cm2``, else ``formation_c_rate`` x loading, else the preset's
  formation_current_ma_cm2), then ``cccv`` [cell-physics sec. 3].

End of life (first cycle it happens; ties resolved fracture > short > inventory):
``fracture`` (electrolyte fractured), ``short`` (hard short, or a soft short
that keeps the charge from ending), ``inventory``
(cyclable Li below shared.cellconst.EOL_RETENTION of the initial inventory).

Step size is coarse on purpose (``steps_per_phase`` steps per full CC phase,
capped by ``dt_max_s``) and refined near the discharge collapse, so a 300-cycle
run takes a second or two.
"""

from platewise.hil.cell.model import Cell, load_params
from platewise.shared.cellconst import EOL_RETENTION

PROTOCOLS = ("cccv", "formation-cccv")


def _charge(cell, current_a, v_max, i_cut, dt_s, t_limit_s):
    """CC at current_a until v_max binds, then CV until the current falls below i_cut.

    One loop: the current is min(CC, the current that holds v_max over the
    step), so the CC/CV hand-over lands on v_max instead of overshooting by a
    coarse step. Steps shrink as the cathode empties (steep delithiation end).
    Returns the charge passed (Ah).
    """
    q0 = cell.charge_ah
    t_end = cell.time_s + t_limit_s
    dt_min = dt_s * 1e-3
    while cell.time_s < t_end:
        dt = 0.3 * cell.cathode_ah * 3600.0 / current_a
        if dt > dt_s:
            dt = dt_s
        elif dt < dt_min:
            dt = dt_min
        i = cell.current_for_voltage(v_max, dt)
        if i > current_a:
            i = current_a
        if i < i_cut:
            break
        cell.step(dt, i)
    return cell.charge_ah - q0


def _discharge(cell, current_a, v_min, dt_s, t_limit_s):
    """CC discharge to v_min; steps shrink as the plated Li runs out (steep collapse)."""
    q0 = cell.discharge_ah
    t_end = cell.time_s + t_limit_s
    dt_min = dt_s * 1e-3
    while cell.voltage_v > v_min and cell.time_s < t_end:
        dt = 0.3 * cell.plated_ah * 3600.0 / current_a
        if dt > dt_s:
            dt = dt_s
        elif dt < dt_min:
            dt = dt_min
        cell.step(dt, -current_a)
    return cell.discharge_ah - q0


def _rest(cell, rest_s, dt_s):
    t_end = cell.time_s + rest_s
    while cell.time_s < t_end - 1e-9:
        cell.step(min(dt_s, t_end - cell.time_s), 0.0)


def run(
    params,
    protocol="cccv",
    cycles=100,
    current_density_ma_cm2=None,
    formation_ma_cm2=None,
    formation_c_rate=None,
    pressure_mpa=None,
    temperature_c=None,
    formation_cycles=None,
    seed=0,
    rest_s=600.0,
    steps_per_phase=100,
    dt_max_s=600.0,
    stop_at_eol=True,
    cell=None,
):
    """Cycle a cell; return {"eol_cycle", "eol_cause", "cycles": [...], "preset", "protocol"}.

    ``params``: a loaded dict or a preset name / JSON path. ``cell``: an
    existing Cell to continue (then params only supplies nothing new).
    Each cycle record: cycle, inventory_ah, charge_ah, discharge_ah, ce,
    resistance_ohm (top of charge), pressure_mpa (top of charge), thickness_um
    (top of charge), sei_ah, dead_ah, porosity, max_temperature_c.
    """
    if protocol not in PROTOCOLS:
        raise ValueError("protocol must be one of %s" % (PROTOCOLS,))
    if not isinstance(params, dict):
        params = load_params(params)
    p = params
    if cell is None:
        cell = Cell(p, seed=seed)
    if pressure_mpa is not None:
        cell.inject("set_pressure", pressure_mpa=pressure_mpa)
    if temperature_c is not None:
        cell.inject("ambient", temperature_c=temperature_c)
        cell.temperature_c = temperature_c
    area = cell.area_cm2
    cap = cell.capacity_ah
    j = p["nominal_current_ma_cm2"] if current_density_ma_cm2 is None else current_density_ma_cm2
    if formation_ma_cm2 is not None:
        j_form = formation_ma_cm2
    elif formation_c_rate is not None:
        j_form = formation_c_rate * p["loading_mah_cm2"]
    else:
        j_form = p["formation_current_ma_cm2"]
    n_form = int(p["formation_cycles"] if formation_cycles is None else formation_cycles)
    if protocol == "cccv":
        n_form = 0
    i_cut = p["cv_cutoff_c"] * cap
    v_max, v_min = p["charge_voltage_v"], p["discharge_cutoff_v"]

    records = []
    eol = {}
    limit = EOL_RETENTION * cell.initial_inventory_ah
    for n in range(1, cycles + 1):
        jn = j_form if n <= n_form else j
        i_a = jn * area / 1000.0
        t_phase = 3600.0 * cap / i_a  # one full CC phase at this current
        dt = min(dt_max_s, t_phase / steps_per_phase)
        t_max = cell.temperature_c
        t_charge = 2.0 * t_phase + 10.0 * 3600.0
        t0 = cell.time_s
        q_chg = _charge(cell, i_a, v_max, min(i_cut, 0.5 * i_a), dt, t_charge)
        # a leak that eats the whole charge current: the charge never ends
        charge_timed_out = cell.time_s - t0 >= t_charge - 1e-6
        top = (cell.resistance_ohm, cell.pressure_mpa, cell.thickness_um)
        t_max = max(t_max, cell.temperature_c)
        _rest(cell, rest_s, max(dt, rest_s / 4.0))
        q_dis = _discharge(cell, i_a, v_min, dt, 2.0 * t_phase)
        t_max = max(t_max, cell.temperature_c)
        _rest(cell, rest_s, max(dt, rest_s / 4.0))
        records.append(
            {
                "cycle": n,
                "inventory_ah": cell.inventory_ah,
                "charge_ah": q_chg,
                "discharge_ah": q_dis,
                "ce": q_dis / q_chg if q_chg > 0.0 else 0.0,
                "resistance_ohm": top[0],
                "pressure_mpa": top[1],
                "thickness_um": top[2],
                "sei_ah": cell.sei_ah,
                "dead_ah": cell.dead_ah,
                "porosity": cell.porosity,
                "max_temperature_c": t_max,
            }
        )
        if cell.fractured and "fracture" not in eol:
            eol["fracture"] = n
        if (cell.hard_short or (charge_timed_out and cell.leak_ohm < float("inf"))) and "short" not in eol:
            eol["short"] = n
        if cell.inventory_ah < limit and "inventory" not in eol:
            eol["inventory"] = n
        if eol and stop_at_eol:
            break
    cause = None
    eol_cycle = None
    for c in ("fracture", "short", "inventory"):
        if c in eol and (eol_cycle is None or eol[c] < eol_cycle):
            eol_cycle, cause = eol[c], c
    return {
        "preset": p.get("preset"),
        "protocol": protocol,
        # What the numbers were produced under: an aging factor above 1
        # compresses life, so it travels with every result.
        "aging_factor": p["aging_factor"],
        "current_density_ma_cm2": j,
        "formation_ma_cm2": j_form if n_form else None,
        "formation_cycles": n_form,
        "pressure_mpa": pressure_mpa if pressure_mpa is not None else p["stack_pressure_mpa"],
        "temperature_c": temperature_c if temperature_c is not None else p["ambient_c"],
        "eol_cycle": eol_cycle,
        "eol_cause": cause,
        "cycles": records,
    }
