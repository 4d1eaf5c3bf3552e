"""Commands from the cell page: checked here, signed here with the fleet's
keyring, sent through the broker, judged by the board, logged with who sent
them and the board's answer.

    GET  /api/cells/<id>/commands   {"enabled", "why", "operator", "commands", "log"}
    POST /api/cells/<id>/commands   {"command": "set_limits", "args": {"charge_current_a": 0.004}}

Read-only by default: the dashboard sends commands only when it was started
with a signing key (``platewise dashboard --keyring FILE``, the keyring of
``platewise provision``, host/deploy/keyring.py) and a broker to send them
through. Without one, ``POST`` is answered 403 with the reason and nothing
is published. The page asks for confirmation before it posts.

What the page may send (``PAGE_COMMANDS``): clear_fault, start, stop,
set_limits and pulse, with the argument names of the board's table
(firmware/cmdlimits.py), which judges every value: a limit past the
configured one is clamped, a pulse past its bounds rejected; the answer
says which. Key rotation (set_cmd_key) is not on the page: it rewrites the
keyring, so it stays with ``platewise cmd`` (host/cmd.py).

Each command is signed server-side (host/cmd.py ``build``: the same bytes
``platewise cmd`` would send) with a counter that is the clock in ms, kept
above the last this process sent. The key never leaves this process.

The log: one row per command in the twin's database (table ``commands``,
schema v5, host/twin/store.py), written through this module's own
connection: operator (the token's operator off loopback, ``local`` on
loopback: host/twin/access.py), cell, command, arguments, counter, when,
and the outcome: ``ok`` / ``rejected`` (the board's answer events, with its
reason) / ``no_answer`` (none within ``timeout_s``: the board may be
offline) / ``broker_error`` (not sent) / ``refused`` (this module refused
it before signing: the reason is the answer). The row is written before the
command is published and completed after, so a crash in between leaves it
as ``sent``.

Failure behaviour, each answered as JSON ``{"error": reason}``: a body that
is not a JSON object (its size is bounded before, host/twin/http.py
``MAX_POST_BYTES``), an unknown command, an
unknown or non-numeric argument, or set_limits without one: 400 (logged as
``refused``); a cell not in the keyring, or a keyring that cannot be read:
409 (logged as ``refused``; the keyring is read again for each command, so
a rotation by ``platewise cmd`` is picked up); a request from another
origin (``Origin``/``Sec-Fetch-Site``) or not sent as
``application/json``: 403, not logged (a page of another site cannot
command a board through an operator's browser); a broker that cannot be
reached: 502. A sent command is answered 200 whatever the board said.
"""

import json
import logging
import math
import sqlite3
import threading
import time

from platewise.host import cmd as cmdtool
from platewise.host.deploy import keyring as kr

DEFAULT_TIMEOUT_S = 10.0  # how long the page waits for the board's answer
# command -> (argument names, how many are needed); the board bounds each value.
PAGE_COMMANDS = {
    "clear_fault": ((), 0),
    "start": ((), 0),
    "stop": ((), 0),
    "set_limits": (("charge_current_a", "discharge_current_a", "charge_voltage_v", "discharge_cutoff_v"), 1),
    "pulse": (("amplitude_a", "duration_ms"), 2),
}
_OUTCOME = {cmdtool.EXIT_OK: "ok", cmdtool.EXIT_REJECTED: "rejected", cmdtool.EXIT_TIMEOUT: "no_answer"}

log = logging.getLogger("platewise.dashboard.commands")


class Refused(ValueError):
    """The command is refused before signing; ``status`` is the HTTP answer."""

    def __init__(self, status, why, command="?"):
        super().__init__(why)
        self.status = status
        self.command = command  # what the log names: the command asked for, when it is a name


def parse(body):
    """(command, args) from a POST body (bytes); raises Refused(400)."""
    try:
        d = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise Refused(400, "body is not JSON: %s" % e) from None
    if not isinstance(d, dict) or set(d) - {"command", "args"}:
        raise Refused(400, 'body must be {"command": NAME, "args": {...}}')
    name, args = d.get("command"), d.get("args", {})
    try:
        return _check(name, args)
    except Refused as e:
        e.command = name[:40] if isinstance(name, str) else "?"
        raise


def _check(name, args):
    if not isinstance(name, str) or name not in PAGE_COMMANDS:
        raise Refused(400, "command %r: one of %s from the page" % (name, ", ".join(PAGE_COMMANDS)))
    names, needed = PAGE_COMMANDS[name]
    if not isinstance(args, dict):
        raise Refused(400, "args must be an object")
    for k, v in args.items():
        if k not in names:
            raise Refused(400, "%s takes %s, not %r" % (name, ", ".join(names) or "no arguments", k))
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise Refused(400, "%s: %r is not a number" % (k, v))
    if len(args) < needed:
        raise Refused(400, "%s needs %s of %s" % (name, "all" if needed == len(names) else "at least %d" % needed, ", ".join(names)))
    # A page's number has no type: every argument is a float but the pulse's length in ms.
    return name, {k: _whole(v) if k == "duration_ms" else float(v) for k, v in args.items()}


def _whole(v):
    if v != int(v):
        raise Refused(400, "duration_ms: %r is not a whole number" % v)
    return int(v)


class CommandDesk:
    """Signs, sends and logs the page's commands (one at a time per cell).

    ``keyring_path``: the fleet's keyring; ``host``/``port``, ``user``/``password``:
    the broker and the account that may write ``cmd`` and read ``event``
    (the twin's, in a provisioned lab); ``db_path``: the twin's database,
    where the log is written; ``clock``: seconds since 1970 (passed in for tests).
    """

    def __init__(self, keyring_path, host, port, db_path, user=None, password=None, timeout_s=DEFAULT_TIMEOUT_S, clock=time.time):
        self.keyring_path = keyring_path
        self.host, self.port = host, port
        self.user, self.password = user, password
        self.db_path = db_path
        self.timeout_s = timeout_s
        self.clock = clock
        self._last_ctr = 0
        self._lock = threading.Lock()
        self._cell_locks = {}

    def _ctr(self):
        with self._lock:
            self._last_ctr = max(int(self.clock() * 1000), self._last_ctr + 1)
            return self._last_ctr

    def _cell_lock(self, cell_id):
        with self._lock:
            return self._cell_locks.setdefault(cell_id, threading.Lock())

    def _write(self, sql, params):
        conn = sqlite3.connect(self.db_path, timeout=10.0)
        try:
            with conn:
                return conn.execute(sql, params).lastrowid
        finally:
            conn.close()

    def _log(self, cell_id, operator, name, args, ctr, outcome, answer):
        return self._write(
            "INSERT INTO commands (cell_id, operator, command, args, ctr, sent_at, outcome, answer) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (cell_id, operator, str(name)[:40], json.dumps(args), ctr, self.clock(), outcome, json.dumps(answer)),
        )

    def send(self, cell_id, body, operator):
        """(HTTP status, answer) for a POST from ``operator``; never raises for bad input."""
        try:
            name, args = parse(body)
        except Refused as e:
            self._log(cell_id, operator, e.command, {}, None, "refused", [{"error": str(e)}])
            log.warning("command for %s from %s refused: %s", cell_id, operator, e)
            return e.status, {"error": str(e)}
        with self._cell_lock(cell_id):
            return self._send(cell_id, name, args, operator)

    def _send(self, cell_id, name, args, operator):
        ctr = self._ctr()
        try:
            key = kr.key_for(kr.load(self.keyring_path), cell_id)
            payload = cmdtool.build(key, cell_id, name, args, ctr)
        except (kr.KeyringError, cmdtool.CmdError) as e:
            self._log(cell_id, operator, name, args, ctr, "refused", [{"error": str(e)}])
            log.warning("command %s for %s from %s refused: %s", name, cell_id, operator, e)
            return 409, {"error": str(e)}
        row = self._log(cell_id, operator, name, args, ctr, "sent", [])
        log.info("command %s %s ctr %d for %s sent by %s", name, json.dumps(args), ctr, cell_id, operator)
        try:
            code, answer = cmdtool.send(self.host, self.port, cell_id, payload, ctr, self.timeout_s, self.user, self.password)
            outcome = _OUTCOME[code]
        except OSError as e:
            outcome, answer = "broker_error", [{"error": "broker %s:%d: %s" % (self.host, self.port, e)}]
        answer = [{k: m.get(k) for k in ("event", "code", "msg", "value")} if "event" in m else m for m in answer]
        answered_at = self.clock()
        self._write("UPDATE commands SET outcome = ?, answer = ?, answered_at = ? WHERE id = ?", (outcome, json.dumps(answer), answered_at, row))
        log.info("command %s ctr %d for %s: %s %s", name, ctr, cell_id, outcome, json.dumps(answer))
        record = {"id": row, "cell_id": cell_id, "operator": operator, "command": name, "args": args, "ctr": ctr,
                  "outcome": outcome, "answer": answer, "answered_at": answered_at}
        return (502 if outcome == "broker_error" else 200), record
