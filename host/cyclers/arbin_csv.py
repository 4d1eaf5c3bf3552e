"""Arbin .csv exports (MITS Pro "export to CSV"): one header line with the
columns of the .xlsx export, ``Data_Point, Test_Time(s), Date_Time,
Step_Index, Cycle_Index, Current(A), Voltage(V), Charge_Capacity(Ah),
Discharge_Capacity(Ah), ...`` (some exports write ``Test_Time (s)``), then
one row per sample; A, V, Ah, s; current + on charge; the capacity columns
add up over the test. Read by the .xlsx reader's row loop
(arbin_xlsx.arbin_rows), so both give the same Recording for the same data.

Failure behaviour: ReplayError naming the file: no Arbin header, a missing
column, a row that is not numbers (its line number).
"""

import csv

from platewise.host.twin.recording import ReplayError

from ._common import finish
from .arbin_xlsx import arbin_rows, start_meta

FORMAT = "arbin-csv"


def sniff(head):
    first = head.decode("latin-1").split("\n", 1)[0].replace(" (", "(")
    return "Test_Time(s)" in first and "Cycle_Index" in first and "Charge_Capacity(Ah)" in first


def read(path):
    try:
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
            rows = csv.reader(f)
            try:
                header = [h.strip() for h in next(rows)]
            except StopIteration:
                raise ReplayError("%s: empty file" % path) from None
            cols, cycle_ah, first_dt = arbin_rows(path, header, rows, "line")
    except OSError as e:
        raise ReplayError("cannot open %s: %s" % (path, e.strerror or e)) from None
    return finish(path, cols, cycle_ah, start_meta(FORMAT, first_dt))
