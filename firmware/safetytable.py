"""The safety table: every condition the supervisor (safety.py) judges, as
data. Boot-only: ``resolve(cfg)`` turns the rows into the supervisor's
arrays when it is built, and the supervisor then drops this module, so
its text and parser stay off the running board's heap.

One row a line: code, detector, reading, limit, debounce_ms, severity.
- reading: V voltage_v, I current_a, T temperature_c, P pressure_mpa, or -;
- limit: a config key ("-key": its negative, compared with the signed
  current, discharge below 0), "lo/hi" (numbers), or -;
- debounce_ms: how long the condition must persist before it counts: it
  must be seen on every reading from the first until at least debounce_ms
  later, so on 1 + ceil(debounce_ms / control_period_ms) readings in a row
  at any period (0: the first reading counts). Above 0, one noisy sample
  is never a fault, however long the period;
- severity: ``fault`` (latches; a clear is refused while the reading still
  shows it), ``fault_operator`` (latches; judged over time, one reading
  cannot show it gone, so a clear clears it), ``warning`` (never latches:
  derates the charge current while raised, clears by itself).
Order is priority: the first row to trip in a tick names the fault, and
plausibility comes first (a reading that cannot be trusted is not compared
with a limit).
"""

from array import array

from shared.compat import const

# - Rails: an open or shorted NTC reads a rail; a broken divider reads 0.
# - STUCK: counted in readings, not ms: it is the number of identical
#   readings under current that makes a live channel implausible.
# - P_RATE: a fixture letting go, or a cell swelling abnormally
#   (cell-physics sec. 4).
# - SOFT_SHORT: self-discharge is the first sign of a soft short (sec. 6).
# - UV counts only under load: an anode-less cell with no plated Li (fresh,
#   or fully discharged) rests near 0 V by nature (sec. 1), and charging it
#   from there is the normal start; what harms it is the load driving it on
#   past the cut-off.
# - UV_CHG: under charge a cell with no plated Li rises to the plating
#   voltage once the first Li covers the collector (sec. 1: in the presets
#   within 6-23 s at their formation and nominal densities; the knee's
#   0.001 mAh/cm2 takes 36 s at 0.1 mA/cm2). A charge current with the
#   voltage still below the cut-off after 120 s is not plating Li: it flows
#   through a hard short (sec. 6), or the cell is broken. The pulses' rest
#   ticks do not restart the count (safety.py).
# - OT_WARN: near the over-temperature fault, less current heats the cell
#   less (Joule heat goes with I^2); OT stays the last line.
# - CE_ANOMALY: CE above ce_max (charge came out that never went in: a
#   measurement fault, or a short bypassing the counter), or a drop of more
#   than ce_drop_max from the previous regular cycle (a leak; sec. 6).
# One string, as config.py's table: as tuples, each of its strings would be
# an object of 64 bytes of heap.
_TABLE = const(
    "SENSOR_voltage_v not_finite V - 0 fault\n"
    "SENSOR_current_a not_finite I - 0 fault\n"
    "SENSOR_temperature_c not_finite T - 0 fault\n"
    "SENSOR_pressure_mpa not_finite P - 0 fault\n"
    "SENSOR_RANGE_voltage_v off_rails V -0.5/6.0 0 fault\n"
    "SENSOR_RANGE_temperature_c off_rails T -39.5/125.0 0 fault\n"
    "SENSOR_RANGE_pressure_mpa off_rails P -0.5/200.0 0 fault\n"
    "SENSOR_voltage_v_STUCK frozen V stuck_ticks 0 fault_operator\n"
    "P_RATE p_rate P p_rate_max_mpa_s 0 fault_operator\n"
    "SOFT_SHORT rest_decay V rest_decay_max_v_h 0 fault_operator\n"
    "OV above V v_max_v 1000 fault\n"
    "UV below_loaded V v_min_v 2000 fault\n"
    "UV_CHG below_charging V v_min_v 120000 fault\n"
    "OC_CHG above I i_max_a 1000 fault\n"
    "OT above T t_max_c 1000 fault\n"
    "UT below T t_min_c 1000 fault\n"
    "P_HIGH above P p_max_mpa 2000 fault\n"
    "P_LOW below P p_min_mpa 2000 fault\n"
    "OC_DIS below I -i_max_a 1000 fault\n"
    "OT_WARN above T t_warn_c 4000 warning\n"
    "CE_ANOMALY ce_shift - ce_max 0 fault_operator\n"
)

# Numbered in this order (safety.py's constants of the same names).
_DETECTORS = const("above below below_loaded not_finite off_rails frozen p_rate rest_decay ce_shift below_charging")
_SEVERITIES = const("fault fault_operator warning")
_READINGS = const("VITP")  # the order of safety.py's readings

# A row's kind, one byte: detector | reading << 4 | severity << 6 (safety.py).
_READING_SHIFT = const(4)
_SEVERITY_SHIFT = const(6)


def resolve(cfg):
    """The rows against ``cfg``: (codes, kind, limit, need).

    codes: the codes, one a line; kind: a bytearray of the rows' kinds;
    limit: a float per row (0.0 for none), or the band (lo, hi) of the
    rails; need: the debounce as readings in a row at ``control_period_ms``
    (1 + ceil(debounce_ms / period); 1 for 0).
    Raises ValueError for a row that names no detector, reading or severity."""
    period_ms = cfg["control_period_ms"]
    dets = _DETECTORS.split(" ")
    sevs = _SEVERITIES.split(" ")
    rows = _TABLE.split("\n")[:-1]
    n = len(rows)
    kind = bytearray(n)
    limit: list = [0.0] * n  # floats, and bands
    need = array("i", bytes(4 * n))
    codes = []
    for i in range(n):
        f = rows[i].split(" ")
        codes.append(f[0])
        det = dets.index(f[1])
        rd = 0 if f[2] == "-" else _READINGS.index(f[2])
        kind[i] = det | rd << _READING_SHIFT | sevs.index(f[5]) << _SEVERITY_SHIFT
        lim = f[3]
        if "/" in lim:
            lo, hi = lim.split("/")
            limit[i] = (float(lo), float(hi))
        elif lim[0] == "-" and len(lim) > 1:
            limit[i] = -float(cfg[lim[1:]])
        elif lim != "-":
            limit[i] = float(cfg[lim])
        ms = int(f[4])
        need[i] = 1 + (ms + period_ms - 1) // period_ms if ms > 0 else 1
    return "\n".join(codes), kind, limit, need
