"""BioLogic EC-Lab .mpr (binary), decoded by galvani, an OPTIONAL extra:
galvani is GPL-3.0, so this MIT project never depends on it; a user who
wants .mpr installs it with ``pip install platewise[biologic]``. EC-Lab's
.mpt text export ("EC-Lab ASCII FILE", ``Nb header lines : N``, then
tab-separated columns, decimal point or comma) needs nothing extra.

GCPL files carry ``time/s, Ewe/V``, the current as ``I/mA`` or (when only
the set point is logged) ``control/V/mA``, negative on discharge, and
``Q charge/discharge/mA.h``, which restarts at each half cycle (negative
while discharging). A cycle is a charge followed by a discharge: a new one
starts at the first charging sample after a discharge (EC-Lab's own
``cycle number`` is absent from these files). A cycle's charge Ah is the
sum of its charging half cycles' largest |Q|, likewise discharge.

Failure behaviour: ReplayError naming the file: galvani not installed
(with the install command), galvani cannot decode it (truncated, an
unknown module version), no time/voltage/current column, an .mpt row that
is not numbers (a cut-off last line is dropped).
"""

import re
from datetime import datetime

from platewise.host.twin.recording import ReplayError

from ._common import finish, iso_utc, need, pair, run_max_sum, text_lines

FORMAT = "biologic-mpr"
INSTALL = "pip install platewise[biologic]"


MPT_FORMAT = "biologic-mpt"
_MPT_START = re.compile(r"Acquisition started on\s*:\s*(\S+ \S+)")


def sniff(head):
    return head.startswith(b"BIO-LOGIC MODULAR FILE") or head.startswith(b"EC-Lab ASCII FILE")


def read(path):
    with open(path, "rb") as f:
        if f.read(17) == b"EC-Lab ASCII FILE":
            return read_mpt(path)
    galvani = need("galvani", INSTALL, path)
    try:
        mpr = galvani.BioLogic.MPRfile(str(path))
    except Exception as e:  # galvani raises ValueError, NotImplementedError, struct.error, ... on damaged files
        raise ReplayError("%s: galvani cannot decode it (%s: %s)" % (path, type(e).__name__, str(e)[:80])) from None
    data = mpr.data
    start = getattr(mpr, "timestamp", None)
    return _recording(path, FORMAT, data.dtype.names, data, iso_utc(start) if start is not None else None)


def read_mpt(path):
    lines = text_lines(path)
    m = re.match(r"Nb header lines\s*:\s*(\d+)", lines[1] if len(lines) > 1 else "")
    if not m:
        raise ReplayError("%s: no 'Nb header lines' on line 2 of an EC-Lab ASCII file" % path)
    n_head = int(m.group(1))
    if len(lines) < n_head + 1:
        raise ReplayError("%s: ends inside its %d header lines (truncated?)" % (path, n_head))
    names = tuple(c.strip() for c in lines[n_head - 1].split("\t") if c.strip())
    rows = [line for line in lines[n_head:] if line.strip()]
    data = {n: [] for n in names}
    for k, line in enumerate(rows):
        cells = line.split("\t")
        try:
            vals = [float(c.replace(",", ".")) for c in cells[: len(names)]]
            if len(vals) < len(names):
                raise ValueError("%d of %d columns" % (len(vals), len(names)))
        except ValueError as e:
            if k == len(rows) - 1 and k > 0:
                break
            raise ReplayError("%s: line %d: not an EC-Lab data row (%s)" % (path, n_head + 1 + k, e)) from None
        for n, x in zip(names, vals):
            data[n].append(x)
    start = None
    for line in lines[:n_head]:
        s = _MPT_START.search(line)
        if s:
            for fmt in ("%m/%d/%Y %H:%M:%S.%f", "%m/%d/%Y %H:%M:%S"):
                try:
                    start = iso_utc(datetime.strptime(s.group(1), fmt))
                    break
                except ValueError:
                    pass
    return _recording(path, MPT_FORMAT, names, data, start)


def _recording(path, fmt, names, data, start):
    cur_name = next((n for n in ("I/mA", "<I>/mA", "control/V/mA") if n in names), None)
    missing = [n for n, ok in (("time/s", "time/s" in names), ("Ewe/V", "Ewe/V" in names), ("I/mA or control/V/mA", cur_name)) if not ok]
    if missing:
        raise ReplayError("%s: no column(s) %s (have: %s)" % (path, ", ".join(missing), ", ".join(names)))
    t = [float(x) for x in data["time/s"]]
    v = [float(x) for x in data["Ewe/V"]]
    i = [float(x) / 1000.0 for x in data[cur_name]]
    rest = 0.02 * max(abs(x) for x in i)
    cyc, n, discharged = [], 0, False
    for x in i:
        if x > rest and discharged:
            n, discharged = n + 1, False
        if x < -rest:
            discharged = True
        cyc.append(n)
    cols = {"time_s": t, "voltage_v": v, "current_a": i, "cycle_index": cyc}
    cycle_ah = None
    if "Q charge/discharge/mA.h" in names and "half cycle" in names:
        q = [float(x) / 1000.0 for x in data["Q charge/discharge/mA.h"]]
        half = [int(x) for x in data["half cycle"]]
        cycle_ah = pair(run_max_sum(cyc, half, q, keep=lambda k: i[k] > rest), run_max_sum(cyc, half, q, keep=lambda k: i[k] < -rest))
    meta = {"format": fmt}
    if start is not None:
        meta["start"] = start
    return finish(path, cols, cycle_ah, meta)
