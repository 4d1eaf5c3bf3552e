"""The project's own replay CSV (time_s, voltage_v, current_a, temperature_c
[, pressure_mpa, cycle_index]; the columns are described in
host/twin/replay.py), read and checked by ``read_csv``.

No capacity counters: ``cycle_ah`` is None.

Failure behaviour: ReplayError naming the column and row (other units,
values outside physical ranges, non-numbers, time going backwards), or the
file when it cannot be opened or is empty.
"""

import csv
import math

from platewise.host.twin.recording import Recording, ReplayError

REQUIRED = ("time_s", "voltage_v", "current_a", "temperature_c")
OPTIONAL = ("pressure_mpa", "cycle_index")
# column name someone might use -> what to do instead
WRONG_UNITS = {
    "time_ms": "time in ms: divide by 1000 and name the column time_s",
    "time_h": "time in h: multiply by 3600 and name the column time_s",
    "voltage_mv": "voltage in mV: divide by 1000 and name the column voltage_v",
    "current_ma": "current in mA: divide by 1000 and name the column current_a",
    "temperature_k": "temperature in K: subtract 273.15 and name the column temperature_c",
    "pressure_kpa": "pressure in kPa: divide by 1000 and name the column pressure_mpa",
    "pressure_bar": "pressure in bar: divide by 10 and name the column pressure_mpa",
    "pressure_psi": "pressure in psi: multiply by 0.00689476 and name the column pressure_mpa",
}
# column -> (lo, hi, hint when outside)
RANGES = {
    "voltage_v": (-1.0, 10.0, "is it in mV?"),
    "current_a": (-1000.0, 1000.0, "is it in mA?"),
    "temperature_c": (-60.0, 200.0, "is it in K?"),
    "pressure_mpa": (-1.0, 500.0, "is it in kPa or psi?"),
}


def read_csv(path):
    """Read and check a replay CSV; return {column: list of floats} (cycle_index as int)."""
    try:
        f = open(path, newline="")
    except OSError as e:
        raise ReplayError("cannot open %s: %s" % (path, e.strerror or e)) from e
    with f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise ReplayError("%s is empty (expected a header row: %s)" % (path, ", ".join(REQUIRED))) from None
        header = [h.strip().lower() for h in header]
        for h in header:
            if h in WRONG_UNITS:
                raise ReplayError("column %s: %s" % (h, WRONG_UNITS[h]))
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise ReplayError("missing column(s) %s (have: %s)" % (", ".join(missing), ", ".join(header)))
        idx = {c: header.index(c) for c in REQUIRED + OPTIONAL if c in header}
        cols = {c: [] for c in idx}
        for row_no, row in enumerate(reader, start=2):
            if not row or all(not cell.strip() for cell in row):
                continue
            for c, i in idx.items():
                if i >= len(row):
                    raise ReplayError("row %d: no value for %s" % (row_no, c))
                text = row[i].strip()
                try:
                    v = int(text) if c == "cycle_index" else float(text)
                except ValueError:
                    raise ReplayError("row %d, column %s: %r is not a %s" % (row_no, c, text[:30], "integer" if c == "cycle_index" else "number")) from None
                if c != "cycle_index" and not math.isfinite(v):
                    raise ReplayError("row %d, column %s: not finite" % (row_no, c))
                if c in RANGES:
                    lo, hi, hint = RANGES[c]
                    if not lo <= v <= hi:
                        raise ReplayError("row %d, column %s: %g outside [%g, %g] (%s)" % (row_no, c, v, lo, hi, hint))
                cols[c].append(v)
    t = cols["time_s"]
    if len(t) < 2:
        raise ReplayError("%s has fewer than 2 samples" % path)
    for k in range(1, len(t)):
        if t[k] < t[k - 1]:
            raise ReplayError("row %d: time_s goes backwards (%g after %g)" % (k + 2, t[k], t[k - 1]))
    return cols

FORMAT = "platewise-csv"


def sniff(head):
    first = head.split(b"\n", 1)[0].lower()
    return b"time_s" in first  # read_csv then names any column problem


def read(path):
    return Recording(read_csv(path), None, {"format": FORMAT, "files": [str(path)]}).check()
