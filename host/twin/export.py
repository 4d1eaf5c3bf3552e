"""Export of the twin's per-cell history from its SQLite file.

``export(db_path, out_dir, cell_id=None, fmt="csv")`` writes, per cell,
``<cell>_history.<ext>``: one row per cycle, the cycle summary the board
sent joined with the twin's estimate after it (inventory and its std,
predictions with their 90 % interval, loss split, short risk), and
``<cell>_alarms.<ext>``: every alarm raised or cleared with its evidence.

CSV needs nothing extra. Parquet needs pyarrow, an optional dependency
(``pip install pyarrow``): it is only worth its ~40 MB for fleets whose
history is analysed in dataframes; without it ``fmt="parquet"`` fails with
that instruction.

Failure behaviour: a missing database, an unknown cell or a missing pyarrow
raises ``ExportError`` naming it; the database is opened read-only, so an
export never changes it, even while a live twin writes (WAL).
"""

import csv
import os
import sqlite3

HISTORY_SQL = """
SELECT c.cycle, c.t_s, c.charge_ah, c.discharge_ah, c.ce, c.t_min_c, c.t_max_c, c.p_min_mpa, c.p_max_mpa, c.r_ohm,
       c.formation, e.outcome, e.inventory_ah, e.inventory_std_ah, e.loss_ah_per_cycle, e.loss_std_ah_per_cycle,
       e.eol_cycle_pred, e.eol_cycle_lo, e.eol_cycle_hi, e.sei_ah, e.sei_std_ah, e.dead_ah, e.dead_std_ah, e.short_risk,
       e.r25_ohm, e.r25_std_ohm, e.r_growth_ohm_per_cycle, e.r_eol_cycle_pred, e.r_eol_cycle_lo, e.r_eol_cycle_hi
FROM cycles c LEFT JOIN estimates e ON e.cell_id = c.cell_id AND e.cycle = c.cycle
WHERE c.cell_id = ? ORDER BY c.cycle
"""
ALARMS_SQL = "SELECT cycle, code, action, severity, value, evidence, created_at FROM alarms WHERE cell_id = ? ORDER BY id"


class ExportError(RuntimeError):
    pass


def _connect(db_path):
    if not os.path.exists(db_path):
        raise ExportError("no database at %s" % db_path)
    return sqlite3.connect("file:%s?mode=ro" % db_path, uri=True)


def _table(conn, sql, params):
    cur = conn.execute(sql, params)
    return [d[0] for d in cur.description], cur.fetchall()


def _write(path, names, rows, fmt):
    if fmt == "csv":
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(names)
            w.writerows(rows)
        return
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ExportError("Parquet needs pyarrow: pip install pyarrow (or use --format csv)") from None
    cols = {n: [r[i] for r in rows] for i, n in enumerate(names)}
    pq.write_table(pa.table(cols), path)


def export(db_path, out_dir, cell_id=None, fmt="csv"):
    """Write the history and alarms of one or every cell; return the paths written."""
    if fmt not in ("csv", "parquet"):
        raise ExportError("format must be csv or parquet, got %r" % (fmt,))
    conn = _connect(db_path)
    try:
        cells = [r[0] for r in conn.execute("SELECT DISTINCT cell_id FROM cycles ORDER BY cell_id")]
        if cell_id is not None:
            if cell_id not in cells:
                raise ExportError("no cycles for cell %r in %s (cells: %s)" % (cell_id, db_path, ", ".join(cells) or "none"))
            cells = [cell_id]
        os.makedirs(out_dir, exist_ok=True)
        written = []
        for c in cells:
            for name, sql in (("history", HISTORY_SQL), ("alarms", ALARMS_SQL)):
                names, rows = _table(conn, sql, (c,))
                path = os.path.join(out_dir, "%s_%s.%s" % (c, name, fmt))
                _write(path, names, rows, fmt)
                written.append(path)
        return written
    finally:
        conn.close()
