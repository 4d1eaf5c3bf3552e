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

from ._common import counter_rise, epoch_s, finish, iso_utc, pair, parse_datetime

FORMAT = "arbin-xlsx"
NEEDED = ("Test_Time(s)", "Cycle_Index", "Current(A)", "Voltage(V)", "Charge_Capacity(Ah)", "Discharge_Capacity(Ah)")
# Date_Time as text (a CSV export), in the layouts MITS Pro writes.
DT_TEXT = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S.%f", "%m/%d/%Y %I:%M:%S %p", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S")


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
        cols, cycle_ah, first_dt = arbin_rows(path, header, rows, "row")
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise ReplayError("%s: truncated or damaged workbook (%s)" % (path, e)) from None
    finally:
        wb.close()
    return finish(path, cols, cycle_ah, start_meta(FORMAT, first_dt))


def arbin_rows(path, header, rows, where):
    """Columns, the counters' per-cycle Ah and (first Date_Time, its test
    time) from an Arbin export's header and rows (cells as the workbook or
    the CSV gives them); ``where`` names a row in errors. Column names are
    matched without the space some exports put before the unit."""
    header = [h.replace(" (", "(") for h in header]
    missing = [c for c in NEEDED if c not in header]
    if missing:
        raise ReplayError("%s: missing column(s) %s" % (path, ", ".join(missing)))
    ix = {c: header.index(c) for c in NEEDED + ("Date_Time", "Step_Index") if c in header}
    t, v, i, cyc, step, qc, qd = [], [], [], [], [], [], []
    first_dt = None
    row_no = 1
    try:
        for row_no, r in enumerate(rows, start=2):
            if r[ix["Test_Time(s)"]] in (None, ""):
                continue
            t.append(float(r[ix["Test_Time(s)"]]))
            v.append(float(r[ix["Voltage(V)"]]))
            i.append(float(r[ix["Current(A)"]]))
            cyc.append(int(float(r[ix["Cycle_Index"]])))
            step.append(int(float(r[ix["Step_Index"]])) if "Step_Index" in ix else 0)
            qc.append(float(r[ix["Charge_Capacity(Ah)"]]))
            qd.append(float(r[ix["Discharge_Capacity(Ah)"]]))
            if first_dt is None and "Date_Time" in ix:
                dt = r[ix["Date_Time"]]
                dt = dt if hasattr(dt, "year") else parse_datetime(str(dt), DT_TEXT)
                if dt is not None:
                    first_dt = (dt, t[-1])
    except (TypeError, ValueError, IndexError) as e:
        raise ReplayError("%s: %s %d: %s" % (path, where, row_no, e)) from None
    cols = {"time_s": t, "voltage_v": v, "current_a": i, "cycle_index": cyc, "step_index": step}
    return cols, pair(counter_rise(cyc, qc), counter_rise(cyc, qd)), first_dt


def start_meta(fmt, first_dt):
    meta = {"format": fmt}
    if first_dt is not None:
        from datetime import datetime, timezone

        start = epoch_s(first_dt[0]) - first_dt[1]  # Date_Time of the first row, minus its test time
        meta["start"] = iso_utc(datetime.fromtimestamp(start, timezone.utc))
    return meta
