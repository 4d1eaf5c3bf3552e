"""`platewise deploy units --out DIR`: systemd unit files for running the
twin and the dashboard (the twin's HTTP API) for months.

Writes ``platewise-twin.service`` (``platewise twin run`` with the twin's
broker credentials from the provisioned folder, its log through
host/deploy/logsetup.py, rotated), ``platewise-dashboard.service``
(``platewise dashboard``: the pages and the API, loopback unless told otherwise, then with a token
file; read-only unless ``--dashboard-commands``, which gives it the lab's
keyring and the twin's broker account to send the cell page's commands
through, host/dashboard/commands.py), and ``platewise-backup.service`` with ``platewise-backup.timer``
(``platewise twin backup`` once a day). Both services restart on failure
and run as an unprivileged user with the file system read-only but for the
database's and the logs' folders.

Failure behaviour: ``--api-host`` off loopback without ``--token-file``, or
a value holding a newline or a character systemd would read as a specifier
or quote (``%``, quotes, backslash), raises ``UnitError`` naming it; no unit
is written then.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from platewise.host.twin.access import is_loopback


class UnitError(ValueError):
    """str(e) names the option and what is wrong."""


_HARDEN = """NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ReadWritePaths={rw}
"""


def _check(opts: dict) -> None:
    for k, v in opts.items():
        if isinstance(v, str) and any(ch in v for ch in "%\"'\\\n"):
            raise UnitError(f"--{k.replace('_', '-')} {v!r}: no % quote backslash or newline in a unit's value")
    if not is_loopback(opts["api_host"]) and not opts.get("token_file"):
        raise UnitError(f"--api-host {opts['api_host']} is not loopback: give --token-file (platewise deploy token)")


def units(opts: dict) -> dict[str, str]:
    """file name -> text; ``opts`` the CLI's options (see host/deploy/cli.py)."""
    _check(opts)
    exe = opts.get("exe") or shutil.which("platewise") or os.path.join(os.path.dirname(sys.executable), "platewise")
    lab, db, logs = opts["lab"], opts["db"], opts["log_dir"]
    data = os.path.dirname(db) or "."
    common = f"User={opts['user']}\nRestart=on-failure\nRestartSec=5\n" + _HARDEN.format(rw=f"{data} {logs}")
    twin = (
        "[Unit]\nDescription=Platewise digital twin (MQTT to SQLite)\nAfter=network-online.target mosquitto.service\n"
        "Wants=network-online.target\n\n[Service]\n"
        f"ExecStart={exe} twin run --broker {opts['broker']} --db {db} --credentials {lab}/host/twin.json"
        f" --log-file {logs}/twin.log\n" + common + "\n[Install]\nWantedBy=multi-user.target\n"
    )
    token = f" --token-file {opts['token_file']}" if opts.get("token_file") else ""
    if opts.get("dashboard_commands"):
        token += f" --keyring {lab}/host/keyring.json --cmd-broker {opts['broker']} --credentials {lab}/host/twin.json"
    dash = (
        "[Unit]\nDescription=Platewise dashboard and HTTP API (reads the twin's database)\nAfter=platewise-twin.service\n\n[Service]\n"
        f"ExecStart={exe} dashboard --db {db} --host {opts['api_host']} --port {opts['api_port']}{token}"
        f" --log-file {logs}/dashboard.log\n"
        + common + "\n[Install]\nWantedBy=multi-user.target\n"
    )
    backup = (
        "[Unit]\nDescription=Platewise: back up the twin's database (SQLite online backup)\n\n[Service]\nType=oneshot\n"
        f"ExecStart={exe} twin backup --db {db} --out {data}/twin-backup.db\nUser={opts['user']}\n"
        + _HARDEN.format(rw=data)
    )
    timer = "[Unit]\nDescription=Daily backup of the Platewise twin's database\n\n[Timer]\nOnCalendar=daily\nPersistent=true\n\n[Install]\nWantedBy=timers.target\n"
    return {
        "platewise-twin.service": twin,
        "platewise-dashboard.service": dash,
        "platewise-backup.service": backup,
        "platewise-backup.timer": timer,
    }


def write_units(out: str | Path, opts: dict) -> list[Path]:
    texts = units(opts)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in texts.items():
        (out / name).write_text(text)
        paths.append(out / name)
    return paths
