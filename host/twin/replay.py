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

Cycle accounting (counting, gaps, partial cycles, outliers) is cycles.py.
Every cycle is reported; only clean full cycles are fed to the twin. Per
cycle the output adds ``partial`` (an incomplete charge or discharge),
``after_gap`` (it starts after time passed unlogged), ``fed`` (the twin
learnt from it) and ``data_quality`` ([{cycle, reason}]: partial, outlier,
carry-over, CE above 100 %; never a cell fault). ``inventory_ah`` and the
other estimates are the twin's latest, null before the first fed cycle.
With a ``Recording`` whose ``cycle_ah`` has the cycler's own counters, those
replace the integrated Ah of that cycle.

Each cycle becomes a contract-v1 ``cycle`` message (charge_ah, discharge_ah,
ce, energies, temperature and pressure extremes, r_ohm from the voltage step
at the start of discharge) fed to a ``Twin``, so replayed data and live
data go through the same code.

Failure behaviour: every problem with the file raises ``ReplayError`` whose
text names the column and row; nothing is half-replayed silently.
"""

from platewise.host.cyclers import columns_for_replay, read
from platewise.shared.telemetry import encode, topic

from .cycles import counting_scatter, cycles_from_samples  # noqa: F401 (re-exported: the accounting used to live here)
from .recording import Recording, ReplayError  # noqa: F401 (re-exported: the CLI catches it here)


def replay(path, twin, cell_id="replay", formation_cycles=0, capacity_ah=None, cell_params=None):
    """Run the twin over a CSV; return {"cycles": [per-cycle estimates and predictions]}.

    With ``cell_params`` (a full preset: OCV table, resistances, fixture) the
    fast filter (EKF) also runs over the samples and each cycle reports the
    plated Li at the end of its charge and the series resistance it saw.
    ``path`` is our CSV, any cycler's native file, a folder of sessions
    (host/cyclers) or a ``Recording`` already read.
    """
    recording = path.check() if isinstance(path, Recording) else read(path)
    cols = columns_for_replay(recording)
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
    calibrate(twin, cell_id, cycles)
    out = []
    for c in cycles:
        start, stop = c.pop("_rows")
        partial, after_gap, flags = c.pop("_partial"), c.pop("_after_gap"), c.pop("_flags")
        if recording is not None and recording.cycle_ah and c["cycle"] in recording.cycle_ah:
            # the cycler's own counters: they saw every sample, the file may not keep them all
            ch, dis = recording.cycle_ah[c["cycle"]]
            if ch > 0.0 and dis > 0.0:
                c.update(charge_ah=ch, discharge_ah=dis, ce=min(dis / ch, 2.0))
        fast_out = {}
        if fast is not None:
            top = (0.0, 0.0)
            for k in range(start, stop):
                fast.step(t[k], v[k], i_a[k], p[k] if p else None)
                if fast.plated_ah > top[0]:
                    top = (fast.plated_ah, fast.plated_std_ah)
            fast_out = {"plated_top_ah": top[0], "plated_top_std_ah": top[1], "fast_r0_ohm": fast.r0_ohm, "fast_r0_std_ohm": fast.r0_std_ohm}
        # a partial cycle or an outlier is reported, not taught to the filters
        fed = not flags
        if fed:
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
                "knee_detected": a.get("knee_detected"),
                "knee_cycle": a.get("knee_cycle"),
                "partial": partial,
                "after_gap": after_gap,
                "fed": fed,
                "data_quality": [{"cycle": c["cycle"], "reason": r} for r in flags] + (twin_dq(a, c["cycle"]) if fed else []),
                **fast_out,
            }
        )
    return {"cell": cell_id, "file": str(path) if not isinstance(path, Recording) else ";".join(recording.meta.get("files") or ()), "format": recording.meta.get("format"), "files": list(recording.meta.get("files") or ()), "cycles": out}


# A recording noisier than the estimators assume (real cyclers: sparse rows,
# SOC carried between cycles) gets its measured noise (cycles.counting_scatter).


def calibrate(twin, cell_id, cycles):
    """Raise the cell's counting sigmas to the recording's measured scatter (never lower them)."""
    scatter = counting_scatter(cycles)
    if scatter is None or not hasattr(twin, "calibrate"):
        return None
    from .alarms import DETECTOR_TUNING
    from .filters import DEFAULT_TUNING

    rel_d, ce = scatter
    filt, det = {}, {}
    for name in ("sigma_charge_rel", "sigma_discharge_rel"):
        if rel_d > DEFAULT_TUNING[name][0]:
            filt[name] = rel_d
    if ce > DETECTOR_TUNING["ce_sigma_rel"][0]:
        det["ce_sigma_rel"] = ce
    if filt or det:
        twin.calibrate(cell_id, filt, det)
    return filt, det


def twin_dq(assessment, cycle):
    """The twin's own data-quality flag on a fed cycle (CE above 100 %), as {cycle, reason}."""
    return [{"cycle": cycle, "reason": r} for r in assessment.get("data_quality") or ()]
