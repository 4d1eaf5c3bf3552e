"""Novonix HPC .csv: ``[Summary]``, ``[Protocol]`` and ``[Data]`` sections;
data columns ``Date and Time, Cycle Number, Step Type, Run Time (h), Step
Time (h), Current (A), Potential (V), Capacity (Ah), Temperature (°C), ...,
Step Number, ...``. Times in hours; current signed (+ charge). Rows may be
wrapped whole in double quotes (then each reads as one field and is split
again). ``Capacity (Ah)`` counts on over the steps of one direction (a CC
step continues from the CV hold before it) and restarts when the current
changes direction, so a cycle's charge Ah is the sum of its charging runs'
largest value, likewise discharge.

Failure behaviour: ReplayError naming the file: no ``[Data]`` section, a
missing column, a row that is not numbers (a cut-off last line is dropped).
"""

import csv

from platewise.host.twin.recording import ReplayError

from ._common import finish, iso_utc, pair, parse_datetime, run_max_sum, text_lines

FORMAT = "novonix-csv"
NEEDED = ("Cycle Number", "Run Time (h)", "Current (A)", "Potential (V)", "Capacity (Ah)", "Step Number")
DT = ("%Y-%m-%d %I:%M:%S %p", "%Y-%m-%d %H:%M:%S")


def sniff(head):
    text = head.decode("utf-8", "replace")
    return "[Summary]" in text and ("Novonix" in text or "[Protocol]" in text)


def _fields(line):
    r = next(csv.reader([line]))
    if len(r) == 1 and "," in r[0]:
        r = next(csv.reader([r[0]]))
    return [c.strip() for c in r]


def read(path):
    lines = text_lines(path, encoding="utf-8", errors="replace")
    d = next((k for k, line in enumerate(lines) if line.strip() == "[Data]"), None)
    if d is None or d + 1 >= len(lines):
        raise ReplayError("%s: no [Data] section" % path)
    header = _fields(lines[d + 1])
    missing = [c for c in NEEDED if c not in header]
    if missing:
        raise ReplayError("%s: missing column(s) %s" % (path, ", ".join(missing)))
    ix = {c: header.index(c) for c in NEEDED}
    t_ix = next((k for k, c in enumerate(header) if c.startswith("Temperature")), None)
    rows = [line for line in lines[d + 2 :] if line.strip()]
    t, v, i, cyc, step, q, temp = [], [], [], [], [], [], []
    first_dt = None
    for n, line in enumerate(rows):
        r = _fields(line)
        try:
            c, h, a, vv, ah, s = (float(r[ix[k]]) for k in NEEDED)
            tc = float(r[t_ix]) if t_ix is not None else None
        except (IndexError, ValueError) as e:
            if n == len(rows) - 1 and n > 0:
                break
            raise ReplayError("%s: data row %d: not numbers (%s)" % (path, n + 1, e)) from None
        if first_dt is None:
            first_dt = parse_datetime(r[0], DT)
        t.append(h * 3600.0)
        v.append(vv)
        i.append(a)
        cyc.append(int(c))
        step.append(int(s))
        q.append(ah)
        temp.append(tc)
    cols = {"time_s": t, "voltage_v": v, "current_a": i, "cycle_index": cyc, "step_index": step}
    if t_ix is not None:
        cols["temperature_c"] = temp
    # direction of each row: the sign of the last non-zero current (rests join the run they follow)
    first = next((x for x in i if x != 0.0), 1.0)
    direction, last = [], 1 if first > 0 else -1
    for x in i:
        last = 1 if x > 0 else -1 if x < 0 else last
        direction.append(last)
    charge = run_max_sum(cyc, direction, q, keep=lambda k: i[k] > 0)
    discharge = run_max_sum(cyc, direction, q, keep=lambda k: i[k] < 0)
    meta = {"format": FORMAT}
    for line in lines[:d]:
        key, _, val = line.strip().strip('"').partition(":")
        if key == "Capacity (Ah)":
            try:
                meta["nominal_ah"] = float(val)
            except ValueError:
                pass
        elif key == "Cell" and val.strip():
            meta["cell"] = val.strip()
    if first_dt is not None:
        from datetime import datetime, timezone

        from ._common import epoch_s

        meta["start"] = iso_utc(datetime.fromtimestamp(epoch_s(first_dt) - t[0], timezone.utc))
    return finish(path, cols, pair(charge, discharge), meta)
