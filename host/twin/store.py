"""SQLite store of the digital twin: every accepted message, per-cycle
summaries, the filter's per-cycle estimates, and every rejected message.

One connection, WAL journal (readers in other processes do not block the
writer), versioned schema: ``schema_version`` holds the version and
``migrate`` applies the steps in ``MIGRATIONS`` in order, each in its own
transaction, so a later version adds a step and old files upgrade on open.

Writes are batched: a transaction stays open until ``batch_rows`` rows are
pending or the oldest pending row is ``max_delay_s`` old (time is passed in
by the caller as ``now_s``), or ``flush()`` is called. A crash loses at most
the open batch; call ``flush()`` at shutdown and whenever readers in other
processes must see the data.

Duplicates: a live message is unique on (cell_id, stream, seq); ``stream`` is
the sender's sequence space ("board" for what the cell publishes, the kind
for host-side senders), because the board and the host count separately.
Retained messages (stale copies a broker replays on subscribe) are unique on
(cell_id, kind, seq) apart from live ones, so they cannot collide with the
live sequence. A duplicate insert returns False and stores nothing.

Every SQL statement of the twin's writer is here, behind a named method
(the HTTP API and the export read the file through their own read-only
connections). What a restart reads back: ``stream_stats``,
``reject_counts`` and ``retained_counts`` (the counters),
``live_messages`` (a board's boot events; with the fast filter, its
telemetry and cycles in seq order), ``highest_live_seq`` (where a boot
found its stream) and ``cycle_messages`` (the cycles in cycle order).
Boot events are found by their ``kind`` column (indexed with the cell and
the seq) and told apart by their decoded ``event`` field in Python, by the
same rule the live path uses (sequence.boot_base): no text search in the
payload, and no schema change, so files of schema v2 are read as they are.

Schema v3 adds the tables a live reader needs (``samples``, ``cells``):
livetables.py keeps them on every stored message and fills them on upgrade.

Failure behaviour: a file whose schema is newer than this code raises
``StoreError`` at open (never guesses); SQLite errors propagate as
``sqlite3.Error`` to the caller (the twin counts and logs them). The store
does not validate payloads: that is the decoder's job.
"""

import json
import sqlite3
import threading

from . import livetables

SCHEMA_VERSION = 5  # bump together with a new MIGRATIONS entry

# version -> statements bringing the previous version to this one.
MIGRATIONS = {
    1: (
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            cell_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            stream TEXT NOT NULL,
            seq INTEGER NOT NULL,
            t_s REAL,
            retained INTEGER NOT NULL DEFAULT 0,
            payload TEXT NOT NULL,
            received_at REAL NOT NULL)""",
        "CREATE UNIQUE INDEX messages_live_seq ON messages(cell_id, stream, seq) WHERE retained = 0",
        "CREATE UNIQUE INDEX messages_retained_seq ON messages(cell_id, kind, seq) WHERE retained = 1",
        "CREATE INDEX messages_cell_kind ON messages(cell_id, kind, seq)",
        """CREATE TABLE cycles (
            cell_id TEXT NOT NULL,
            cycle INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            t_s REAL NOT NULL,
            charge_ah REAL NOT NULL,
            discharge_ah REAL NOT NULL,
            ce REAL NOT NULL,
            charge_wh REAL,
            discharge_wh REAL,
            t_min_c REAL,
            t_max_c REAL,
            p_min_mpa REAL,
            p_max_mpa REAL,
            r_ohm REAL,
            formation INTEGER,
            received_at REAL NOT NULL,
            PRIMARY KEY (cell_id, cycle))""",
        """CREATE TABLE estimates (
            cell_id TEXT NOT NULL,
            cycle INTEGER NOT NULL,
            outcome TEXT NOT NULL,
            inventory_ah REAL,
            inventory_std_ah REAL,
            loss_ah_per_cycle REAL,
            loss_std_ah_per_cycle REAL,
            eol_cycle_pred INTEGER,
            mahalanobis REAL,
            created_at REAL NOT NULL,
            PRIMARY KEY (cell_id, cycle))""",
        """CREATE TABLE rejects (
            id INTEGER PRIMARY KEY,
            cell_id TEXT,
            reason TEXT NOT NULL,
            topic TEXT NOT NULL,
            payload_excerpt TEXT NOT NULL,
            received_at REAL NOT NULL)""",
        "CREATE INDEX rejects_cell ON rejects(cell_id)",
    ),
    # v2 (twin issue): EOL interval, loss split, short risk per estimate; alarms.
    2: tuple("ALTER TABLE estimates ADD COLUMN %s REAL" % c for c in (
        "eol_cycle_lo", "eol_cycle_hi", "initial_inventory_ah", "loss_drift_ah_per_cycle2",
        "sei_ah", "sei_std_ah", "dead_ah", "dead_std_ah", "short_risk",
        "r25_ohm", "r25_std_ohm", "r_growth_ohm_per_cycle", "r_eol_cycle_pred", "r_eol_cycle_lo", "r_eol_cycle_hi",
    )) + (
        """CREATE TABLE alarms (
            id INTEGER PRIMARY KEY,
            cell_id TEXT NOT NULL,
            cycle INTEGER NOT NULL,
            code TEXT NOT NULL,
            action TEXT NOT NULL,
            severity TEXT NOT NULL,
            value REAL,
            evidence TEXT NOT NULL,
            created_at REAL NOT NULL)""",
        "CREATE INDEX alarms_cell ON alarms(cell_id, cycle)",
    ),
    # v3 (dashboard issue): numeric samples and a cells table, kept on write (livetables.py).
    3: livetables.MIGRATION,
    # v4: a cycle the board booted into is marked partial (docs/telemetry.md);
    # older rows have NULL, which reads as not partial.
    4: ("ALTER TABLE cycles ADD COLUMN partial INTEGER",),
    # v5: the dashboard's command log (host/dashboard/commands.py writes it,
    # through its own connection: who sent what to which cell, and the answer).
    5: (
        """CREATE TABLE commands (
            id INTEGER PRIMARY KEY,
            cell_id TEXT NOT NULL,
            operator TEXT NOT NULL,
            command TEXT NOT NULL,
            args TEXT NOT NULL,
            ctr INTEGER,
            sent_at REAL NOT NULL,
            outcome TEXT NOT NULL,
            answer TEXT NOT NULL,
            answered_at REAL)""",
        "CREATE INDEX commands_cell ON commands(cell_id, id)",
    ),
}

_CYCLE_COLUMNS = (
    "t_s",
    "charge_ah",
    "discharge_ah",
    "ce",
    "charge_wh",
    "discharge_wh",
    "t_min_c",
    "t_max_c",
    "p_min_mpa",
    "p_max_mpa",
    "r_ohm",
    "formation",
    "partial",
)
_ESTIMATE_COLUMNS = (
    "outcome",
    "inventory_ah",
    "inventory_std_ah",
    "loss_ah_per_cycle",
    "loss_std_ah_per_cycle",
    "eol_cycle_pred",
    "mahalanobis",
    "eol_cycle_lo",
    "eol_cycle_hi",
    "initial_inventory_ah",
    "loss_drift_ah_per_cycle2",
    "sei_ah",
    "sei_std_ah",
    "dead_ah",
    "dead_std_ah",
    "short_risk",
    "r25_ohm",
    "r25_std_ohm",
    "r_growth_ohm_per_cycle",
    "r_eol_cycle_pred",
    "r_eol_cycle_lo",
    "r_eol_cycle_hi",
)


class StoreError(RuntimeError):
    """The database cannot be used by this code (e.g. a newer schema)."""


def schema_version(conn):
    """The schema version of an open connection, 0 for an empty database."""
    row = conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='schema_version'").fetchone()
    if row is None:
        return 0
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    return 0 if row is None else int(row[0])


def migrate(conn, target=SCHEMA_VERSION, migrations=None):
    """Bring ``conn`` (autocommit mode) from its version to ``target``, one step per transaction.

    Returns the list of versions applied. Raises StoreError if the database is
    newer than ``target`` or a step is missing.
    """
    steps = MIGRATIONS if migrations is None else migrations
    current = schema_version(conn)
    if current > target:
        raise StoreError("database schema v%d is newer than this code (v%d): upgrade platewise" % (current, target))
    applied = []
    for version in range(current + 1, target + 1):
        if version not in steps:
            raise StoreError("no migration to schema v%d" % version)
        conn.execute("BEGIN IMMEDIATE")
        try:
            # The version table is created with the first step, in the same
            # transaction, so a half-created database never claims a version.
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            if conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == 0:
                conn.execute("INSERT INTO schema_version (version) VALUES (0)")
            for statement in steps[version]:
                if callable(statement):
                    statement(conn)  # a data migration written in Python
                else:
                    conn.execute(statement)
            conn.execute("UPDATE schema_version SET version = ?", (version,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied


def _rows(cursor):
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


class Store:
    """The twin's database. Thread-safe: one lock around the one connection."""

    def __init__(self, path=":memory:", batch_rows=1000, max_delay_s=0.5):
        if not (isinstance(batch_rows, int) and batch_rows >= 1):
            raise ValueError("batch_rows must be an integer >= 1, got %r" % (batch_rows,))
        if not max_delay_s >= 0:
            raise ValueError("max_delay_s must be >= 0, got %r" % (max_delay_s,))
        self.path = path
        self.batch_rows = batch_rows
        self.max_delay_s = max_delay_s
        self._lock = threading.RLock()
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a batch is
        # one explicit transaction. check_same_thread=False: the MQTT thread
        # writes and the demo thread reads, serialised by self._lock.
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")  # ':memory:' stays 'memory'
        # NORMAL is durable across application crashes in WAL mode; only an
        # OS crash can lose the last commits, which a batch risks anyway.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        migrate(self._conn)
        self._pending = 0
        self._batch_started_s = None
        self.commits = 0

    # -- transactions --------------------------------------------------------

    @property
    def journal_mode(self):
        with self._lock:
            return self._conn.execute("PRAGMA journal_mode").fetchone()[0]

    @property
    def schema_version(self):
        with self._lock:
            return schema_version(self._conn)

    def _begin(self, now_s):
        if not self._conn.in_transaction:
            self._conn.execute("BEGIN")
            self._batch_started_s = now_s

    def _wrote(self, now_s):
        self._pending += 1
        self.maybe_commit(now_s)

    def maybe_commit(self, now_s):
        """Commit if the batch is full or its oldest row is max_delay_s old."""
        with self._lock:
            if not self._conn.in_transaction:
                return False
            age_s = now_s - self._batch_started_s
            if self._pending >= self.batch_rows or age_s >= self.max_delay_s or age_s < 0:
                self._commit()
                return True
            return False

    def _commit(self):
        self._conn.execute("COMMIT")
        self._pending = 0
        self._batch_started_s = None
        self.commits += 1

    def flush(self):
        """Commit whatever is pending now."""
        with self._lock:
            if self._conn.in_transaction:
                self._commit()

    @property
    def pending(self):
        return self._pending

    def close(self):
        with self._lock:
            # Later calls raise sqlite3.ProgrammingError (closed database).
            self.flush()
            self._conn.close()

    # -- writes --------------------------------------------------------------

    def insert_message(self, cell_id, kind, stream, seq, t_s, retained, payload, received_at, msg=None):
        """Store one accepted message; False (nothing stored) if it is a duplicate.
        ``msg``: the payload as the caller decoded it, if it did (else the
        live tables parse ``payload``)."""
        with self._lock:
            self._begin(received_at)
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO messages (cell_id, kind, stream, seq, t_s, retained, payload, received_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (cell_id, kind, stream, seq, t_s, 1 if retained else 0, payload, received_at),
            )
            if cur.rowcount != 1:
                return False
            livetables.record(self._conn, cur.lastrowid, cell_id, kind, t_s, retained, payload, received_at, msg)
            self._wrote(received_at)
            return True

    def insert_cycle(self, cell_id, seq, msg, received_at):
        """Store a cycle summary; False if this cell already has that cycle number."""
        with self._lock:
            self._begin(received_at)
            values = [msg.get(name) for name in _CYCLE_COLUMNS]
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO cycles (cell_id, cycle, seq, %s, received_at) VALUES (?, ?, ?, %s, ?)"
                % (", ".join(_CYCLE_COLUMNS), ", ".join("?" * len(_CYCLE_COLUMNS))),
                [cell_id, msg["cycle"], seq] + values + [received_at],
            )
            if cur.rowcount != 1:
                return False
            self._wrote(received_at)
            return True

    def put_estimate(self, cell_id, cycle, estimate, created_at):
        """Store (or replace) the estimate after ``cycle``; ``estimate`` has _ESTIMATE_COLUMNS keys."""
        with self._lock:
            self._begin(created_at)
            self._conn.execute(
                "INSERT OR REPLACE INTO estimates (cell_id, cycle, %s, created_at) VALUES (?, ?, %s, ?)"
                % (", ".join(_ESTIMATE_COLUMNS), ", ".join("?" * len(_ESTIMATE_COLUMNS))),
                [cell_id, cycle] + [estimate.get(name) for name in _ESTIMATE_COLUMNS] + [created_at],
            )
            self._wrote(created_at)

    def insert_alarm(self, cell_id, cycle, change, created_at):
        """Store one alarm change ({"code", "action", "severity", "value", "evidence"})."""
        with self._lock:
            self._begin(created_at)
            self._conn.execute(
                "INSERT INTO alarms (cell_id, cycle, code, action, severity, value, evidence, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (cell_id, cycle, change["code"], change["action"], change["severity"], change.get("value"),
                 json.dumps(change.get("evidence", {}), sort_keys=True), created_at),
            )
            self._wrote(created_at)

    def insert_reject(self, cell_id, reason, topic, payload_excerpt, received_at):
        with self._lock:
            self._begin(received_at)
            self._conn.execute(
                "INSERT INTO rejects (cell_id, reason, topic, payload_excerpt, received_at) VALUES (?, ?, ?, ?, ?)",
                (cell_id, reason, topic, payload_excerpt, received_at),
            )
            self._wrote(received_at)

    # -- reads ---------------------------------------------------------------
    # Every read sees this connection's pending batch.

    def _select(self, sql, params=()):
        """Rows of a read-only query as dicts."""
        with self._lock:
            return _rows(self._conn.execute(sql, params))

    def live_payload(self, cell_id, stream, seq):
        """The payload stored live under (cell, stream, seq), None if none."""
        with self._lock:
            row = self._conn.execute(
                "SELECT payload FROM messages WHERE cell_id = ? AND stream = ? AND seq = ? AND retained = 0",
                (cell_id, stream, seq),
            ).fetchone()
            return None if row is None else row[0]

    def highest_live_seq(self, cell_id, stream, at_most):
        """The highest live seq of (cell, stream) that is <= ``at_most``; None if none."""
        with self._lock:
            row = self._conn.execute(
                "SELECT MAX(seq) FROM messages WHERE cell_id = ? AND stream = ? AND retained = 0 AND seq <= ?",
                (cell_id, stream, at_most),
            ).fetchone()
            return row[0]

    def live_messages(self, cell_id, stream, kinds):
        """(kind, payload) of the live messages of (cell, stream) whose kind is
        in ``kinds``, in seq order (the order the sender produced them)."""
        kinds = tuple(kinds)
        with self._lock:
            return self._conn.execute(
                "SELECT kind, payload FROM messages WHERE cell_id = ? AND stream = ? AND retained = 0"
                " AND kind IN (%s) ORDER BY seq" % ", ".join("?" * len(kinds)),
                (cell_id, stream) + kinds,
            ).fetchall()

    def count_messages(self, cell_id=None, retained=False):
        sql = "SELECT COUNT(*) AS n FROM messages WHERE retained = ?"
        params = [1 if retained else 0]
        if cell_id is not None:
            sql += " AND cell_id = ?"
            params.append(cell_id)
        return self._select(sql, params)[0]["n"]

    def messages(self, cell_id, kind=None):
        if kind is None:
            return self._select("SELECT * FROM messages WHERE cell_id = ? ORDER BY retained, seq", (cell_id,))
        return self._select("SELECT * FROM messages WHERE cell_id = ? AND kind = ? ORDER BY retained, seq", (cell_id, kind))

    def cycles(self, cell_id):
        """The cell's cycles-table rows in cycle order."""
        return self._select("SELECT * FROM cycles WHERE cell_id = ? ORDER BY cycle", (cell_id,))

    def cycle_messages(self, cell_id):
        """The cell's stored cycles in cycle order, as the cycle messages the
        estimators take: NULL columns left out, ``formation`` and ``partial``
        bools again."""
        out = []
        for row in self.cycles(cell_id):
            msg = {k: v for k, v in row.items() if v is not None}
            for flag in ("formation", "partial"):
                if flag in msg:
                    msg[flag] = bool(msg[flag])
            out.append(msg)
        return out

    def estimates(self, cell_id):
        return self._select("SELECT * FROM estimates WHERE cell_id = ? ORDER BY cycle", (cell_id,))

    def alarms(self, cell_id=None):
        if cell_id is None:
            return self._select("SELECT * FROM alarms ORDER BY id")
        return self._select("SELECT * FROM alarms WHERE cell_id = ? ORDER BY id", (cell_id,))

    def rejects(self, cell_id=None):
        if cell_id is None:
            return self._select("SELECT * FROM rejects ORDER BY id")
        return self._select("SELECT * FROM rejects WHERE cell_id = ? ORDER BY id", (cell_id,))

    # -- counts a restart restores ---------------------------------------------

    def stream_stats(self):
        """(cell_id, stream, n, min_seq, max_seq) of live messages, by cell and stream."""
        return self._select(
            "SELECT cell_id, stream, COUNT(*) AS n, MIN(seq) AS min_seq, MAX(seq) AS max_seq"
            " FROM messages WHERE retained = 0 GROUP BY cell_id, stream ORDER BY cell_id, stream"
        )

    def reject_counts(self):
        """[(cell_id, n)] of stored rejects by cell (None: no cell named), None first."""
        with self._lock:
            return self._conn.execute("SELECT cell_id, COUNT(*) FROM rejects GROUP BY cell_id ORDER BY cell_id").fetchall()

    def retained_counts(self):
        """[(cell_id, n)] of stored retained messages by cell."""
        with self._lock:
            return self._conn.execute("SELECT cell_id, COUNT(*) FROM messages WHERE retained = 1 GROUP BY cell_id ORDER BY cell_id").fetchall()
