"""BioLogic EC-Lab .mpr (binary), decoded by galvani, an OPTIONAL extra:
galvani is GPL-3.0, so this MIT project never depends on it; a user who
wants .mpr installs it with ``pip install platewise[biologic]``.

GCPL files carry ``time/s, Ewe/V``, the current as ``I/mA`` or (when only
the set point is logged) ``control/V/mA``, negative on discharge, and
``Q charge/discharge/mA.h``, which restarts at each half cycle (negative
while discharging). A cycle is a charge followed by a discharge: a new one
starts at the first charging sample after a discharge (EC-Lab's own
``cycle number`` is absent from these files). A cycle's charge Ah is the
sum of its charging half cycles' largest |Q|, likewise discharge.

Failure behaviour: ReplayError naming the file: galvani not installed
(with the install command), galvani cannot decode it (truncated, an
unknown module version), no time/voltage/current column.
"""

from platewise.host.twin.recording import ReplayError

from ._common import finish, iso_utc, need, pair, run_max_sum

FORMAT = "biologic-mpr"
INSTALL = "pip install platewise[biologic]"


def sniff(head):
    return head.startswith(b"BIO-LOGIC MODULAR FILE")


def read(path):
    galvani = need("galvani", INSTALL, path)
    try:
        mpr = galvani.BioLogic.MPRfile(str(path))
    except Exception as e:  # galvani raises ValueError, NotImplementedError, struct.error, ... on damaged files
        raise ReplayError("%s: galvani cannot decode it (%s: %s)" % (path, type(e).__name__, str(e)[:80])) from None
    data = mpr.data
    names = data.dtype.names
    cur_name = "I/mA" if "I/mA" in names else "control/V/mA" if "control/V/mA" in names else None
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
    meta = {"format": FORMAT}
    start = getattr(mpr, "timestamp", None)
    if start is not None:
        meta["start"] = iso_utc(start)
    return finish(path, cols, cycle_ah, meta)
