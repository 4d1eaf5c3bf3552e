"""Replay of recorded lab data through the twin: ``platewise twin replay FILE|DIR``.

The file is our CSV (below) or any cycler's native file or a folder of
session files (host/cyclers reads them into a ``Recording``).

The CSV is what any lab cycler can export, one row per sample, header row
first, units in the column names (SI-ish, as in the telemetry contract):

    time_s          s since any origin, non-decreasing            required
    voltage_v       terminal voltage, V                           required
    current_a       A, + charging (plating Li on the collector)   required
    temperature_c   cell temperature, degC                        required
    pressure_mpa    stack pressure, MPa                           optional
    cycle_index     integer cycle number from the cycler           optional

host/cyclers/platewise_csv.py reads and checks it. A sample's current is
taken to have flowed since the previous sample (what
a cycler logs at the end of each step). Columns in other units are refused
with the fix named (``current_ma`` -> divide by 1000 and call it
``current_a``); values outside physical ranges are refused with the row
number (mV in a V column, mA in an A column, K in a degC column). Extra
columns are ignored.

Cycles: with ``cycle_index`` the rows of one index are one cycle. Without
it, a cycle is a charge followed by a discharge: a new cycle starts at the
first charging sample after a discharge. The current channel's offset is
estimated from rest samples (the true current is zero there) and removed
before counting, as the firmware's auto-zero does. The last cycle is used
only if it has both a charge and a discharge.

Each cycle becomes a contract-v1 ``cycle`` message (charge_ah, discharge_ah,
ce, energies, temperature and pressure extremes, r_ohm from the voltage step
at the start of discharge) fed to a ``Twin``, so replayed data and live
data go through the same code.

Failure behaviour: every problem with the file raises ``ReplayError`` whose
text names the column and row; nothing is half-replayed silently.
"""

from platewise.host.cyclers import columns_for_replay, read
from platewise.shared.telemetry import encode, topic

from .recording import ReplayError  # noqa: F401 (re-exported: the CLI catches it here)

REST_FRACTION = 0.05  # |I| below this fraction of the largest |I| is rest: above the offset and its noise, below a C/20 CV tail


def cycles_from_samples(cols, formation_cycles=0):
    """Segment samples into cycles; return a list of contract-v1 ``cycle`` fields."""
    t, v, i_raw, temp = cols["time_s"], cols["voltage_v"], cols["current_a"], cols["temperature_c"]
    p = cols.get("pressure_mpa")
    i_max = max(abs(x) for x in i_raw)
    if i_max == 0.0:
        raise ReplayError("current_a is zero everywhere: nothing to replay")
    rest = REST_FRACTION * i_max
    # mean, not median: readings are quantised, and the noise dithers the
    # mean below one step while a median sticks to a step
    at_rest = [x for x in i_raw if abs(x) < rest]
    offset = sum(at_rest) / len(at_rest) if at_rest else 0.0
    cur = [x - offset for x in i_raw]
    # cycle label of each sample
    if "cycle_index" in cols:
        labels = cols["cycle_index"]
    else:
        labels, n, discharged = [], 1, False
        charged = False
        for x in cur:
            if x > rest and discharged:
                n, discharged, charged = n + 1, False, False
            if x > rest:
                charged = True
            elif x < -rest and charged:
                discharged = True
            labels.append(n)
    out = []
    k = 0
    while k < len(t):
        label = labels[k]
        acc = {"charge_ah": 0.0, "discharge_ah": 0.0, "charge_wh": 0.0, "discharge_wh": 0.0}
        t_min = t_max = temp[k]
        p_min = p_max = p[k] if p else None
        r_ohm = 0.0
        start = k
        while k < len(t) and labels[k] == label:
            if k > 0:
                dt_h = (t[k] - t[k - 1]) / 3600.0
                x = cur[k]
                if x > rest:
                    acc["charge_ah"] += x * dt_h
                    acc["charge_wh"] += x * v[k] * dt_h
                elif x < -rest:
                    acc["discharge_ah"] -= x * dt_h
                    acc["discharge_wh"] -= x * v[k] * dt_h
                    if r_ohm == 0.0 and abs(cur[k - 1]) < rest:
                        # the voltage step at the start of discharge: series resistance
                        r_ohm = max((v[k - 1] - v[k]) / -x, 0.0)
            t_min, t_max = min(t_min, temp[k]), max(t_max, temp[k])
            if p:
                p_min, p_max = min(p_min, p[k]), max(p_max, p[k])
            k += 1
        if acc["charge_ah"] <= 0.0 or acc["discharge_ah"] <= 0.0:
            continue  # a rest-only stretch or an unfinished cycle
        msg = {
            "t_s": max(t[k - 1] - t[0], 0.0),
            "cycle": len(out) + 1 if "cycle_index" not in cols else max(int(label), 0),
            "charge_ah": acc["charge_ah"],
            "discharge_ah": acc["discharge_ah"],
            "ce": min(acc["discharge_ah"] / acc["charge_ah"], 2.0),
            "charge_wh": acc["charge_wh"],
            "discharge_wh": acc["discharge_wh"],
            "t_min_c": t_min,
            "t_max_c": t_max,
            # required by contract v1; without a pressure column a constant 0
            # (the short detector then sees no pressure jump, which is true)
            "p_min_mpa": p_min if p_min is not None else 0.0,
            "p_max_mpa": p_max if p_max is not None else 0.0,
            "r_ohm": min(r_ohm, 100.0),
        }
        msg["formation"] = msg["cycle"] <= formation_cycles
        msg["_rows"] = (start, k)
        out.append(msg)
    if not out:
        raise ReplayError("no complete cycle (a charge followed by a discharge) in the file")
    return out


def replay(path, twin, cell_id="replay", formation_cycles=0, capacity_ah=None, cell_params=None):
    """Run the twin over a CSV; return {"cycles": [per-cycle estimates and predictions]}.

    With ``cell_params`` (a full preset: OCV table, resistances, fixture) the
    fast filter (EKF) also runs over the samples and each cycle reports the
    plated Li at the end of its charge and the series resistance it saw.
    """
    rec = read(path)  # our CSV, any cycler's native file, or a folder of sessions (host/cyclers)
    cols = columns_for_replay(rec)
    fast = None
    if cell_params is not None:
        from .fast import FastFilter

        try:
            fast = FastFilter(cell_params)
        except ValueError as e:
            raise ReplayError("preset cannot drive the fast filter: %s" % e) from None
    t, v, i_a = cols["time_s"], cols["voltage_v"], cols["current_a"]
    p = cols.get("pressure_mpa")
    cycles = cycles_from_samples(cols, formation_cycles)
    if capacity_ah:
        worst = max(c["charge_ah"] for c in cycles)
        if worst > 3.0 * capacity_ah:
            raise ReplayError("a cycle charged %.4g Ah into a %.4g Ah cell: is current_a in mA?" % (worst, capacity_ah))
    out = []
    for c in cycles:
        start, stop = c.pop("_rows")
        fast_out = {}
        if fast is not None:
            top = (0.0, 0.0)
            for k in range(start, stop):
                fast.step(t[k], v[k], i_a[k], p[k] if p else None)
                if fast.plated_ah > top[0]:
                    top = (fast.plated_ah, fast.plated_std_ah)
            fast_out = {"plated_top_ah": top[0], "plated_top_std_ah": top[1], "fast_r0_ohm": fast.r0_ohm, "fast_r0_std_ohm": fast.r0_std_ohm}
        twin.handle(topic(cell_id, "cycle"), encode("cycle", cell_id, c["cycle"], dict(c)))
        a = twin.cell(cell_id)
        if fast is not None and a["inventory_est_ah"] is not None:
            fast.inventory_ah = a["inventory_est_ah"]  # the slow filter keeps the fast one's inventory current
        out.append(
            {
                "cycle": c["cycle"],
                "inventory_ah": a["inventory_est_ah"],
                "inventory_std_ah": a["inventory_std_ah"],
                "eol_cycle_pred": a["eol_cycle_pred"],
                "eol_cycle_lo": a["eol_cycle_lo"],
                "eol_cycle_hi": a["eol_cycle_hi"],
                "short_risk": a["short_risk"] if a["short_risk"] is not None else 0.0,
                "loss_ah_per_cycle": a["loss_ah_per_cycle"],
                "sei_ah": a["sei_ah"],
                "sei_std_ah": a["sei_std_ah"],
                "dead_ah": a["dead_ah"],
                "dead_std_ah": a["dead_std_ah"],
                "alarms": a["alarms"],
                "charge_ah": c["charge_ah"],
                "discharge_ah": c["discharge_ah"],
                "ce": c["ce"],
                "r25_ohm": a["r25_ohm"],
                "r_eol_cycle_pred": a["r_eol_cycle_pred"],
                **fast_out,
            }
        )
    return {"cell": cell_id, "file": str(path), "format": rec.meta.get("format"), "files": list(rec.meta.get("files", [])), "cycles": out}
