"""Arbin .res: a Microsoft Access (Jet) database written by MITS Pro, read
through Debian's mdbtools (``mdb-export FILE Channel_Normal_Table``;
``apt-get install mdbtools``). Columns ``Test_Time, DateTime, Step_Index,
Cycle_Index, Current, Voltage, Charge_Capacity, Discharge_Capacity`` in s,
A, V, Ah; current + on charge. ``DateTime`` is an OLE date (days since
1899-12-30). The capacity columns restart at each cycle, so a cycle's Ah is
their largest value in it. ``Global_Table`` gives the test name.

Failure behaviour: ReplayError naming the file: ``mdb-export`` not on PATH
(with the apt command), mdbtools cannot open the database (truncated or not
an Arbin file), a missing column.
"""

import csv
import io
import shutil
import subprocess
from datetime import datetime, timedelta, timezone

from platewise.host.twin.recording import ReplayError

from ._common import finish, iso_utc, pair, run_max_sum

FORMAT = "arbin-res"
NEEDED = ("Test_Time", "Cycle_Index", "Step_Index", "Current", "Voltage", "Charge_Capacity", "Discharge_Capacity")
OLE_EPOCH = datetime(1899, 12, 30, tzinfo=timezone.utc)
TIMEOUT_S = 120


def sniff(head):
    return head[4:19] == b"Standard Jet DB"


def _export(path, table):
    exe = shutil.which("mdb-export")
    if exe is None:
        raise ReplayError("%s: reading Arbin .res needs mdb-export from mdbtools: apt-get install mdbtools" % path)
    try:
        p = subprocess.run([exe, str(path), table], capture_output=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ReplayError("%s: mdb-export took over %d s" % (path, TIMEOUT_S)) from None
    if p.returncode != 0 or not p.stdout:
        why = p.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ReplayError("%s: mdb-export cannot read table %s (%s)" % (path, table, why[0] if why else "no output; truncated?"))
    return list(csv.reader(io.StringIO(p.stdout.decode("utf-8", "replace"))))


def read(path):
    rows = _export(path, "Channel_Normal_Table")
    header = rows[0]
    missing = [c for c in NEEDED if c not in header]
    if missing:
        raise ReplayError("%s: Channel_Normal_Table has no column(s) %s" % (path, ", ".join(missing)))
    ix = {c: header.index(c) for c in NEEDED}
    data = []
    try:
        for r in rows[1:]:
            if r:
                data.append([float(r[ix[c]]) for c in NEEDED])
    except (IndexError, ValueError) as e:
        raise ReplayError("%s: Channel_Normal_Table row %d: %s" % (path, len(data) + 2, e)) from None
    data.sort(key=lambda d: d[0])  # Access keeps no row order
    t = [d[0] for d in data]
    cyc = [int(d[1]) for d in data]
    cols = {"time_s": t, "voltage_v": [d[4] for d in data], "current_a": [d[3] for d in data], "cycle_index": cyc, "step_index": [int(d[2]) for d in data]}
    cycle_ah = pair(run_max_sum(cyc, cyc, [d[5] for d in data]), run_max_sum(cyc, cyc, [d[6] for d in data]))
    meta = {"format": FORMAT}
    try:
        g = _export(path, "Global_Table")
        gi = dict(zip(g[0], g[1]))
        meta["start"] = iso_utc(OLE_EPOCH + timedelta(days=float(gi["Start_DateTime"])))
        meta["cell"] = gi.get("Test_Name", "")
    except (ReplayError, KeyError, IndexError, ValueError):
        pass  # the test's name and start are extras; the samples are read
    return finish(path, cols, cycle_ah, meta)
