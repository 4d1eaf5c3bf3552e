"""The twin store's tables for live reading (schema v3): ``samples`` and ``cells``.

``samples``: one numeric row per live telemetry message (voltage, current,
temperature, stack pressure, impedance, plating-current limit), indexed by
(cell_id, t_s), so a chart's series is a range scan of numbers instead of
``json_extract`` over the message log.

``cells``: one row per cell, maintained on every stored message: the id of
its last message (the fleet stream's cursor), when it was last seen, its
online/offline status (from the retained birth message and its last will),
its charger state and the cycle counters of its last telemetry. The fleet
query reads it instead of scanning every message.

``record`` is called by ``Store.insert_message`` inside the writer's open
transaction; ``MIGRATION`` (the v3 step) creates both tables and fills them
from the messages an older file already holds, so an existing database
upgrades on open with the same rows the live path would have written.

Failure behaviour: a telemetry or status payload that is not a JSON object
(the decoder, not the store, validates payloads) is stored as a message but
gives no sample and no status; a missing field stores NULL.
"""

import json

SAMPLE_FIELDS = ("voltage_v", "current_a", "temperature_c", "pressure_mpa", "r_ohm", "i_limit_a")
# From the last telemetry into the cells row (besides status and last seen).
CELL_TELEMETRY_FIELDS = ("state", "cycle", "t_s", "cycle_charge_ah", "cycle_discharge_ah")

MIGRATION = (
    """CREATE TABLE samples (
        id INTEGER PRIMARY KEY,
        cell_id TEXT NOT NULL,
        t_s REAL NOT NULL,
        cycle INTEGER,
        state TEXT,
        %s)""" % ",\n        ".join("%s REAL" % f for f in SAMPLE_FIELDS),
    "CREATE INDEX samples_cell_t ON samples(cell_id, t_s)",
    """CREATE TABLE cells (
        cell_id TEXT PRIMARY KEY,
        last_msg_id INTEGER NOT NULL,
        last_seen_s REAL,
        messages INTEGER NOT NULL DEFAULT 0,
        status TEXT,
        status_retained INTEGER NOT NULL DEFAULT 0,
        status_at_s REAL,
        state TEXT,
        cycle INTEGER,
        t_s REAL,
        cycle_charge_ah REAL,
        cycle_discharge_ah REAL)""",
    "CREATE INDEX cells_last_msg ON cells(last_msg_id)",
    # Existing files: the rows the live path would have written.
    "INSERT INTO samples (id, cell_id, t_s, cycle, state, %s) SELECT id, cell_id, t_s,"
    " json_extract(payload, '$.cycle'), json_extract(payload, '$.state'), %s"
    " FROM messages WHERE kind = 'telemetry' AND retained = 0 AND t_s IS NOT NULL ORDER BY id"
    % (", ".join(SAMPLE_FIELDS), ", ".join("json_extract(payload, '$.%s')" % f for f in SAMPLE_FIELDS)),
    "INSERT INTO cells (cell_id, last_msg_id, last_seen_s, messages) SELECT cell_id, MAX(id),"
    " MAX(CASE WHEN retained = 0 THEN received_at END), COUNT(*) FROM messages GROUP BY cell_id",
    # The newest status (a live one over a retained copy) and the last telemetry.
    """UPDATE cells SET (status, status_retained, status_at_s) = (
        SELECT json_extract(payload, '$.state'), retained, received_at FROM messages m
        WHERE m.cell_id = cells.cell_id AND m.kind = 'status' ORDER BY retained, id DESC LIMIT 1)""",
    """UPDATE cells SET (state, cycle, t_s, cycle_charge_ah, cycle_discharge_ah) = (
        SELECT s.state, s.cycle, s.t_s, json_extract(m.payload, '$.cycle_charge_ah'), json_extract(m.payload, '$.cycle_discharge_ah')
        FROM samples s JOIN messages m ON m.id = s.id WHERE s.cell_id = cells.cell_id ORDER BY s.id DESC LIMIT 1)""",
    "UPDATE cells SET status_retained = 0 WHERE status IS NULL",
)

_INSERT_SAMPLE = "INSERT INTO samples (id, cell_id, t_s, cycle, state, %s) VALUES (?, ?, ?, ?, ?, %s)" % (
    ", ".join(SAMPLE_FIELDS),
    ", ".join("?" * len(SAMPLE_FIELDS)),
)
_TOUCH_CELL = (
    "INSERT INTO cells (cell_id, last_msg_id, last_seen_s, messages) VALUES (?, ?, ?, 1)"
    " ON CONFLICT(cell_id) DO UPDATE SET last_msg_id = excluded.last_msg_id, messages = messages + 1,"
    " last_seen_s = COALESCE(excluded.last_seen_s, last_seen_s)"
)
# telemetry (most messages): the cell's row in one statement
_TOUCH_CELL_TELEMETRY = (
    "INSERT INTO cells (cell_id, last_msg_id, last_seen_s, messages, %s) VALUES (?, ?, ?, 1, %s)"
    " ON CONFLICT(cell_id) DO UPDATE SET last_msg_id = excluded.last_msg_id, messages = messages + 1,"
    " last_seen_s = excluded.last_seen_s, %s"
    % (
        ", ".join(CELL_TELEMETRY_FIELDS),
        ", ".join("?" * len(CELL_TELEMETRY_FIELDS)),
        ", ".join("%s = excluded.%s" % (f, f) for f in CELL_TELEMETRY_FIELDS),
    )
)
# A retained status (a broker's stored copy) only fills in a cell that has no live one.
_SET_STATUS = (
    "UPDATE cells SET status = ?, status_retained = ?, status_at_s = ? WHERE cell_id = ? AND (? = 0 OR status IS NULL OR status_retained = 1)"
)


def _object(payload):
    try:
        msg = json.loads(payload)
    except ValueError:
        return None
    return msg if isinstance(msg, dict) else None


def record(conn, msg_id, cell_id, kind, t_s, retained, payload, received_at, msg=None):
    """Keep ``samples`` and ``cells`` up to date for one newly stored message
    (``msg``: its payload already decoded, or None to parse ``payload``)."""
    if msg is None and kind in ("telemetry", "status"):
        msg = _object(payload)
    if kind == "telemetry" and not retained and t_s is not None:
        if msg is not None:
            conn.execute(_INSERT_SAMPLE, [msg_id, cell_id, t_s, msg.get("cycle"), msg.get("state")] + [msg.get(f) for f in SAMPLE_FIELDS])
            conn.execute(_TOUCH_CELL_TELEMETRY, [cell_id, msg_id, received_at] + [msg.get(f) for f in CELL_TELEMETRY_FIELDS])
            return
    # A retained copy may be from an earlier run: it says nothing of when the cell was seen.
    conn.execute(_TOUCH_CELL, (cell_id, msg_id, None if retained else received_at))
    if kind == "status":
        if msg is not None:
            flag = 1 if retained else 0
            conn.execute(_SET_STATUS, (msg.get("state"), flag, received_at, cell_id, flag))
