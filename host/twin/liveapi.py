"""The live queries behind the dashboard's routes (http.py routes them).

``fleet``: one row per cell from the ``cells`` table (kept on write, see
livetables.py) joined with its latest estimate, its first resistance (the
drift reference) and its active alarms: no scan of the message log.

``series``: a cell's samples in a time window from the ``samples`` table.
When the window holds more than ``points`` samples it is decimated on the
server by min/max per bucket: the window is cut into ``points // 2`` equal
time buckets and each bucket gives two points, (its first time, each
field's minimum) and (its last time, each field's maximum). A bucket is
about a pixel wide, so the drawn envelope is the raw one: a one-sample
spike is still drawn at its full height.

``Cursor`` and ``live_batch``: the multiplexed event stream. A cursor is
the last id seen in each source (messages, samples, estimates, alarms),
written as one SSE id "m.s.e.a", so a browser's Last-Event-ID resumes every
source where it stopped.

Failure behaviour: a bad parameter (window, point count, field name, a
malformed cursor) raises ``ApiError(400, why)``; an unknown cell 404.
"""

import json

from .livetables import SAMPLE_FIELDS

MAX_POINTS = 10000  # a chart never needs more: a few thousand pixels wide
DEFAULT_POINTS = 2000
LIVE_BATCH = 5000  # rows per source per poll of the stream (a backlog goes at full speed)
EVENT_KINDS = ("event", "status")  # messages the stream forwards as they are

FLEET_SQL = """
SELECT c.cell_id, c.status, c.status_retained, c.status_at_s, c.last_seen_s, c.messages, c.state, c.cycle,
       c.cycle_charge_ah, c.cycle_discharge_ah, c.last_msg_id,
       e.cycle AS est_cycle, e.inventory_ah, e.inventory_std_ah, e.initial_inventory_ah,
       e.eol_cycle_pred, e.eol_cycle_lo, e.eol_cycle_hi, e.short_risk, e.r25_ohm, r.r25_first_ohm
FROM cells c
LEFT JOIN (SELECT cell_id, MAX(cycle) AS cycle FROM estimates GROUP BY cell_id) le ON le.cell_id = c.cell_id
LEFT JOIN estimates e ON e.cell_id = le.cell_id AND e.cycle = le.cycle
LEFT JOIN (SELECT cell_id, r25_ohm AS r25_first_ohm, MIN(cycle) FROM estimates WHERE r25_ohm IS NOT NULL GROUP BY cell_id) r
       ON r.cell_id = c.cell_id
%s ORDER BY c.cell_id
"""
Z90 = 1.6448536269514722  # two-sided 90 % band of a normal estimate


class ApiError(Exception):
    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status


def rows(conn, sql, params=()):
    cur = conn.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def active_alarms(conn, cell_ids=None):
    """{cell_id: {code: {"severity", "since_cycle", "value"}}} after every raise/clear in order
    (of ``cell_ids``, a list, or of every cell)."""
    sql = "SELECT cell_id, code, action, severity, cycle, value FROM alarms"
    params = ()
    if cell_ids is not None:
        params = tuple(cell_ids)
        sql += " WHERE cell_id IN (%s)" % ", ".join("?" * len(params))
    out = {}
    for cid, code, action, severity, cycle, value in conn.execute(sql + " ORDER BY id", params):
        active = out.setdefault(cid, {})
        if action == "raise":
            active[code] = {"severity": severity, "since_cycle": cycle, "value": value}
        else:
            active.pop(code, None)
    return out


def _fleet_row(r, alarms):
    """What the fleet page shows of one cell, derived figures included."""
    init = r["initial_inventory_ah"]
    inv = r["inventory_ah"]
    row = dict(r)
    row["online"] = None if r["status"] is None else r["status"] == "online"
    row["inventory_pct"] = None if not (init and inv is not None) else 100.0 * inv / init
    std = r["inventory_std_ah"]
    row["inventory_band_pct"] = None if not (init and std is not None) else 100.0 * Z90 * std / init
    # Anode-less: the charge plated in this cycle is the lithium on the anode
    # side; its share of the inventory is the state of charge (coulomb count).
    plated = None if r["cycle_charge_ah"] is None else r["cycle_charge_ah"] - (r["cycle_discharge_ah"] or 0.0)
    row["soc_pct"] = None if not (inv and plated is not None) else max(0.0, min(100.0, 100.0 * plated / inv))
    first = r["r25_first_ohm"]
    row["r_drift_pct"] = None if not (first and r["r25_ohm"] is not None) else 100.0 * (r["r25_ohm"] - first) / first
    row["alarms"] = alarms.get(r["cell_id"], {})
    return row


def fleet(conn, cell_ids=None):
    """Every cell's fleet row (or only ``cell_ids``)."""
    where, params = "", ()
    if cell_ids is not None:
        cell_ids = tuple(cell_ids)
        if not cell_ids:
            return []
        where, params = "WHERE c.cell_id IN (%s)" % ", ".join("?" * len(cell_ids)), cell_ids
    alarms = active_alarms(conn, cell_ids)
    return [_fleet_row(r, alarms) for r in rows(conn, FLEET_SQL % where, params)]


def param(query, name, default, cast=float):
    """A query parameter as ``cast`` (float or int); ``default`` when absent; ApiError(400) naming it if bad."""
    raw = query.get(name, [None])[0]
    if raw is None:
        return default
    try:
        return cast(raw)
    except ValueError:
        what = "an integer" if cast is int else "a number"
        raise ApiError(400, "%s must be %s, got %r" % (name, what, raw[:20])) from None


def series(conn, cell_id, query):
    """{"t_s": [...], field: [...], "decimated": bool, "samples": n in window} of one cell."""
    fields = query.get("fields", [",".join(SAMPLE_FIELDS)])[0].split(",")
    bad = [f for f in fields if f not in SAMPLE_FIELDS]
    if bad:
        raise ApiError(400, "unknown field %r (fields: %s)" % (bad[0][:40], ", ".join(SAMPLE_FIELDS)))
    points = param(query, "points", DEFAULT_POINTS)
    if not (4 <= points <= MAX_POINTS):
        raise ApiError(400, "points must be 4..%d, got %g" % (MAX_POINTS, points))
    points = int(points)
    # two index look-ups, not a scan
    span = conn.execute(
        "SELECT (SELECT MIN(t_s) FROM samples WHERE cell_id = ?1), (SELECT MAX(t_s) FROM samples WHERE cell_id = ?1)", (cell_id,)
    ).fetchone()
    t_from = param(query, "from", span[0] if span[0] is not None else 0.0)
    t_to = param(query, "to", span[1] if span[1] is not None else 0.0)
    if t_to < t_from:
        raise ApiError(400, "to (%g) is before from (%g)" % (t_to, t_from))
    window = (cell_id, t_from, t_to)
    n = conn.execute("SELECT COUNT(*) FROM samples WHERE cell_id = ? AND t_s BETWEEN ? AND ?", window).fetchone()[0]
    out = {"cell_id": cell_id, "from": t_from, "to": t_to, "samples": n, "fields": fields}
    cols = ", ".join(fields)
    if n <= points:
        data = conn.execute("SELECT t_s, %s FROM samples WHERE cell_id = ? AND t_s BETWEEN ? AND ? ORDER BY t_s" % cols, window).fetchall()
        out["decimated"] = False
        out["t_s"] = [r[0] for r in data]
        for k, f in enumerate(fields):
            out[f] = [r[k + 1] for r in data]
        return out
    buckets = points // 2
    # a hair wider than exact, so the last sample (t_s == to) falls in the last bucket
    width = (t_to - t_from) / buckets * (1.0 + 1e-9) or 1.0
    sql = "SELECT MIN(t_s), MAX(t_s), %s FROM samples WHERE cell_id = ? AND t_s BETWEEN ? AND ? GROUP BY CAST((t_s - ?) / ? AS INTEGER)" % (
        ", ".join("MIN(%s), MAX(%s)" % (f, f) for f in fields)
    )
    data = sorted(conn.execute(sql, window + (t_from, width)).fetchall())
    out["decimated"] = True
    t = []
    for r in data:
        t.append(r[0])
        t.append(r[1])
    out["t_s"] = t
    for k, f in enumerate(fields):
        col = []
        for r in data:
            col.append(r[2 + 2 * k])
            col.append(r[3 + 2 * k])
        out[f] = col
    return out


def events(conn, cell_id, limit=500):
    """The cell's last ``limit`` events (board events and status changes), oldest first."""
    out = []
    for mid, kind, seq, retained, payload, received_at in conn.execute(
        "SELECT id, kind, seq, retained, payload, received_at FROM messages WHERE cell_id = ? AND kind IN ('event', 'status')"
        " ORDER BY id DESC LIMIT ?",
        (cell_id, limit),
    ):
        out.append({"id": mid, "kind": kind, "seq": seq, "retained": bool(retained), "received_at": received_at, "msg": json.loads(payload)})
    out.reverse()
    return out


class Cursor:
    """The last id sent from each source; its text form is the SSE event id."""

    SOURCES = ("messages", "samples", "estimates", "alarms")

    def __init__(self, ids=(0, 0, 0, 0)):
        self.ids = list(ids)

    @classmethod
    def parse(cls, text):
        parts = text.strip().split(".")
        try:
            ids = [int(p) for p in parts]
        except ValueError:
            ids = []
        if len(ids) != len(cls.SOURCES) or min(ids) < 0:
            raise ApiError(400, "bad stream cursor %r: want %d non-negative integers joined by '.'" % (text[:60], len(cls.SOURCES)))
        return cls(ids)

    @classmethod
    def now(cls, conn):
        """Where the sources end now (a stream started here sends only what comes next)."""
        return cls(
            [
                conn.execute("SELECT COALESCE(MAX(id), 0) FROM messages").fetchone()[0],
                conn.execute("SELECT COALESCE(MAX(id), 0) FROM samples").fetchone()[0],
                conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM estimates").fetchone()[0],
                conn.execute("SELECT COALESCE(MAX(id), 0) FROM alarms").fetchone()[0],
            ]
        )

    def text(self):
        return ".".join(str(i) for i in self.ids)


def live_batch(conn, cursor, cell_id=None, samples=True):
    """[(event name, data dict)] newer than ``cursor`` (which it advances), in source order.

    ``cell_id``: only that cell (the cell page); None: every cell (the fleet
    page, which gets each changed cell's fleet row as a ``cell`` event and
    no samples unless ``samples``).
    """
    out = []
    m, s, e, a = cursor.ids
    where, params = ("", ()) if cell_id is None else (" AND cell_id = ?", (cell_id,))
    msg_rows = conn.execute(
        "SELECT id, cell_id, kind, payload, retained, received_at FROM messages WHERE id > ?%s ORDER BY id LIMIT ?" % where,
        (m,) + params + (LIVE_BATCH,),
    ).fetchall()
    changed = []
    for mid, cid, kind, payload, retained, received_at in msg_rows:
        m = mid
        if cid not in changed:
            changed.append(cid)
        if kind in EVENT_KINDS:
            out.append((mid, kind, {"id": mid, "cell_id": cid, "retained": bool(retained), "received_at": received_at, "msg": json.loads(payload)}))
    if samples:
        cols = "id, cell_id, t_s, cycle, state, " + ", ".join(SAMPLE_FIELDS)
        for r in rows(conn, "SELECT %s FROM samples WHERE id > ?%s ORDER BY id LIMIT ?" % (cols, where), (s,) + params + (LIVE_BATCH,)):
            s = r["id"]
            out.append((s, "sample", r))
    # A sample's id is its message's: events and samples go out in the order they arrived.
    out = [(name, data) for _, name, data in sorted(out, key=lambda x: x[0])]
    for r in rows(conn, "SELECT rowid AS id, * FROM estimates WHERE rowid > ?%s ORDER BY rowid LIMIT ?" % where, (e,) + params + (LIVE_BATCH,)):
        e = r["id"]
        out.append(("estimate", r))
    for r in rows(conn, "SELECT * FROM alarms WHERE id > ?%s ORDER BY id LIMIT ?" % where, (a,) + params + (LIVE_BATCH,)):
        a = r["id"]
        r["evidence"] = json.loads(r["evidence"])
        out.append(("alarm", r))
    if cell_id is None and changed:
        out.extend(("cell", row) for row in fleet(conn, changed))
    cursor.ids = [m, s, e, a]
    return out
