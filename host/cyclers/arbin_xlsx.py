"""Arbin .xlsx exports (e.g. CALCE): sheet(s) ``Channel_*`` with
``Test_Time(s), Date_Time, Step_Index, Cycle_Index, Current(A), Voltage(V),
Charge_Capacity(Ah), Discharge_Capacity(Ah)``; A, V, Ah, s; current + on
charge. The capacity columns add up over the whole workbook, so a cycle's
Ah is the counter's rise within the cycle. No temperature column.

Read with openpyxl in read-only mode (a core dependency).

Failure behaviour: ReplayError naming the file: not a workbook or a
truncated one, no ``Channel_*`` sheet, a missing column, a non-numeric cell.
"""

import zipfile

from platewise.host.twin.recording import ReplayError

from ._common import counter_rise, epoch_s, finish, iso_utc, pair

FORMAT = "arbin-xlsx"
NEEDED = ("Test_Time(s)", "Cycle_Index", "Current(A)", "Voltage(V)", "Charge_Capacity(Ah)", "Discharge_Capacity(Ah)")


def sniff_zip(names):
    return "xl/workbook.xml" in names


def read(path):
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as e:
        raise ReplayError("%s: not a readable .xlsx workbook (%s)" % (path, e or type(e).__name__)) from None
    try:
        sheets = [s for s in wb.sheetnames if s.startswith("Channel")]
        if not sheets:
            raise ReplayError("%s: no Channel_* sheet (have: %s)" % (path, ", ".join(wb.sheetnames)))
        rows = wb[sheets[0]].iter_rows(values_only=True)
        try:
            header = [str(h).strip() if h is not None else "" for h in next(rows)]
        except StopIteration:
            raise ReplayError("%s: sheet %s is empty" % (path, sheets[0])) from None
        missing = [c for c in NEEDED if c not in header]
        if missing:
            raise ReplayError("%s: missing column(s) %s" % (path, ", ".join(missing)))
        ix = {c: header.index(c) for c in NEEDED + ("Date_Time", "Step_Index") if c in header}
        t, v, i, cyc, step, qc, qd = [], [], [], [], [], [], []
        first_dt = None
        try:
            for row_no, r in enumerate(rows, start=2):
                if r[ix["Test_Time(s)"]] is None:
                    continue
                t.append(float(r[ix["Test_Time(s)"]]))
                v.append(float(r[ix["Voltage(V)"]]))
                i.append(float(r[ix["Current(A)"]]))
                cyc.append(int(r[ix["Cycle_Index"]]))
                step.append(int(r[ix["Step_Index"]]) if "Step_Index" in ix else 0)
                qc.append(float(r[ix["Charge_Capacity(Ah)"]]))
                qd.append(float(r[ix["Discharge_Capacity(Ah)"]]))
                if first_dt is None and "Date_Time" in ix and hasattr(r[ix["Date_Time"]], "year"):
                    first_dt = (r[ix["Date_Time"]], t[-1])
        except (TypeError, ValueError, IndexError) as e:
            raise ReplayError("%s: row %d: %s" % (path, row_no, e)) from None
        except (zipfile.BadZipFile, EOFError, OSError) as e:
            raise ReplayError("%s: truncated or damaged workbook (%s)" % (path, e)) from None
    finally:
        wb.close()
    meta = {"format": FORMAT}
    if first_dt is not None:
        start = epoch_s(first_dt[0]) - first_dt[1]  # Date_Time of the first row, minus its test time
        from datetime import datetime, timezone

        meta["start"] = iso_utc(datetime.fromtimestamp(start, timezone.utc))
    cols = {"time_s": t, "voltage_v": v, "current_a": i, "cycle_index": cyc, "step_index": step}
    return finish(path, cols, pair(counter_rise(cyc, qc), counter_rise(cyc, qd)), meta)
