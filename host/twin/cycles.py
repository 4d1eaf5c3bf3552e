"""Cycle accounting of recorded samples: segmentation, charge counting, and
which cycles may teach the twin.

Real cycler files are not the emulator's clean stream (the CALCE CS2 sample
in tests/data/ has all of it): sessions separated by hours to days with no
data, sparse logging in the CV hold (a row every 2-12 min), partial cycles
at session ends, single-cycle jumps of about +/-10 % in the counts, and a
capacity bump after a long rest. This module turns samples into contract-v1
``cycle`` fields and says, per cycle, whether it is a full cycle the
filters may learn from:

- Counting. A sample's current is taken to have flowed since the previous
  sample (the replay CSV's contract: what a logger averaging over its
  interval writes, and right at step edges: a cycler logs a step's first
  row some seconds into the step and its last row at the step's end).
  Where logging turns sparse (an interval over ``SPARSE_FACTOR`` median
  intervals, e.g. a CV hold logged every 2-12 min) the rows are readings
  of a decaying current, and between two rows of the same sign the current
  is integrated by the trapezoid (the later row alone reads the CALCE CV
  charge 1.6 % low). An interval
  longer than the gap limit (``GAP_S_MIN`` or ``GAP_MEDIAN_FACTOR`` x the
  median interval) is time passing with nothing logged, not current
  flowing: nothing is counted over it.
- Partial cycles: a cycle whose charge did not reach near the voltage most
  cycles reach at the top, or whose discharge did not reach near the
  bottom (``LIMIT_TOL_V``), and which is short of its neighbours' Ah by more
  than ``OUTLIER_REL``, is marked partial. The limits are the data's own
  (``data_limits_v``) and the reference Ah is the neighbours', so no preset
  is needed.
- Scatter: ``counting_scatter`` measures how much one cycle's counts
  scatter around their neighbours, so a replay can tell the estimators how
  noisy this recording is (real cyclers: +/-0.5 % in CE; the emulator far
  less).
- Outliers: a full cycle whose discharge or charge differs from the median
  of its full neighbours (``OUTLIER_NEIGHBOURS`` each side, itself left out)
  by more than ``OUTLIER_REL`` (or 6 robust std of the neighbours) is a
  data-quality outlier. The window reaches forward, so a real level change
  is confirmed by the cycles after it and re-admitted at once; a rise on the
  first cycle after a gap is rest recovery, which is real, and is not
  flagged. A low-CE cycle that pays back a CE > 100 % neighbour's charge
  (the state of charge carried from one cycle to the next) is flagged as a
  carry-over.

Failure behaviour: a file with no cycle holding both a charge and a
discharge raises ``ReplayError``.
"""

from .recording import ReplayError

REST_FRACTION = 0.05  # |I| below this fraction of the largest |I| is rest (segmentation, offset): above the offset and its noise
COUNT_FRACTION = 0.005  # |I| above this fraction is counted: a CV tail ends near C/20 (0.05 A of a 1.1 A max), under REST_FRACTION
GAP_S_MIN = 1800.0  # an interval this long is a gap: real CV holds log every 2-12 min (up to ~20 min seen), sessions sit hours apart
SPARSE_FACTOR = 1.1  # an interval longer than this many median intervals is sparse logging: its rows are readings, not interval means
GAP_MEDIAN_FACTOR = 10.0  # or this many median intervals, for files logged far more sparsely than that
LIMIT_TOL_V = 0.03  # a charge (discharge) ending farther than this from the data's top (bottom) voltage is incomplete: above the 25 mV logging step
OUTLIER_REL = 0.05  # a full cycle's Ah this far from its neighbours' median is an outlier: real fade is < 0.5 %/cycle, counter jumps ~10 %
OUTLIER_NEIGHBOURS = 4  # full cycles each side whose median is the reference
CARRY_CE_TOL = 0.02  # a CE this far below normal is a candidate carry-over; a run within it of normal is balanced
CARRY_MAX_CYCLES = 3  # CE > 100 % cycles a carry-over may pay back
MAD_TO_STD = 1.4826
SCATTER_MIN_CYCLES = 3  # clean full cycles for one second difference
SCATTER_TAIL_MIN_CYCLES = 200  # second differences before their 99th percentile is the recording's, not one event's
SCATTER_ROBUST_MIN = 5  # second differences before their median is a scale: a short's step moves two, fewer than half of five
SECOND_DIFF_GAIN = 1.2247  # sqrt(1.5): std of x_j - (x_j-1 + x_j+1) / 2 over one cycle's
SCATTER_QUANTILE = 0.99  # the scatter the estimators must pass: the 99th percentile of |deviation| ...
SCATTER_QUANTILE_Z = 2.576  # ... is 2.576 std of a normal


def _median(xs):
    s = sorted(xs)
    n = len(s)
    return 0.5 * (s[(n - 1) // 2] + s[n // 2])


def current_offset(i_raw, rest):
    """The current channel's offset (A), from the samples at rest (true current zero)."""
    at_rest = [x for x in i_raw if abs(x) < rest]
    if not at_rest:
        return 0.0
    # The median first: a CV hold's tail (C/20, just under ``rest``) logs
    # many rows, and their mean alone reads as an offset of a few mA that
    # would shift every count. Then the mean around it: readings are
    # quantised, and the noise dithers the mean below one step while a
    # median sticks to a step.
    mid = _median(at_rest)
    near = [x for x in at_rest if abs(x - mid) < 0.5 * rest]
    return sum(near) / len(near)


def _median_interval_s(t):
    dts = [t[k] - t[k - 1] for k in range(1, len(t)) if t[k] > t[k - 1]]
    return _median(dts) if dts else 0.0


def gap_limit_s(t):
    """Longest interval still counted as current flowing (s)."""
    return max(GAP_S_MIN, GAP_MEDIAN_FACTOR * _median_interval_s(t))


def cycles_from_samples(cols, formation_cycles=0):
    """Segment samples into cycles; return a list of contract-v1 ``cycle`` fields.

    Each also carries private keys the replay pops: ``_rows`` (start, stop),
    ``_partial`` (bool), ``_after_gap`` (bool), ``_flags`` (list of
    data-quality reasons, empty for a clean full cycle) and ``_v`` (the
    cycle's highest and lowest voltage, V).
    """
    t, v, i_raw = cols["time_s"], cols["voltage_v"], cols["current_a"]
    temp = cols.get("temperature_c")
    p = cols.get("pressure_mpa")
    i_max = max(abs(x) for x in i_raw)
    if i_max == 0.0:
        raise ReplayError("current_a is zero everywhere: nothing to replay")
    rest = REST_FRACTION * i_max
    count = COUNT_FRACTION * i_max
    offset = current_offset(i_raw, rest)
    cur = [x - offset for x in i_raw]
    gap_s = gap_limit_s(t)
    sparse_s = SPARSE_FACTOR * _median_interval_s(t)
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
        t_min = t_max = temp[k] if temp else 25.0
        p_min = p_max = p[k] if p else None
        r_ohm = 0.0
        start = k
        after_gap = k == 0 or t[k] - t[k - 1] > gap_s
        v_hi = v_lo = v[k]
        while k < len(t) and labels[k] == label:
            if k > 0 and t[k] - t[k - 1] <= gap_s:
                dt_h = (t[k] - t[k - 1]) / 3600.0
                sparse = t[k] - t[k - 1] > sparse_s
                x, x0 = cur[k], cur[k - 1]
                if x > count:
                    if x0 > count and sparse:  # a sparse row inside a charge step: trapezoid
                        acc["charge_ah"] += 0.5 * (x + x0) * dt_h
                        acc["charge_wh"] += 0.5 * (x * v[k] + x0 * v[k - 1]) * dt_h
                    else:
                        acc["charge_ah"] += x * dt_h
                        acc["charge_wh"] += x * v[k] * dt_h
                elif x < -count:
                    if x0 < -count and sparse:
                        acc["discharge_ah"] -= 0.5 * (x + x0) * dt_h
                        acc["discharge_wh"] -= 0.5 * (x * v[k] + x0 * v[k - 1]) * dt_h
                    else:
                        acc["discharge_ah"] -= x * dt_h
                        acc["discharge_wh"] -= x * v[k] * dt_h
                    if x < -rest and r_ohm == 0.0 and abs(x0) < rest:
                        # the voltage step at the start of discharge: series resistance
                        r_ohm = max((v[k - 1] - v[k]) / -x, 0.0)
            if temp:
                t_min, t_max = min(t_min, temp[k]), max(t_max, temp[k])
            if p:
                p_min, p_max = min(p_min, p[k]), max(p_max, p[k])
            v_hi, v_lo = max(v_hi, v[k]), min(v_lo, v[k])
            k += 1
        if acc["charge_ah"] <= 0.0 or acc["discharge_ah"] <= 0.0:
            continue  # a rest-only stretch or a half cycle: nothing to learn a cycle from
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
        msg["_after_gap"] = after_gap
        msg["_v"] = (v_hi, v_lo)
        out.append(msg)
    if not out:
        raise ReplayError("no complete cycle (a charge followed by a discharge) in the file")
    judge_cycles(out)
    return out


def data_limits_v(cycles):
    """(top, bottom) V: the data's own limits, what most cycles reach at the
    end of charge and of discharge (the median over cycles of each one's
    highest and lowest voltage: a few partial cycles do not move it)."""
    return _median([c["_v"][0] for c in cycles]), _median([c["_v"][1] for c in cycles])


def judge_cycles(cycles):
    """Mark partial cycles and data-quality outliers in place (``_partial``, ``_flags``)."""
    tops = [c["_v"] for c in cycles]
    v_top, v_bottom = data_limits_v(cycles)
    for j, (c, (hi, lo)) in enumerate(zip(cycles, tops)):
        flags = []
        # Short of the limit AND short of the neighbours' Ah: a coarsely
        # sampled file misses the last steep few mV of a full discharge (an
        # LFP cell's end falls 0.2 V between two rows), which costs no Ah.
        near = cycles[max(j - OUTLIER_NEIGHBOURS, 0) : j] + cycles[j + 1 : j + 1 + OUTLIER_NEIGHBOURS]
        for key, short_v, what, v_end, v_lim in (
            ("charge_ah", hi < v_top - LIMIT_TOL_V, "charge", hi, v_top),
            ("discharge_ah", lo > v_bottom + LIMIT_TOL_V, "discharge", lo, v_bottom),
        ):
            ref = _median([x[key] for x in near]) if near else c[key]
            if short_v and c[key] < (1.0 - OUTLIER_REL) * ref:
                flags.append("partial: %s ended at %.3f V (the data's limit %.3f V) with %.4f Ah, neighbours' median %.4f Ah" % (what, v_end, v_lim, c[key], ref))
        c["_partial"] = bool(flags)
        c["_flags"] = flags
    full = [c for c in cycles if not c["_partial"]]
    for j, c in enumerate(full):
        for key, what in (("discharge_ah", "discharge"), ("charge_ah", "charge")):
            ref = [x[key] for x in full[max(j - OUTLIER_NEIGHBOURS, 0) : j] + full[j + 1 : j + 1 + OUTLIER_NEIGHBOURS]]
            if len(ref) < 2:
                continue
            med = _median(ref)
            spread = MAD_TO_STD * _median([abs(r - med) for r in ref])
            dev = c[key] - med
            if abs(dev) <= max(OUTLIER_REL * med, 6.0 * spread):
                continue
            if dev > 0 and c["_after_gap"]:
                continue  # rest recovery: a rise after a long rest is real capacity
            c["_flags"].append("outlier: %s %.4f Ah, neighbours' median %.4f Ah (%+.1f %%)" % (what, c[key], med, 100.0 * dev / med))
    _carry_over(cycles)
    return cycles


def _carry_over(cycles):
    """Flag a low-CE cycle that only pays back the charge a CE > 100 % neighbour borrowed.

    A cycle that discharges more than it charged (CE above 100 %, which no
    leak can do) ends at a lower state of charge, and the next charge tops
    it up: that cycle's CE reads low by the same Ah. Counted together, the
    run's CE is the cell's normal one. Such a cycle is a counting artefact,
    not a leak; a low-CE cycle with no CE > 100 % neighbour is left alone
    (that is what a short looks like).
    """
    ces = [c["ce"] for c in cycles if not c["_flags"]]
    if not ces:
        return
    normal = _median(ces)
    for j, c in enumerate(cycles):
        if c["ce"] > normal - CARRY_CE_TOL or c["_flags"]:
            continue
        for step in (-1, 1):
            run, k = [c], j + step
            while 0 <= k < len(cycles) and len(run) <= CARRY_MAX_CYCLES and cycles[k]["ce"] > 1.0:
                run.append(cycles[k])
                k += step
            if len(run) < 2:
                continue
            ce_run = sum(x["discharge_ah"] for x in run) / sum(x["charge_ah"] for x in run)
            if abs(ce_run - normal) < CARRY_CE_TOL:
                c["_flags"].append("carry-over: CE %.4f pays back cycle %d's CE %.4f (together %.4f, normal %.4f)" % (c["ce"], run[1]["cycle"], run[1]["ce"], ce_run, normal))
                break


def counting_scatter(cycles):
    """How much one cycle's counts scatter in this recording: a dict, or None.

    {"second_differences": n, "discharge_rel": relative std of one cycle's
    discharge count, "ce": std of its CE, "tail": whether those are the
    recording's tail (True) or its robust scale (False)}, or None when fewer
    than ``SCATTER_MIN_CYCLES`` clean full cycles give no second difference.

    From the second difference of consecutive clean full cycles, x_j -
    (x_j-1 + x_j+1) / 2, which a fade (even a fast one) and the file's ends
    do not disturb; its std is sqrt(1.5) x one cycle's. Two scales:

    - The tail, on a long record (``SCATTER_TAIL_MIN_CYCLES`` second
      differences or more). Real counts are heavy tailed (on the CALCE cell
      the 99th percentile of the deviation is 10-15x its median, a normal's
      3.8x), and the estimators' gates sit in the tail (the filter's
      chi-square at 99.9 %, the CE deficit's half risk at 8 std): a healthy
      1-in-100 cycle must pass them, so the std is the 99th percentile /
      2.576.
    - The robust scale, on a short record: its 99th percentile would be its
      largest event, and that may be the onset of a short. The median
      absolute deviation x 1.4826 instead, which a short cannot move: a
      leak is a step in CE and loss (it drains every cycle from its onset
      on, cell-physics sec. 6), and a step shows in the second differences
      of only the two cycles around it (at half its size), while one-cycle
      counting excursions show at full size in one. With fewer than
      ``SCATTER_ROBUST_MIN`` second differences a median of them is no
      scale (a short's two would be half of them): "discharge_rel" and
      "ce" are None. The tail stays unmeasured, so the replay makes the
      detector wait for a deficit that lasts (replay.calibrate).
    """
    full = [c for c in cycles if not c["_flags"] and not c.get("formation")]
    if len(full) < SCATTER_MIN_CYCLES:
        return None
    dev_d, dev_ce = [], []
    for a, c, b in zip(full, full[1:], full[2:]):
        mid_d = 0.5 * (a["discharge_ah"] + b["discharge_ah"])
        dev_d.append(abs(c["discharge_ah"] - mid_d) / mid_d / SECOND_DIFF_GAIN)
        dev_ce.append(abs(c["ce"] - 0.5 * (a["ce"] + b["ce"])) / SECOND_DIFF_GAIN)
    n = len(dev_d)
    out = {"second_differences": n, "discharge_rel": None, "ce": None, "tail": n >= SCATTER_TAIL_MIN_CYCLES}
    if out["tail"]:
        q = int(SCATTER_QUANTILE * (n - 1))
        out.update(discharge_rel=sorted(dev_d)[q] / SCATTER_QUANTILE_Z, ce=sorted(dev_ce)[q] / SCATTER_QUANTILE_Z)
    elif n >= SCATTER_ROBUST_MIN:
        out.update(discharge_rel=MAD_TO_STD * _median(dev_d), ce=MAD_TO_STD * _median(dev_ce))
    return out
