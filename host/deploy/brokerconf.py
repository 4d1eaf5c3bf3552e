"""`platewise broker config`: a Mosquitto configuration for a provisioned
folder (host/deploy/provision.py), run as is by ``mosquitto -c``.

    platewise broker config --from DIR --port N --out OUT
                            [--tls-port M --tls-cert F --tls-key F --ca F] [--bind ADDR]
                            [--run-as USER] [--data-dir D]

Writes ``OUT/mosquitto.conf``, ``OUT/acl`` and ``OUT/passwd`` (a copy of
``DIR/broker/passwd``, 0600), so OUT is the broker's whole state:
- no anonymous access; every client is a user of the password file;
- the plain listener on ``--port`` is bound to 127.0.0.1 only (the twin and
  operators on the broker's machine); boards elsewhere use the TLS listener
  on ``--tls-port`` (default 8883, bound to ``--bind``, default every
  address), which is written only when ``--tls-cert`` and ``--tls-key`` are
  given;
- the ACL (Mosquitto checks it on every publish and on every delivery, so
  a subscription to a topic a user may not read delivers nothing): board
  user ``board-<cell>`` may publish only on
  ``platewise/v1/<cell>/{telemetry,cycle,event,status}`` and read only its
  own ``cmd``; the twin's user reads every board topic and ``twin`` and
  writes ``cmd`` and ``twin``; the viewer (dashboards, exports) only reads
  the board topics and ``twin``.
Topics come from shared/wire.py (``wire.topic``), the one place they are made.

Failure behaviour: a folder without ``broker/passwd`` or without boards, a
TLS option without its partner, or a certificate file that does not exist
raises ``ProvisionError`` naming it; nothing is written then.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from platewise.host.deploy.provision import TWIN_USER, VIEWER_USER, ProvisionError, board_cells, board_user
from platewise.shared import telemetry as tm

BOARD_KINDS = ("telemetry", "cycle", "event", "status")


def acl_text(cells: list[str]) -> str:
    lines = ["# Platewise broker ACL (platewise broker config); one block per user.", ""]
    for c in cells:
        lines.append(f"user {board_user(c)}")
        lines += [f"topic write {tm.topic(c, k)}" for k in BOARD_KINDS]
        lines += [f"topic read {tm.topic(c, 'cmd')}", ""]
    lines.append(f"user {TWIN_USER}")
    lines += [f"topic read {tm.subscription(k)}" for k in BOARD_KINDS]
    lines += [f"topic write {tm.subscription('cmd')}", f"topic readwrite {tm.subscription('twin')}", ""]
    lines.append(f"user {VIEWER_USER}")
    lines += [f"topic read {tm.subscription(k)}" for k in BOARD_KINDS + ("twin",)]
    return "\n".join(lines) + "\n"


def write_config(
    src: str | Path,
    out: str | Path,
    port: int,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    ca: str | None = None,
    tls_port: int = 8883,
    bind: str | None = None,
    run_as: str = "mosquitto",
    data_dir: str | None = None,
) -> Path:
    """Write OUT/mosquitto.conf, acl, passwd; returns the conf's path."""
    src, out = Path(src), Path(out)
    passwd = src / "broker" / "passwd"
    if not passwd.exists():
        raise ProvisionError(f"{passwd}: missing; run platewise provision --out {src} first")
    cells = board_cells(src)
    if not cells:
        raise ProvisionError(f"{src / 'boards'}: no provisioned board")
    if (tls_cert is None) != (tls_key is None):
        raise ProvisionError("--tls-cert and --tls-key go together")
    for name, f in (("--tls-cert", tls_cert), ("--tls-key", tls_key), ("--ca", ca)):
        if f is not None and not os.path.exists(f):
            raise ProvisionError(f"{name} {f}: no such file")
    out.mkdir(parents=True, exist_ok=True)
    (out / "acl").write_text(acl_text(cells))
    shutil.copyfile(passwd, out / "passwd")
    os.chmod(out / "passwd", 0o600)
    conf = [
        "# Platewise broker (platewise broker config): run with mosquitto -c this file.",
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {(out / 'passwd').resolve()}",
        f"acl_file {(out / 'acl').resolve()}",
        f"user {run_as}",
        "# Plain MQTT on loopback only: the twin and operators on this machine.",
        f"listener {port} 127.0.0.1",
    ]
    if tls_cert:
        conf += ["# TLS for the boards.", f"listener {tls_port}" + (f" {bind}" if bind else "")]
        conf += [f"certfile {os.path.abspath(tls_cert)}", f"keyfile {os.path.abspath(tls_key)}"]
        if ca:
            conf.append(f"cafile {os.path.abspath(ca)}")
    if data_dir:
        conf += ["persistence true", f"persistence_location {os.path.abspath(data_dir).rstrip('/')}/"]
    else:
        conf.append("persistence false")
    conf += ["log_dest stderr", "log_type error", "log_type warning", "log_type notice"]
    path = out / "mosquitto.conf"
    path.write_text("\n".join(conf) + "\n")
    return path
