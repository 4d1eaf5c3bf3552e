"""HTTP API of the twin, for the dashboard: REST (JSON) plus a server-sent
events stream, over the twin's SQLite file (stdlib only).

    GET /api/cells                         every cell with its latest estimate
    GET /api/cells/<id>                    latest state: estimate, last cycle, active alarms
    GET /api/cells/<id>/history            per cycle: summary + estimate (?since=<cycle>)
    GET /api/cells/<id>/predictions        per cycle: EOL prediction with its 90 % interval
    GET /api/cells/<id>/alarms             every alarm change with its evidence
    GET /api/stream                        text/event-stream: one ``estimate`` event per new
                                           estimate row (?since_id=<rowid>, ?max_events=N)
    GET /api/fleet                         one row per cell (status, charger state, SOC,
                                           inventory % and band, EOL interval, drift, alarms)
    GET /api/cells/<id>/series             samples, min/max-decimated (?from, ?to, ?points, ?fields)
    GET /api/cells/<id>/events             the last board events and status changes
    GET /api/cells/<id>/commands           whether commands are on, who asks, the cell's command log
    POST /api/cells/<id>/commands          a command from the page (host/dashboard/commands.py)
    GET /metrics                           the fleet in Prometheus' text format (metrics.py)
    GET /api/live                          text/event-stream, one per browser tab, multiplexed:
                                           cell, status, event, sample, estimate, alarm
                                           (?cell=<id>, ?samples=0|1, ?since=<cursor>, ?max_events=N;
                                           the Last-Event-ID header resumes; retry: and
                                           keep-alive comments)

Commands: read-only unless the server was made with a ``desk`` (the
dashboard started with a signing key, host/dashboard/commands.py, which
says what each refusal is answered); without one a POST is answered 403
and nothing is sent. Either way only a same-origin request sent as
``application/json`` is taken (another site's page cannot post through an
operator's browser): anything else is 403.

Any other GET goes to the ``assets`` callable the server was made with (the
dashboard's pages, host/dashboard), if any. The queries behind the live
routes are in liveapi.py.

The server reads the database read-only (WAL: it never blocks the live
twin that writes it; only an older schema is upgraded, once, at start) with one connection per request, so it can run in a
separate process from ``platewise twin run``.

Access (host/twin/access.py): loopback-only by default; bound elsewhere
the server needs a token file and answers 401 to a request without a
valid token (header or sign-in cookie); ``/?token=...`` signs a browser in
(303 with the cookie; an unknown token 401).

Failure behaviour: an unknown path or cell answers 404 with
{"error": reason}; a bad query parameter or stream cursor 400; a database
error 503 (on a stream: the stream ends, the browser reconnects after
``retry``). The server thread never dies on a request.
"""

import json
import os
import re
import select
import socket
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

from .access import cookie_token, gate_for, sign_in_cookie
from . import liveapi, metrics
from .export import HISTORY_SQL
from .liveapi import ApiError
from .liveapi import rows as _rows
from .store import Store

STREAM_POLL_S = 0.5  # how often the estimate stream looks for new rows
LIVE_POLL_S = 0.2  # how often the live stream looks (a sample shows well within 1 s)
LIVE_RETRY_MS = 2000  # the browser's reconnect delay, sent as retry:
LIVE_KEEPALIVE_S = 15.0  # a comment line when nothing else was sent, so proxies keep the stream
_CELL_PATH = re.compile(r"^/api/cells/([A-Za-z0-9_.-]{1,32})(?:/(history|predictions|alarms|series|events|commands))?$")
_COMMANDS_PATH = re.compile(r"^/api/cells/([A-Za-z0-9_.-]{1,32})/commands$")
READ_ONLY_WHY = "read-only: this dashboard was started without a signing key (platewise dashboard --keyring FILE --broker URL)"
MAX_POST_BYTES = 4096


def _active_alarms(conn, cell_id):
    return {
        code: {"severity": a["severity"], "since_cycle": a["since_cycle"]}
        for code, a in liveapi.active_alarms(conn, [cell_id]).get(cell_id, {}).items()
    }


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
            ids = [r[0] for r in conn.execute("SELECT cell_id FROM cells ORDER BY cell_id")]
            return {"cells": [self._latest(conn, c) for c in ids]}

    def fleet(self):
        with self._conn() as conn:
            # The cursor first: a stream started from it may resend a change, never miss one.
            cursor = liveapi.Cursor.now(conn).text()
            return {"cursor": cursor, "cells": liveapi.fleet(conn)}

    def metrics(self):
        with self._conn() as conn:
            return metrics.render(liveapi.fleet(conn))

    def live_cursor(self, since):
        """The stream's start: a cursor given (Last-Event-ID, ?since) or now."""
        if since:
            return liveapi.Cursor.parse(since)
        with self._conn() as conn:
            return liveapi.Cursor.now(conn)

    def live_batch(self, cursor, cell_id, samples):
        with self._conn() as conn:
            return liveapi.live_batch(conn, cursor, cell_id, samples)

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
            if conn.execute("SELECT 1 FROM cells WHERE cell_id = ?", (cell_id,)).fetchone() is None:
                raise ApiError(404, "unknown cell %s" % cell_id)
            if what is None:
                cursor = liveapi.Cursor.now(conn).text()  # where the cell page's stream starts
                return dict(self._latest(conn, cell_id), cursor=cursor, fleet=liveapi.fleet(conn, [cell_id])[0])
            if what == "series":
                return liveapi.series(conn, cell_id, query)
            if what == "events":
                return {"cell_id": cell_id, "events": liveapi.events(conn, cell_id, _int_param(query, "limit", 500))}
            if what == "commands":
                rows = _rows(conn, "SELECT * FROM commands WHERE cell_id = ? ORDER BY id DESC LIMIT ?", (cell_id, _int_param(query, "limit", 100)))
                for r in rows:
                    r["args"], r["answer"] = json.loads(r["args"]), json.loads(r["answer"])
                return {"cell_id": cell_id, "log": rows}
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
    return liveapi.param(query, name, default, int)


def _gone(sock):
    """True when the client closed its side (a readable socket with nothing to read)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _same_origin(headers):
    """True for a request a page of this server sent (or a tool, which sends no Origin)."""
    site = headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = headers.get("Origin")
    return origin is None or origin in ("http://%s" % headers.get("Host", ""), "https://%s" % headers.get("Host", ""))


def make_handler(api, gate=None, assets=None, desk=None):
    """The request handler; ``gate`` (host/twin/access.py) judges each request first; ``assets(path)`` -> (body bytes, content type) or None serves the other GETs; ``desk`` sends the page's commands (None: read-only)."""

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

        def _sign_in(self, url, query, token):
            # The same page without the token (it leaves the address bar and
            # the history), the browser signed in by the cookie.
            rest = urlencode([(k, v) for k, vs in query.items() if k != "token" for v in vs])
            self.send_response(303)
            self.send_header("Location", url.path + ("?" + rest if rest else ""))
            self.send_header("Set-Cookie", sign_in_cookie(token))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _body(self, status, body, ctype):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            self.wfile.write(body)

        def _who(self):
            # Who asked: "local" on loopback, else the token's operator (what a command is tied to).
            if gate is None:
                return "local"
            return gate.operator(self.headers.get("Authorization"), cookie_token(self.headers.get("Cookie")))

        def _unknown(self):
            return self._json(401, {"error": "token required (Authorization: Bearer ..., or open /?token=...; host/twin/access.py)"})

        def do_POST(self):
            url = urlparse(self.path)
            self.operator = self._who()
            if self.operator is None:
                return self._unknown()
            m = _COMMANDS_PATH.match(url.path)
            if not m:
                return self._json(404, {"error": "no such path %s" % url.path[:80]})
            if not _same_origin(self.headers) or self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
                return self._json(403, {"error": "commands are taken only from this server's pages, as application/json"})
            if desk is None:
                return self._json(403, {"error": READ_ONLY_WHY})
            try:
                n = int(self.headers.get("Content-Length", ""))
            except ValueError:
                n = -1
            if not 0 <= n <= MAX_POST_BYTES:
                return self._json(400, {"error": "a command body of 0..%d bytes with its Content-Length" % MAX_POST_BYTES})
            status, answer = desk.send(m.group(1), self.rfile.read(n), self.operator)
            return self._json(status, answer)

        def do_GET(self):
            url = urlparse(self.path)
            query = parse_qs(url.query)
            self.operator = self._who()
            if self.operator is None:
                link = query.get("token")
                if link and gate.operator_of(link[0]) is not None:
                    return self._sign_in(url, query, link[0])
                return self._unknown()
            try:
                if url.path == "/api/cells":
                    return self._json(200, api.cells())
                if url.path == "/api/fleet":
                    return self._json(200, api.fleet())
                if url.path == "/api/stream":
                    return self._stream(query)
                if url.path == "/api/live":
                    return self._live(query)
                if url.path == "/metrics":
                    return self._body(200, api.metrics(), metrics.CONTENT_TYPE)
                m = _CELL_PATH.match(url.path)
                if m and m.group(2) == "commands":
                    on = {"enabled": desk is not None, "why": "" if desk is not None else READ_ONLY_WHY, "operator": self.operator}
                    return self._json(200, dict(api.cell(m.group(1), "commands", query), **on))
                if m:
                    return self._json(200, api.cell(m.group(1), m.group(2), query))
                found = None if assets is None or url.path.startswith("/api/") else assets(url.path)
                if found is not None:
                    return self._body(200, *found)
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

        def _live(self, query):
            cell_id = query.get("cell", [None])[0]
            samples = query.get("samples", ["1" if cell_id else "0"])[0] == "1"
            max_events = _int_param(query, "max_events", 0)  # 0: until the client goes away
            # The browser's reconnect names the last id it saw; a first connect may pass ?since.
            cursor = api.live_cursor(self.headers.get("Last-Event-ID") or query.get("since", [""])[0])
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            out = self.wfile
            out.write(("retry: %d\nevent: hello\nid: %s\ndata: %s\n\n" % (LIVE_RETRY_MS, cursor.text(), json.dumps({"cursor": cursor.text()}))).encode())
            out.flush()
            sent, quiet_s = 0, 0.0
            try:
                while True:
                    try:
                        batch = api.live_batch(cursor, cell_id, samples)
                    except (ApiError, sqlite3.Error):
                        return  # the browser reconnects after retry
                    if batch:
                        for name, data in batch:
                            out.write(("event: %s\ndata: %s\n\n" % (name, json.dumps(data))).encode())
                            sent += 1
                        # The id once per batch, after it: a resume never skips part of one.
                        out.write(("id: %s\ndata: {}\nevent: mark\n\n" % cursor.text()).encode())
                        out.flush()
                        quiet_s = 0.0
                        if max_events and sent >= max_events:
                            return
                        continue  # a backlog: the next batch at once
                    if _gone(self.connection):
                        return  # the tab closed: free this thread now, not at the next write
                    if quiet_s >= LIVE_KEEPALIVE_S:
                        out.write(b": keep-alive\n\n")
                        out.flush()
                        quiet_s = 0.0
                    time.sleep(LIVE_POLL_S)
                    quiet_s += LIVE_POLL_S
            except (BrokenPipeError, ConnectionResetError):
                return

    return Handler


def make_server(db_path, host="127.0.0.1", port=0, token_file=None, assets=None, desk=None):
    """A ThreadingHTTPServer for the API (port 0: a free one, see server.server_port);
    off loopback it needs ``token_file`` (access.gate_for raises AccessError).

    A file of an older schema is upgraded first (the live tables the routes
    read), as the twin does when it opens it.
    """
    if os.path.exists(db_path):
        Store(db_path).close()
    server = ThreadingHTTPServer((host, port), make_handler(TwinApi(db_path), gate_for(host, token_file), assets, desk))
    server.daemon_threads = True  # an open event stream never holds up shutdown
    return server


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


def serve_in_thread(db_path, host="127.0.0.1", port=0, token_file=None, assets=None):
    """Start the server in a daemon thread; return (server, thread). Stop with server.shutdown()."""
    server = make_server(db_path, host, port, token_file, assets)
    thread = threading.Thread(target=server.serve_forever, name="twin-http", daemon=True)
    thread.start()
    return server, thread
