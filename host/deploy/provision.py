"""`platewise provision`: every board's credentials and files, and the
host's side of them, in one folder (the file contract of issue 15).

    platewise provision CELL_ID [CELL_ID ...] --out DIR [--rotate]
                        [--base-config FILE] [--broker-host H] [--broker-port N]
                        [--tls-ca-der FILE]

Writes, for each cell, ``DIR/boards/<cell>/config.json`` (the base config
with ``cell_id``, the broker and ``secrets_path``) and
``DIR/boards/<cell>/secrets.json`` (the firmware's own keys: ``mqtt_user``,
``mqtt_password``, ``cmd_key_hex``), both ready for ``platewise flash``;
and for the host ``DIR/host/keyring.json`` (every board's command key,
read by ``platewise cmd --keyring``), ``DIR/host/twin.json`` and
``DIR/host/viewer.json`` (``{"mqtt_user", "mqtt_password"}``) and
``DIR/broker/passwd`` (Mosquitto's own hashed format, made by
``mosquitto_passwd -U``; no password ever goes on a command line).
Every file holding a secret is created 0600. Passwords are 128 random bits
(32 hex characters), command keys 32 random bytes, both from ``secrets``.

Provisioning is additive: cells already in DIR keep their key and password
(said on stdout), new cells are added, the twin's and viewer's credentials
are made once. ``--rotate`` gives each named cell a new key and password:
its ``secrets.json`` holds the new ones at once (what the board will hold),
the broker's file the new password, and its keyring entry keeps the key the
board still has as ``cmd_key_hex`` with the new ones pending
(``next_cmd_key_hex``, ``next_mqtt_password``) until ``platewise cmd CELL
set_cmd_key --keyring ...`` has the board take them (host/deploy/keyring.py);
``--promote`` makes them current by hand when the board took them but its
answer was lost.

Failure behaviour: an invalid cell id, a base config that is not a JSON
object or that sets ``cell_id``/``secrets_path``, a keyring that is not
ours, ``--rotate`` of a cell never provisioned, or ``mosquitto_passwd``
missing or failing raises ``ProvisionError`` naming the file or cell; the
files are written only after every check passed (the passwd file last,
from the secrets files on disk).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from platewise.host.deploy import keyring as kr
from platewise.shared import telemetry as tm

TWIN_USER = "platewise-twin"
VIEWER_USER = "platewise-viewer"
BOARD_USER_PREFIX = "board-"
KEY_BYTES = 32
PASSWORD_BYTES = 16
# Set by provisioning, not by the base config: a base config with them would
# give every board the same cell or secrets file.
_OWN_KEYS = ("cell_id", "secrets_path", "mqtt_host", "mqtt_port", "mqtt_tls", "mqtt_ca_path", "mqtt_server_hostname")


class ProvisionError(ValueError):
    """str(e) names the file or cell and what is wrong; nothing was written."""


def board_user(cell_id: str) -> str:
    return BOARD_USER_PREFIX + cell_id


def new_password() -> str:
    return secrets.token_hex(PASSWORD_BYTES)


def new_key_hex() -> str:
    return secrets.token_bytes(KEY_BYTES).hex()


def read_json(path: Path) -> dict:
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ProvisionError(f"{path}: {e}") from None
    if not isinstance(d, dict):
        raise ProvisionError(f"{path}: top level must be a JSON object")
    return d


def _board_config(base: dict, cell_id: str, host: str, port: int, ca_der: str | None) -> dict:
    cfg = dict(base)
    cfg.update({"cell_id": cell_id, "secrets_path": "secrets.json", "mqtt_host": host, "mqtt_port": port})
    if ca_der:
        cfg.update({"mqtt_tls": 1, "mqtt_ca_path": os.path.basename(ca_der), "mqtt_server_hostname": host})
    return cfg


def mosquitto_passwd(users: dict[str, str], out: Path) -> None:
    """``out``: Mosquitto's password file for ``users`` (name -> password),
    hashed by Mosquitto's own tool (``-U`` hashes a plain file in place)."""
    exe = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    if not os.path.exists(exe):
        raise ProvisionError("mosquitto_passwd not found: install mosquitto (apt-get install mosquitto)")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".passwd")
    try:
        with os.fdopen(fd, "w") as f:
            for name in sorted(users):
                f.write(f"{name}:{users[name]}\n")
        r = subprocess.run([exe, "-U", tmp], capture_output=True, text=True)
        if r.returncode != 0:
            raise ProvisionError(f"mosquitto_passwd -U failed: {r.stderr.strip()[:200]}")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def provision(
    cells: list[str],
    out: str | Path,
    rotate: bool = False,
    base_config: dict | None = None,
    broker_host: str = "127.0.0.1",
    broker_port: int = 1883,
    ca_der: str | None = None,
) -> dict:
    """Write the folder; returns {"added": [...], "kept": [...], "rotated": [...]}."""
    out = Path(out)
    base = dict(base_config or {})
    bad = [k for k in _OWN_KEYS if k in base]
    if bad:
        raise ProvisionError(f"base config: {', '.join(bad)} set by provisioning, remove it")
    for c in cells:
        if not tm.valid_cell_id(c):
            raise ProvisionError(f"cell id {c!r}: letters, digits, - _ . only, at most {tm.MAX_CELL_ID_LEN}")
    if len(set(cells)) != len(cells):
        raise ProvisionError("a cell id is given twice")
    ring_path = out / "host" / "keyring.json"
    ring = kr.load(ring_path) if ring_path.exists() else kr.empty()
    done: dict[str, list[str]] = {"added": [], "kept": [], "rotated": []}
    plan: list[tuple[str, dict, dict]] = []  # (cell, secrets, config)
    for c in cells:
        sec_path = out / "boards" / c / "secrets.json"
        known = kr.has(ring, c)
        if rotate and not known:
            raise ProvisionError(f"{ring_path}: cell {c} was never provisioned; provision it without --rotate")
        if known and not rotate:
            done["kept"].append(c)
            continue
        key_hex, password = new_key_hex(), new_password()
        if rotate:
            old = read_json(sec_path)
            if old.get("mqtt_user") != board_user(c):
                raise ProvisionError(f"{sec_path}: mqtt_user is not {board_user(c)}")
            kr.set_pending(ring, c, key_hex, password)
            done["rotated"].append(c)
        else:
            kr.set_key(ring, c, key_hex)
            done["added"].append(c)
        cfg = _board_config(base, c, broker_host, broker_port, ca_der)
        plan.append((c, {"mqtt_user": board_user(c), "mqtt_password": password, "cmd_key_hex": key_hex}, cfg))
    for c, sec, cfg in plan:
        kr.write_secret(out / "boards" / c / "secrets.json", sec)
        (out / "boards" / c / "config.json").write_text(json.dumps(cfg, indent=1, sort_keys=True) + "\n")
    for name, user in (("twin.json", TWIN_USER), ("viewer.json", VIEWER_USER)):
        if not (out / "host" / name).exists():
            kr.write_secret(out / "host" / name, {"mqtt_user": user, "mqtt_password": new_password()})
    kr.save(ring_path, ring)
    mosquitto_passwd(broker_users(out), out / "broker" / "passwd")
    return done


def promote(cells: list[str], out: str | Path) -> None:
    """The boards took their rotation but the answer was lost (the tool
    timed out): make each one's pending key current in the keyring. Check
    first that the board holds it (``platewise cmd CELL stop --secrets
    DIR/boards/CELL/secrets.json`` is accepted)."""
    ring_path = Path(out) / "host" / "keyring.json"
    ring = kr.load(ring_path)
    for c in cells:
        if "next_cmd_key_hex" not in ring["cells"].get(c, {}):
            raise ProvisionError(f"{ring_path}: no rotation pending for {c}")
        kr.promote(ring, c)
    kr.save(ring_path, ring)


def broker_users(out: Path) -> dict[str, str]:
    """user -> password of everyone the broker admits: every board in
    ``out/boards``, the twin and the viewer (from the files on disk)."""
    users: dict[str, str] = {}
    boards = out / "boards"
    for d in sorted(boards.iterdir()) if boards.is_dir() else []:
        sec = read_json(d / "secrets.json")
        users[sec["mqtt_user"]] = sec["mqtt_password"]
    for name in ("twin.json", "viewer.json"):
        cred = read_json(out / "host" / name)
        users[cred["mqtt_user"]] = cred["mqtt_password"]
    return users


def board_cells(out: str | Path) -> list[str]:
    """The cells provisioned in ``out`` (one folder each under boards/)."""
    boards = Path(out) / "boards"
    return sorted(d.name for d in boards.iterdir() if (d / "secrets.json").exists()) if boards.is_dir() else []
