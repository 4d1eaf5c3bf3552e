"""Neware .ndax (zip of XML and binary records, BTS 8) and .nda (older
single binary file), decoded by NewareNDA (BSD-3-Clause, a core dependency).

NewareNDA gives V, mA, mAh and a UTC ``Timestamp``; capacity restarts at
every step, so a cycle's charge Ah is the sum of its charge steps' largest
value (CC plus CV), likewise discharge. Current is negative on discharge.

Failure behaviour: ReplayError naming the file when NewareNDA cannot decode
it (a truncated .ndax, an unknown version) or is not installed. A .nda cut
between records reads as the records it still holds: NewareNDA cannot tell
it from a shorter test.
"""

from platewise.host.twin.recording import ReplayError

from ._common import finish, iso_utc, need, pair, run_max_sum

FORMAT = "neware"


def sniff(head):
    return head.startswith(b"NEWARE")


def sniff_zip(names):
    return any(n.endswith(".ndc") for n in names) and "TestInfo.xml" in names


def read(path):
    nda = need("NewareNDA", "pip install NewareNDA", path)
    try:
        df = nda.read(str(path))
    except Exception as e:  # the decoder raises anything from struct.error to KeyError on a damaged file
        raise ReplayError("%s: Neware file cannot be decoded (%s: %s)" % (path, type(e).__name__, str(e)[:80])) from None
    if len(df) < 2:
        raise ReplayError("%s: fewer than 2 records" % path)
    ts = df["Timestamp"]
    t0 = ts.iloc[0]
    t = [float(x) for x in (ts - t0).dt.total_seconds()]
    cur = [float(x) / 1000.0 for x in df["Current(mA)"]]
    cyc = [int(x) for x in df["Cycle"]]
    step = [int(x) for x in df["Step"]]
    qc = [float(x) / 1000.0 for x in df["Charge_Capacity(mAh)"]]
    qd = [float(x) / 1000.0 for x in df["Discharge_Capacity(mAh)"]]
    cols = {"time_s": t, "voltage_v": [float(x) for x in df["Voltage"]], "current_a": cur, "cycle_index": cyc, "step_index": step}
    cycle_ah = pair(run_max_sum(cyc, step, qc), run_max_sum(cyc, step, qd))
    meta = {"format": FORMAT + ("-ndax" if str(path).lower().endswith(".ndax") else "-nda"), "start": iso_utc(t0.to_pydatetime())}
    return finish(path, cols, cycle_ah, meta)
