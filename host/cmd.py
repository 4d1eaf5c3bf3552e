"""`platewise cmd`: send one authenticated command to a board and wait for
its answer.

    platewise cmd CELL COMMAND [ARG=VALUE ...] --broker mqtt://HOST:PORT (--secrets FILE | --keyring FILE)
                  [--ctr N] [--timeout S] [--user NAME | --credentials FILE] [--json]

COMMAND is one of set_limits, pulse, clear_fault, start, stop, set_cmd_key (the board's
``firmware/commands.py`` says what each takes and how it is bounded), e.g.
``platewise cmd cell-1 set_limits charge_current_a=0.004`` or
``platewise cmd cell-1 clear_fault``. The command is signed with the board's
key (``cmd_key_hex`` in FILE, the same secrets file format as the board's,
or the cell's entry in a fleet's keyring, ``--keyring``, made by
``platewise provision``: host/deploy/keyring.py)
over the canonical bytes of ``shared/auth.py``; floats are rounded to the
signed grid first (``cmdsign.quantize``), so the value sent is the value signed.

Key rotation: ``platewise cmd CELL set_cmd_key --keyring FILE`` sends the
rotation ``platewise provision --rotate`` left pending in the keyring (the
new key and MQTT password, encrypted under the current key); once the board
answers ``cmd_ok`` the keyring's current key is the new one, and commands
signed with the old key are refused by the board. A refused or unanswered
rotation leaves the keyring as it was.

The counter: a board accepts a command only if its ``ctr`` is above the last
it accepted. By default ``ctr`` is the host's clock in milliseconds since
1970, which rises from one invocation to the next on a host whose clock does
not step back; ``--ctr`` sets it (e.g. after the clock was set back: the
board's ``replay`` answer says its last accepted counter).

The answer: the board publishes ``cmd_ok`` or ``cmd_reject`` on its event
topic with the command's counter as ``value``; the tool prints it (the
reason includes any clamped argument) and, for a ``clear_fault`` that
cleared, the ``fault_clear`` event that follows.

Exit codes: 0 accepted and applied; 1 rejected (the reason is printed);
2 a usage error (unknown command, bad argument, bad secrets file), nothing
sent; 3 the broker could not be reached, nothing sent; 4 sent, but no
answer within ``--timeout`` (the board may be offline: the broker keeps a
QoS 1 command only for a persistent session, which the board does not
use, so send it again when the board is back).

The broker password, when the broker wants one, comes from the environment
(``PLATEWISE_MQTT_PASSWORD``) with ``--user``, or from a credentials file
(``--credentials``: ``{"mqtt_user", "mqtt_password"}``, e.g. the twin's
``host/twin.json`` of a provisioned folder), not the command line, where
other users of the machine could read it.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

from platewise.shared import cmdsign, keyfile
from platewise.shared import telemetry as tm

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_BROKER, EXIT_TIMEOUT = 0, 1, 2, 3, 4


class CmdError(ValueError):
    """A usage error: str(e) says what is wrong; nothing was sent."""


def parse_args_kv(items: list[str]) -> dict:
    """``["charge_current_a=0.004", "duration_ms=500"]`` -> arguments; an
    integer stays an int, anything with a point or exponent is a float."""
    out: dict = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise CmdError(f"argument {item!r}: expected NAME=VALUE")
        try:
            value: int | float = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                raise CmdError(f"argument {name}: {text!r} is not a number") from None
        if name in out:
            raise CmdError(f"argument {name} given twice")
        out[name] = value
    return out


def load_key(path: str) -> bytes:
    """The board's command key from a secrets file (``cmd_key_hex``), read
    by the board's own reader (shared/keyfile.py)."""
    key, why = keyfile.load_key(path)
    if key is None:
        raise CmdError("secrets file " + why)
    return key


def build(key: bytes, cell_id: str, cmd: str, args: dict, ctr: int) -> bytes:
    """The signed cmd message (payload bytes) for ``cell_id``."""
    if not tm.valid_cell_id(cell_id):
        raise CmdError(f"cell id {cell_id!r}: letters, digits, - _ . only, at most {tm.MAX_CELL_ID_LEN}")
    if cmd not in tm.COMMANDS:
        raise CmdError(f"command {cmd!r}: one of {', '.join(tm.COMMANDS)}")
    if isinstance(ctr, bool) or not isinstance(ctr, int) or not 0 < ctr <= tm.MAX_SEQ:
        raise CmdError(f"ctr {ctr!r}: a whole number from 1 to {tm.MAX_SEQ}")
    try:
        fields = cmdsign.command_fields(key, cell_id, ctr, cmd, args)
    except ValueError as e:
        raise CmdError(str(e)) from None
    return tm.encode("cmd", cell_id, ctr, fields)


def send(
    host: str,
    port: int,
    cell_id: str,
    payload: bytes,
    ctr: int,
    timeout_s: float = 10.0,
    user: str | None = None,
    password: str | None = None,
) -> tuple[int, list[dict]]:
    """Publish ``payload`` on the cell's cmd topic and wait for the answer.

    Returns (exit code, the board's answer events). Raises OSError if the
    broker cannot be reached (nothing sent)."""
    import paho.mqtt.client as mqtt

    got: list[dict] = []
    answered_at: list[float] = []  # when a clear_fault's cmd_ok came (its fault_clear may follow)
    done = threading.Event()
    subscribed = threading.Event()
    lock = threading.Lock()

    def on_message(client, userdata, msg):
        try:
            _cell, _kind, m = tm.decode(msg.topic, msg.payload)
        except tm.TelemetryError:
            return  # not ours to judge here; the twin reports bad messages
        with lock:
            answer = m["event"] in ("cmd_ok", "cmd_reject") and m.get("value") == ctr
            if answer:
                got.append(m)
                if m["event"] == "cmd_reject" or m["code"] != "clear_fault":
                    done.set()
                else:
                    answered_at.append(time.monotonic())
            elif got and m["event"] == "fault_clear":
                got.append(m)  # what a clear_fault did
                done.set()

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"platewise-cmd-{os.getpid()}-{time.monotonic_ns()}")
    if user is not None:
        c.username_pw_set(user, password)
    c.on_message = on_message
    c.on_subscribe = lambda *a: subscribed.set()
    c.connect(host, port, keepalive=30)
    c.loop_start()
    try:
        c.subscribe(tm.topic(cell_id, "event"), qos=1)
        if not subscribed.wait(timeout_s):
            raise OSError("broker did not confirm the subscription")
        c.publish(tm.topic(cell_id, "cmd"), payload, qos=1).wait_for_publish(timeout_s)
        deadline = time.monotonic() + timeout_s
        while not done.wait(0.05):
            now = time.monotonic()
            with lock:
                # A cleared fault's fault_clear follows its cmd_ok in the same
                # tick; a clear_fault with nothing latched has none.
                if answered_at and now > answered_at[0] + 1.0:
                    break
            if now > deadline:
                break
    finally:
        c.loop_stop()
        c.disconnect()
    with lock:
        answer = list(got)
    if not answer:
        return EXIT_TIMEOUT, answer
    return (EXIT_OK if answer[0]["event"] == "cmd_ok" else EXIT_REJECTED), answer


def add_cmd_command(sub) -> None:
    p = sub.add_parser("cmd", help="send one authenticated command to a board and print its answer")
    p.add_argument("cell", help="the board's cell id")
    p.add_argument("command", help="set_limits, pulse, clear_fault, start, stop or set_cmd_key")
    p.add_argument("args", nargs="*", metavar="ARG=VALUE", help="command arguments, e.g. charge_current_a=0.004")
    p.add_argument("--broker", required=True, help="mqtt://HOST:PORT")
    p.add_argument("--secrets", default=None, help="JSON file with the board's cmd_key_hex")
    p.add_argument("--keyring", default=None, help="the fleet's keyring.json (platewise provision): the cell's key")
    p.add_argument("--credentials", default=None, help="JSON file with mqtt_user and mqtt_password (e.g. host/twin.json)")
    p.add_argument("--ctr", type=int, default=None, help="command counter (default: the clock in ms)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the answer (default 10)")
    p.add_argument("--user", default=None, help="broker user (password from $PLATEWISE_MQTT_PASSWORD)")
    p.add_argument("--json", action="store_true", help="print the answer events as JSON")
    p.set_defaults(handler=main)


def credentials_file(path: str | None) -> tuple[str | None, str | None]:
    """(mqtt_user, mqtt_password) from a credentials file (e.g. host/twin.json
    of a provisioned folder), (None, None) for no file; raises CmdError naming it."""
    if path is None:
        return None, None
    try:
        d = json.loads(open(path).read())
    except (OSError, ValueError) as e:
        raise CmdError(f"credentials file {path}: {e}") from None
    if not isinstance(d, dict) or not isinstance(d.get("mqtt_user"), str) or not isinstance(d.get("mqtt_password"), str):
        raise CmdError(f"credentials file {path}: needs mqtt_user and mqtt_password strings")
    return d["mqtt_user"], d["mqtt_password"]


def _credentials(args) -> tuple[str | None, str | None]:
    if args.credentials is None:
        return args.user, os.environ.get("PLATEWISE_MQTT_PASSWORD")
    return credentials_file(args.credentials)


def main(args) -> int:
    from platewise.host.broker import BrokerError, parse_broker_url
    from platewise.host.deploy import keyring as kr

    def err(msg: str) -> None:
        print("platewise cmd: " + msg, file=sys.stderr)

    ring = None
    try:
        host, port = parse_broker_url(args.broker)
        if (args.secrets is None) == (args.keyring is None):
            raise CmdError("give one of --secrets FILE or --keyring FILE")
        if args.keyring is not None:
            ring = kr.load(args.keyring)
            key = kr.key_for(ring, args.cell)
        else:
            key = load_key(args.secrets)
        user, password = _credentials(args)
        ctr = args.ctr if args.ctr is not None else time.time_ns() // 1_000_000
        cmd_args = parse_args_kv(args.args)
        if args.command == "set_cmd_key":
            if ring is None or cmd_args:
                raise CmdError("set_cmd_key takes no arguments and needs --keyring (the rotation pending there)")
            cmd_args = kr.rotation_args(ring, args.cell, ctr)
        payload = build(key, args.cell, args.command, cmd_args, ctr)
    except (CmdError, BrokerError, kr.KeyringError) as e:
        err(str(e))
        return EXIT_USAGE
    try:
        code, answer = send(host, port, args.cell, payload, ctr, args.timeout, user, password)
    except OSError as e:
        err(f"broker {host}:{port}: {e}")
        return EXIT_BROKER
    if args.command == "set_cmd_key" and code == EXIT_OK and ring is not None:
        kr.promote(ring, args.cell)
        kr.save(args.keyring, ring)
    elif args.command == "set_cmd_key" and code == EXIT_TIMEOUT:
        err("the keyring keeps the old key; if the board took the new one anyway (a command with "
            "--secrets DIR/boards/CELL/secrets.json is accepted), run platewise provision CELL --out DIR --promote")
    if args.json:
        print(json.dumps({"ctr": ctr, "exit": code, "answer": answer}))
    elif not answer:
        err(f"no answer from {args.cell} within {args.timeout:g} s (ctr {ctr}); is it online?")
    else:
        for m in answer:
            print(f"{m['event']} {m['code']}: {m['msg']}")
    return code
