"""`platewise dashboard`: the fleet and cell pages and the twin's API on one
origin, over the twin's SQLite file; with ``--broker`` the twin runs live in
the same process and fills the file as the pages read it.

    platewise dashboard --db FILE [--broker mqtt://HOST:PORT] [--host H --port N]
                        [--keyring FILE [--cmd-broker mqtt://HOST:PORT]] [--credentials FILE]

Read-only unless ``--keyring`` is given: then the cell page sends commands,
signed here with the keyring's keys (host/dashboard/commands.py), through
``--cmd-broker`` (default ``--broker``; give it when the twin runs as its own
service, so this process does not run a second twin). ``--credentials``
(``{"mqtt_user", "mqtt_password"}``, e.g. a provisioned lab's
``host/twin.json``) is the broker account of both. ``--log-file``: a
rotating log (host/deploy/logsetup.py; default stderr) of every command,
who sent it and the board's answer, besides the log in the database.

``Dashboard`` is the same thing for code (the demo, the tests, the bench):
``Dashboard(db).start()`` then ``.url`` and ``.stop()``.

Failure behaviour: ``--keyring`` with no broker to send through, a keyring
or credentials file that cannot be read: the reason, exit 2. A bad broker URL, an unreachable broker or a port in use
prints the reason and exits 2 (3 for the broker link); a database this code
cannot use (a newer schema) exits 2 naming the file. Without ``--broker``
the file must exist (nothing would ever fill a new one).
"""

import os
import sys
import threading
import time

from platewise.host.twin.http import make_server

from .assets import asset

COMMIT_EVERY_S = 0.2  # a live twin's open batch is committed this often, so pages see it


class Dashboard:
    """The HTTP server with the dashboard's assets, in a daemon thread.

    ``twin``: a live twin writing ``db_path`` in this process; its open batch
    is committed every COMMIT_EVERY_S (by a second thread), so the pages see
    a message within that time, not only when the batch fills or ages.
    """

    def __init__(self, db_path, host="127.0.0.1", port=0, twin=None, token_file=None, desk=None):
        self.db_path = db_path
        self.desk = desk  # sends the page's commands (commands.CommandDesk); None: read-only
        self.token_file = token_file  # needed off loopback (host/twin/access.py)
        self.host = host
        self.port = port
        self.twin = twin
        self.server = None
        self._threads = []
        self._stop = threading.Event()

    def start(self):
        self.server = make_server(self.db_path, self.host, self.port, token_file=self.token_file, assets=asset, desk=self.desk)
        self._threads = [threading.Thread(target=self.server.serve_forever, name="dashboard-http", daemon=True)]
        if self.twin is not None:
            self._threads.append(threading.Thread(target=self._commit_loop, name="dashboard-commit", daemon=True))
        for t in self._threads:
            t.start()
        return self

    def _commit_loop(self):
        while not self._stop.wait(COMMIT_EVERY_S):
            self.twin.flush()

    @property
    def url(self):
        host = self.server.server_address[0]
        return "http://%s:%d/" % ("[%s]" % host if ":" in host else host, self.server.server_port)

    def stop(self):
        self._stop.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def _err(msg):
    print("platewise dashboard: %s" % msg, file=sys.stderr)


def main(args):
    from platewise.host.broker import BrokerError, parse_broker_url
    from platewise.host.cmd import CmdError, credentials_file
    from platewise.host.deploy import keyring as kr
    from platewise.host.deploy import logsetup
    from platewise.host.twin.mqtt import MqttLinkError, TwinSubscriber
    from platewise.host.twin.service import Twin
    from platewise.host.twin.store import StoreError

    if not args.broker and not os.path.exists(args.db):
        _err("no database at %s (give --broker to run the twin live into a new one)" % args.db)
        return 2
    twin = sub = None
    try:
        logsetup.configure(args.log_file)
        user, password = credentials_file(args.credentials)
        desk = _desk(args, user, password)
        if args.broker:
            host, port = parse_broker_url(args.broker)
            twin = Twin(db_path=args.db)
            sub = TwinSubscriber(twin, host, port, client_id=args.client_id, username=user, password=password, publish_estimates=True)
            sub.start()
        dash = Dashboard(args.db, args.host, args.port, twin=twin, token_file=args.token_file, desk=desk).start()
    except (BrokerError, OSError, ValueError, StoreError, CmdError, kr.KeyringError) as e:
        _err(str(e))
        _close(twin, sub)
        return 2
    except MqttLinkError as e:
        _err(str(e))
        _close(twin, sub)
        return 3
    print("platewise dashboard on %s (database %s%s; %s)" % (
        dash.url, args.db, ", live from " + args.broker if args.broker else "",
        "commands signed with " + args.keyring if desk is not None else "read-only"), flush=True)
    try:
        deadline = None if args.duration_s is None else time.monotonic() + args.duration_s
        while deadline is None or time.monotonic() < deadline:
            time.sleep(COMMIT_EVERY_S)
    except KeyboardInterrupt:
        pass
    finally:
        dash.stop()
        _close(twin, sub)
    return 0


def _desk(args, user, password):
    """The command desk for --keyring (None: read-only); the keyring is checked now."""
    from platewise.host.broker import parse_broker_url
    from platewise.host.deploy import keyring as kr

    from .commands import CommandDesk

    if args.keyring is None:
        if args.cmd_broker is not None:
            raise ValueError("--cmd-broker sends commands, which need --keyring FILE")
        return None
    url = args.cmd_broker or args.broker
    if url is None:
        raise ValueError("--keyring needs a broker to send commands through: --cmd-broker URL (or --broker)")
    kr.load(args.keyring)
    host, port = parse_broker_url(url)
    return CommandDesk(args.keyring, host, port, args.db, user=user, password=password)


def _close(twin, sub):
    if sub is not None:
        sub.stop()
    if twin is not None:
        twin.close()


def add_dashboard_command(subparsers):
    """Register ``dashboard`` on the ``platewise`` subparsers."""
    d = subparsers.add_parser("dashboard", help="fleet and cell pages in the browser, over the twin's database (live with --broker)")
    d.add_argument("--db", required=True, help="the twin's SQLite file")
    d.add_argument("--broker", default=None, help="mqtt://HOST:PORT: run the twin live into --db as well")
    d.add_argument("--client-id", default="platewise-dashboard-twin", help="MQTT client id of the live twin")
    d.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    d.add_argument("--port", type=int, default=8080, help="port (default 8080; 0: a free one)")
    d.add_argument("--token-file", default=None, help="hashed operator tokens (platewise deploy token); required off loopback")
    d.add_argument("--keyring", default=None, help="the fleet's keyring.json (platewise provision): the cell page sends signed commands")
    d.add_argument("--cmd-broker", default=None, help="mqtt://HOST:PORT the commands go through (default --broker)")
    d.add_argument("--credentials", default=None, help="JSON file with mqtt_user and mqtt_password for the broker (e.g. host/twin.json)")
    d.add_argument("--log-file", default=None, help="rotating log file (default stderr): the commands sent, by whom, and their answers")
    d.add_argument("--duration-s", type=float, default=None, help="stop after this many seconds (default: until Ctrl-C)")
    d.set_defaults(handler=main)
    return d
