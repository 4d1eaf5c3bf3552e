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

No preset is needed: what the replay takes of the cell comes from the data,
and the output's ``from_data`` says what it found: ``capacity_ah``, the
median discharge of the first ``CAPACITY_CYCLES`` fed cycles after
formation (the capacity the cell shows, not its label's rating; null when
no cycle was fed); ``v_top_v`` and ``v_bottom_v``, the voltages most cycles
reach at the end of charge and of discharge (the limits a partial cycle is
judged against, cycles.data_limits_v); ``current_max_a``, the largest
|current|, from which the rest and counting thresholds scale; ``counting``,
the scatter of the counts (cycles.counting_scatter) and the tuning it set
for this cell (``calibrate``).

Noise: the cell's estimators are tuned to the recording before its first
cycle (``calibrate``). A record of 200 cycles or more gives the tail of its
counts and is judged cycle by cycle, as a board is; a shorter one gives its
robust scale, and its short evidence must last two cycles (a leak drains
every cycle, a cycler's counting excursions are one-cycle events;
cell-physics sec. 6). So a short recording of a healthy cell raises no
short alarm from its counting (the CALCE workbook's CE dips of 0.8-1.8 %
raised SHORT_LIKELY at cycle 5 when it was judged at the emulator's
counting noise), and a short in it is raised one cycle after its onset.

Each cycle becomes a contract-v1 ``cycle`` message (charge_ah, discharge_ah,
ce, energies, temperature and pressure extremes, r_ohm from the voltage step
at the start of discharge) fed to a ``Twin``, so replayed data and live
data go through the same code.

Failure behaviour: every problem with the file raises ``ReplayError`` whose
text names the column and row; nothing is half-replayed silently.
"""

import statistics
from collections import defaultdict

from platewise.host.cyclers import columns_for_replay, read
from platewise.shared.telemetry import encode, topic

from .cycles import counting_scatter, cycles_from_samples, data_limits_v  # noqa: F401 (re-exported: the accounting used to live here)
from .recording import Recording, ReplayError  # noqa: F401 (re-exported: the CLI catches it here)

CAPACITY_CYCLES = 5  # fed cycles whose median discharge is the cell's capacity: one outlier or a first top-up does not move it


def replay(path, twin, cell_id="replay", formation_cycles=0, capacity_ah=None, cell_params=None):
    """Run the twin over a CSV; return {"cycles": [per-cycle estimates and predictions],
    "from_data": {what was learnt of the cell}, and the file's name and format}.

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
    for c in cycles:
        if recording is not None and recording.cycle_ah and c["cycle"] in recording.cycle_ah:
            # the cycler's own counters: they saw every sample, the file may not keep them all
            ch, dis = recording.cycle_ah[c["cycle"]]
            if ch > 0.0 and dis > 0.0:
                c.update(charge_ah=ch, discharge_ah=dis, ce=min(dis / ch, 2.0))
    counting = calibrate(twin, cell_id, cycles)  # on the counts the twin is fed
    v_top_v, v_bottom_v = data_limits_v(cycles)
    capacity = []
    out = []
    for c in cycles:
        start, stop = c.pop("_rows")
        c.pop("_v")
        partial, after_gap, flags = c.pop("_partial"), c.pop("_after_gap"), c.pop("_flags")
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
            if not c["formation"] and len(capacity) < CAPACITY_CYCLES:
                capacity.append(c["discharge_ah"])
        try:
            a = twin.cell(cell_id)
        except KeyError:  # nothing fed yet (the file opens with a partial cycle): every estimate null, as the module doc says
            a = defaultdict(lambda: None, alarms=[])
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
    from_data = {
        "capacity_ah": statistics.median(capacity) if capacity else None,
        "v_top_v": v_top_v,
        "v_bottom_v": v_bottom_v,
        "current_max_a": max(abs(x) for x in i_a),
        "counting": counting,
    }
    return {"cell": cell_id, "file": str(path) if not isinstance(path, Recording) else ";".join(recording.meta.get("files") or ()), "format": recording.meta.get("format"), "files": list(recording.meta.get("files") or ()), "from_data": from_data, "cycles": out}


# A recording noisier than the estimators assume (real cyclers: sparse rows,
# SOC carried between cycles) gets its measured noise (cycles.counting_scatter).
SHORT_RECORD_CONFIRM_CYCLES = 2  # a short record's deficit must last this many cycles: one-cycle excursions do not repeat, a leak does


def calibrate(twin, cell_id, cycles):
    """Tune the cell's estimators to the recording's counting scatter; return
    {"scatter": counting_scatter's dict or None, "filter": and "detector":
    the overrides set}, or None when ``twin`` has no ``calibrate``.

    Counting sigmas (the filter's per-count sigmas, the detector's CE sigma)
    are raised to the recording's measured scatter, never lowered: the
    defaults are the emulator's and a board's auto-zeroed counting, and a
    recording quieter than that gets their margin.

    A record too short for the tail of its counts (``counting_scatter``'s
    "tail" False: fewer than 200 cycles) gets its robust scale, and the
    detector scores only a loss excess or CE deficit that lasts
    ``SHORT_RECORD_CONFIRM_CYCLES`` consecutive cycles. Why (cell-physics
    sec. 6): a soft short is a leak path in parallel with the cell, so it
    drains plated Li on every cycle from its onset on, and the CE stays
    low; a cycler's counting excursions are one-cycle events (a counter
    jump, the state of charge carried into the next cycle, which pays it
    back: CALCE CS2_35's workbook has CE dips of 0.8-1.8 % on 5 of its 47
    fed cycles, 4-8 robust std under its baseline, each followed by a
    normal cycle, so over two cycles the largest deficit is 0.8 std).
    Scored at the robust scale over two cycles, a leak is caught one cycle
    after its onset at 1/2.7 of the deficit the tail scale would need (the
    long CALCE record's tail scale is 2.7x its robust one). A long record
    keeps its tail scale and single-cycle evidence, as a board's live twin
    does.
    """
    if not hasattr(twin, "calibrate"):
        return None
    from .alarms import DETECTOR_TUNING
    from .filters import DEFAULT_TUNING

    scatter = counting_scatter(cycles)
    filt, det = {}, {}
    if scatter is None or not scatter["tail"]:
        det["confirm_cycles"] = SHORT_RECORD_CONFIRM_CYCLES
    if scatter is not None and scatter["discharge_rel"] is not None:
        for name in ("sigma_charge_rel", "sigma_discharge_rel"):
            if scatter["discharge_rel"] > DEFAULT_TUNING[name][0]:
                filt[name] = scatter["discharge_rel"]
        if scatter["ce"] > DETECTOR_TUNING["ce_sigma_rel"][0]:
            det["ce_sigma_rel"] = scatter["ce"]
    if filt or det:
        twin.calibrate(cell_id, filt, det)
    return {"scatter": scatter, "filter": filt, "detector": det}


def twin_dq(assessment, cycle):
    """The twin's own data-quality flag on a fed cycle (CE above 100 %), as {cycle, reason}."""
    return [{"cycle": cycle, "reason": r} for r in assessment.get("data_quality") or ()]
