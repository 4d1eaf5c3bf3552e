"""HTTP API of the twin, for the dashboard: REST (JSON) plus a server-sent
events stream, over the twin's SQLite file (stdlib only).

    GET /api/cells                         every cell with its latest estimate
    GET /api/cells/<id>                    latest state: estimate, last cycle, active alarms
    GET /api/cells/<id>/history            per cycle: summary + estimate (?since=<cycle>)
    GET /api/cells/<id>/predictions        per cycle: EOL prediction with its 90 % interval
    GET /api/cells/<id>/alarms             every alarm change with its evidence
    GET /api/stream                        text/event-stream: one ``estimate`` event per new
                                           estimate row (?since_id=<rowid>, ?max_events=N)

The server reads the database read-only (WAL: it never blocks the live
twin that writes it) with one connection per request, so it can run in a
separate process from ``platewise twin run``.

Access (host/twin/access.py): loopback-only by default; bound elsewhere
the server needs a token file and answers 401 to a request without a
valid token.

Failure behaviour: an unknown path or cell answers 404 with
{"error": reason}; a bad query parameter 400; a database error 503. The
server thread never dies on a request.
"""

import json
import re
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from .access import gate_for
from .export import HISTORY_SQL

STREAM_POLL_S = 0.5  # how often the SSE stream looks for new estimates
_CELL_PATH = re.compile(r"^/api/cells/([A-Za-z0-9_.-]{1,32})(?:/(history|predictions|alarms))?$")


class ApiError(Exception):
    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status


def _rows(conn, sql, params=()):
    cur = conn.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def _active_alarms(conn, cell_id):
    active = {}
    for a in _rows(conn, "SELECT code, action, severity, cycle FROM alarms WHERE cell_id = ? ORDER BY id", (cell_id,)):
        if a["action"] == "raise":
            active[a["code"]] = {"severity": a["severity"], "since_cycle": a["cycle"]}
        else:
            active.pop(a["code"], None)
    return active


class TwinApi:
    """The queries behind the routes; one read-only connection per call."""

    def __init__(self, db_path):
        self.db_path = db_path

    def _conn(self):
        try:
            return sqlite3.connect("file:%s?mode=ro" % self.db_path, uri=True, timeout=5.0)
        except sqlite3.Error as e:
            raise ApiError(503, "database unavailable: %s" % e) from e

    def cells(self):
        with self._conn() as conn:
            ids = [r[0] for r in conn.execute("SELECT DISTINCT cell_id FROM messages ORDER BY cell_id")]
            return {"cells": [self._latest(conn, c) for c in ids]}

    def _latest(self, conn, cell_id):
        est = _rows(conn, "SELECT * FROM estimates WHERE cell_id = ? ORDER BY cycle DESC LIMIT 1", (cell_id,))
        cyc = _rows(conn, "SELECT * FROM cycles WHERE cell_id = ? ORDER BY cycle DESC LIMIT 1", (cell_id,))
        return {
            "cell_id": cell_id,
            "estimate": est[0] if est else None,
            "last_cycle": cyc[0] if cyc else None,
            "alarms": _active_alarms(conn, cell_id),
        }

    def cell(self, cell_id, what=None, query=None):
        query = query or {}
        with self._conn() as conn:
            if conn.execute("SELECT 1 FROM messages WHERE cell_id = ? LIMIT 1", (cell_id,)).fetchone() is None:
                raise ApiError(404, "unknown cell %s" % cell_id)
            if what is None:
                return self._latest(conn, cell_id)
            if what == "history":
                since = _int_param(query, "since", 0)
                rows = [r for r in _rows(conn, HISTORY_SQL, (cell_id,)) if r["cycle"] > since]
                return {"cell_id": cell_id, "history": rows}
            if what == "predictions":
                rows = _rows(
                    conn,
                    "SELECT cycle, eol_cycle_pred, eol_cycle_lo, eol_cycle_hi, inventory_ah, inventory_std_ah, short_risk"
                    " FROM estimates WHERE cell_id = ? ORDER BY cycle",
                    (cell_id,),
                )
                return {"cell_id": cell_id, "predictions": rows}
            rows = _rows(conn, "SELECT * FROM alarms WHERE cell_id = ? ORDER BY id", (cell_id,))
            for r in rows:
                r["evidence"] = json.loads(r["evidence"])
            return {"cell_id": cell_id, "alarms": rows, "active": _active_alarms(conn, cell_id)}

    def estimates_after(self, rowid):
        with self._conn() as conn:
            return _rows(conn, "SELECT rowid AS id, * FROM estimates WHERE rowid > ? ORDER BY rowid LIMIT 500", (rowid,))


def _int_param(query, name, default):
    raw = query.get(name, [None])[0]
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, "%s must be an integer, got %r" % (name, raw[:20])) from None


def make_handler(api, gate=None):
    class Handler(BaseHTTPRequestHandler):
        server_version = "platewise-twin/1"

        def log_message(self, fmt, *args):  # quiet: the twin logs what matters
            pass

        def _json(self, status, obj):
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            # Who asked: "local" on loopback, else the token's operator (what a command is tied to).
            self.operator = gate.operator(self.headers.get("Authorization")) if gate is not None else "local"
            if self.operator is None:
                return self._json(401, {"error": "token required (Authorization: Bearer ...; host/twin/access.py)"})
            url = urlparse(self.path)
            query = parse_qs(url.query)
            try:
                if url.path == "/api/cells":
                    return self._json(200, api.cells())
                if url.path == "/api/stream":
                    return self._stream(query)
                m = _CELL_PATH.match(url.path)
                if m:
                    return self._json(200, api.cell(m.group(1), m.group(2), query))
                raise ApiError(404, "no such path %s" % url.path[:80])
            except ApiError as e:
                return self._json(e.status, {"error": str(e)})
            except sqlite3.Error as e:
                return self._json(503, {"error": "database error: %s" % e})

        def _stream(self, query):
            last = _int_param(query, "since_id", 0)
            max_events = _int_param(query, "max_events", 0)  # 0: until the client goes away
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            sent = 0
            try:
                while True:
                    for row in api.estimates_after(last):
                        last = row["id"]
                        self.wfile.write(("id: %d\nevent: estimate\ndata: %s\n\n" % (last, json.dumps(row))).encode())
                        sent += 1
                        if max_events and sent >= max_events:
                            self.wfile.flush()
                            return
                    self.wfile.flush()
                    time.sleep(STREAM_POLL_S)
            except (BrokenPipeError, ConnectionResetError):
                return

    return Handler


def make_server(db_path, host="127.0.0.1", port=0, token_file=None):
    """A ThreadingHTTPServer for the API (port 0: a free one, see server.server_port);
    off loopback it needs ``token_file`` (access.gate_for raises AccessError)."""
    return ThreadingHTTPServer((host, port), make_handler(TwinApi(db_path), gate_for(host, token_file)))


def serve(db_path, host="127.0.0.1", port=8080, token_file=None):
    """Serve until Ctrl-C; return an exit code."""
    server = make_server(db_path, host, port, token_file)
    print("platewise twin API on http://%s:%d/api/cells" % (host, server.server_port))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def serve_in_thread(db_path, host="127.0.0.1", port=0, token_file=None):
    """Start the server in a daemon thread; return (server, thread). Stop with server.shutdown()."""
    server = make_server(db_path, host, port, token_file)
    thread = threading.Thread(target=server.serve_forever, name="twin-http", daemon=True)
    thread.start()
    return server, thread
