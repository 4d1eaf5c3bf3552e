"""PEC .csv: a preamble (test regime, start time, a results check), then the
header ``Test,Cell,...,Step,Cycle,Total Time (Seconds),...,Voltage (mV),
Current (mA),Charge Capacity (mAh),Discharge Capacity (mAh),...`` with
ambient and cell-surface temperatures. mV, mA, mAh; current + on charge.
The capacity columns count from 0 within each cycle, so a cycle's Ah is
their largest value in it.

Failure behaviour: ReplayError naming the file: no data header, a missing
column, a row that is not numbers (a cut-off last line is dropped).
"""

import csv

from platewise.host.twin.recording import ReplayError

from ._common import epoch_s, finish, iso_utc, pair, parse_datetime, run_max_sum

FORMAT = "pec-csv"
NEEDED = ("Cycle", "Step", "Total Time (Seconds)", "Voltage (mV)", "Current (mA)", "Charge Capacity (mAh)", "Discharge Capacity (mAh)")
DT = ("%m/%d/%Y %H:%M:%S",)


def sniff(head):
    text = head.decode("latin-1")
    return "TestRegime Name" in text or text.startswith("Test,Cell,Rack")


def read(path):
    try:
        with open(path, encoding="latin-1", newline="") as f:
            lines = list(csv.reader(f))
    except OSError as e:
        raise ReplayError("cannot open %s: %s" % (path, e.strerror or e)) from None
    h = next((k for k, r in enumerate(lines[:200]) if r[:2] == ["Test", "Cell"]), None)
    if h is None:
        raise ReplayError("%s: no PEC data header (Test,Cell,...)" % path)
    header = [c.strip() for c in lines[h]]
    missing = [c for c in NEEDED if c not in header]
    if missing:
        raise ReplayError("%s: missing column(s) %s" % (path, ", ".join(missing)))
    ix = {c: header.index(c) for c in NEEDED}
    temp_ix = header.index("Cell surface temperature (°C)") if "Cell surface temperature (°C)" in header else None
    rows = [r for r in lines[h + 1 :] if r]
    t, v, i, cyc, step, qc, qd, temp = [], [], [], [], [], [], [], []
    for n, r in enumerate(rows):
        try:
            vals = [float(r[ix[c]]) for c in NEEDED]
        except (IndexError, ValueError) as e:
            if n == len(rows) - 1 and n > 0:
                break
            raise ReplayError("%s: line %d: not a PEC data row (%s)" % (path, h + 2 + n, e)) from None
        c, s, tt, mv, ma, mc, md = vals
        t.append(tt)
        v.append(mv / 1000.0)
        i.append(ma / 1000.0)
        cyc.append(int(c))
        step.append(int(s))
        qc.append(mc / 1000.0)
        qd.append(md / 1000.0)
        if temp_ix is not None:
            try:
                temp.append(float(r[temp_ix]))
            except (IndexError, ValueError):
                temp.append(None)
    cols = {"time_s": t, "voltage_v": v, "current_a": i, "cycle_index": cyc, "step_index": step}
    if temp and all(x is not None for x in temp):
        cols["temperature_c"] = temp
    elif temp and any(x is not None for x in temp):
        # some rows log no temperature: carry the last reading (the first from the next one)
        last = next(x for x in temp if x is not None)
        filled = []
        for x in temp:
            last = x if x is not None else last
            filled.append(last)
        cols["temperature_c"] = filled
    meta = {"format": FORMAT}
    start = next((r[1] for r in lines[:h] if r and r[0].strip() == "Start Time:" and len(r) > 1), None)
    dt = parse_datetime(start, DT) if start else None
    if dt is not None:
        from datetime import datetime, timezone

        meta["start"] = iso_utc(datetime.fromtimestamp(epoch_s(dt), timezone.utc))
    return finish(path, cols, pair(run_max_sum(cyc, cyc, qc), run_max_sum(cyc, cyc, qd)), meta)
