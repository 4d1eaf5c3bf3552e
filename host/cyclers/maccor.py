"""Maccor text exports, tab-separated, in either of two layouts:

- ``Rec#, Cyc#, Step, Test (Sec), Step (Sec), Amp-hr, Watt-hr, Amps, Volts,
  State, ES, DPt Time, ...`` after a one-line header (A, Ah, V, s);
- ``Rec#, Cyc#, Step, TestTime, StepTime, mAmp-hr, mWatt-hr, mAmps, Volts,
  State, ES, DPt Time`` after a multi-line header: times as ``0d 00:01:00.00``,
  mA and mAh, and the column named ``Volts`` holding millivolts.

``State`` is C (charge), D (discharge), R (rest) or others; the current's
sign is taken from it (+ on C, - on D). The capacity column restarts at
each change of State, so a cycle's charge Ah is the sum of its C runs'
largest value (likewise D). When ``Cyc#`` never advances although charges
and discharges alternate (a procedure without a cycle counter), cycles are
split on State: a new cycle starts at the first C after a D.

Failure behaviour: ReplayError naming the file: no ``Rec#``/``Cyc#``
header, a missing column, a row that is not numbers (a truncated last row
is dropped only when it is the file's last line).
"""

import re

from platewise.host.twin.recording import ReplayError

from ._common import epoch_s, finish, iso_utc, pair, parse_datetime, run_max_sum, text_lines

FORMAT = "maccor-txt"
DT_FORMATS = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M")
_DHMS = re.compile(r"^\s*(\d+)d\s+(\d+):(\d+):([\d.]+)\s*$")


def sniff(head):
    text = head.decode("latin-1")
    return "Rec#" in text and "Cyc#" in text and "\t" in text


def _seconds(text):
    m = _DHMS.match(text)
    if m:
        d, h, mi, s = m.groups()
        return ((int(d) * 24 + int(h)) * 60 + int(mi)) * 60 + float(s)
    return float(text)


def _seen_d(state, cyc, k):
    """Whether a discharge precedes row k within row k's Cyc#."""
    j = k - 1
    while j >= 0 and cyc[j] == cyc[k]:
        if state[j] == "D":
            return True
        j -= 1
    return False


def read(path):
    lines = text_lines(path)
    h = next((k for k, line in enumerate(lines[:50]) if line.startswith("Rec#") and "Cyc#" in line), None)
    if h is None:
        raise ReplayError("%s: no Maccor header row (Rec#, Cyc#, ...) in the first 50 lines" % path)
    header = [c.strip() for c in lines[h].split("\t")]
    milli = "mAmps" in header or "mAmp-hr" in header
    names = {
        "time": "TestTime" if "TestTime" in header else "Test (Sec)",
        "amps": "mAmps" if milli else "Amps",
        "ah": "mAmp-hr" if milli else "Amp-hr",
    }
    need = [names["time"], names["amps"], names["ah"], "Cyc#", "Step", "Volts", "State"]
    missing = [c for c in need if c not in header]
    if missing:
        raise ReplayError("%s: missing column(s) %s" % (path, ", ".join(missing)))
    ix = {c: header.index(c) for c in need}
    scale = 1e-3 if milli else 1.0
    t, v, i, cyc, step, ah, state = [], [], [], [], [], [], []
    rows = [line for line in lines[h + 1 :] if line.strip()]
    for n, line in enumerate(rows):
        r = line.split("\t")
        try:
            st = r[ix["State"]].strip()
            tt = _seconds(r[ix[names["time"]]])
            vv = float(r[ix["Volts"]]) * scale
            a = abs(float(r[ix[names["amps"]]])) * scale
            q = float(r[ix[names["ah"]]]) * scale
            c, s = int(r[ix["Cyc#"]]), int(r[ix["Step"]])
        except (IndexError, ValueError) as e:
            if n == len(rows) - 1 and n > 0:
                break  # a cut-off last line
            raise ReplayError("%s: line %d: not a Maccor data row (%s)" % (path, h + 2 + n, e)) from None
        t.append(tt)
        v.append(vv)
        i.append(a if st == "C" else -a if st == "D" else 0.0 if st == "R" else a * (1 if float(r[ix[names["amps"]]]) >= 0 else -1))
        cyc.append(c)
        step.append(s)
        ah.append(q)
        state.append(st)
    if len(t) < 2:
        raise ReplayError("%s: fewer than 2 data rows" % path)
    # a cycle is charge then discharge; when one Cyc# holds several (the
    # procedure never advanced the counter), number them from State instead
    stuck = any(state[k] == "C" and state[k - 1] != "C" and cyc[k] == cyc[k - 1] and _seen_d(state, cyc, k) for k in range(1, len(state)))
    if stuck:
        cyc, n_c, seen_d = [], 0, False
        for st in state:
            if st == "C" and seen_d:
                n_c, seen_d = n_c + 1, False
            if st == "D":
                seen_d = True
            cyc.append(n_c)
    meta = {"format": FORMAT}
    dt_col = header.index("DPt Time") if "DPt Time" in header else None
    if dt_col is not None:
        first = lines[h + 1].split("\t")
        dt = parse_datetime(first[dt_col], DT_FORMATS) if len(first) > dt_col else None
        if dt is not None:
            from datetime import datetime, timezone

            meta["start"] = iso_utc(datetime.fromtimestamp(epoch_s(dt) - t[0], timezone.utc))
    charge = run_max_sum(cyc, state, ah, keep=lambda k: state[k] == "C")
    discharge = run_max_sum(cyc, state, ah, keep=lambda k: state[k] == "D")
    cols = {"time_s": t, "voltage_v": v, "current_a": i, "cycle_index": cyc, "step_index": step}
    return finish(path, cols, pair(charge, discharge), meta)
