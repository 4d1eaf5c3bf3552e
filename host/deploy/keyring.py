"""The host's keyring: every board's command key in one file, so one file
serves a fleet (``platewise cmd --keyring``, the dashboard).

    {"keyring": 1, "cells": {"<cell>": {"cmd_key_hex": "...",
                                        "next_cmd_key_hex": "...",      # pending rotation
                                        "next_mqtt_password": "..."}}}  # pending rotation

``cmd_key_hex`` is always the key the board holds, the one commands are
signed with. A rotation (``platewise provision --rotate``) adds the
``next_*`` pair; ``platewise cmd CELL set_cmd_key --keyring FILE`` sends it
to the board under the current key (``rotation_args``: encrypted, see
below), and once the board answers ``cmd_ok`` ``promote`` makes the new key
current. A rotation the board refused leaves the file as it was.

The new key and password travel in the command's arguments encrypted: each
is XORed with a pad SHA-256(current key || "k" or "p" || ctr as decimal
text), fresh per counter (the board never accepts a counter twice), so a
reader of the broker's ``cmd`` topic or of the twin's database learns
neither; the command's MAC covers the ciphertext. The board undoes it
(firmware/app.py, ``_apply``).

Failure behaviour: ``load`` raises ``KeyringError`` naming the file (not
JSON, not a keyring, a key that is not 32..64 bytes of hex); ``key_for``
raises it naming the cell when the cell is not in the keyring.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from platewise.shared import keyfile

VERSION = 1


class KeyringError(ValueError):
    """str(e) names the file or cell and what is wrong."""


def empty() -> dict:
    return {"keyring": VERSION, "cells": {}}


def _key(path, cell, entry, name) -> bytes:
    h = entry.get(name)
    try:
        key = bytes.fromhex(h) if isinstance(h, str) else b""
    except ValueError:
        key = b""
    if not keyfile.KEY_MIN_BYTES <= len(key) <= keyfile.KEY_MAX_BYTES:
        raise KeyringError(f"{path}: cells.{cell}.{name}: {keyfile.KEY_MIN_BYTES}..{keyfile.KEY_MAX_BYTES} bytes of hex")
    return key


def load(path: str | Path) -> dict:
    try:
        d = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise KeyringError(f"keyring {path}: {e}") from None
    if not isinstance(d, dict) or d.get("keyring") != VERSION or not isinstance(d.get("cells"), dict):
        raise KeyringError(f"keyring {path}: not a version {VERSION} keyring (keys 'keyring' and 'cells')")
    for cell, entry in d["cells"].items():
        if not isinstance(entry, dict):
            raise KeyringError(f"{path}: cells.{cell}: must be an object")
        _key(path, cell, entry, "cmd_key_hex")
        if "next_cmd_key_hex" in entry:
            _key(path, cell, entry, "next_cmd_key_hex")
    d["_path"] = str(path)
    return d


def write_secret(path: str | Path, obj: dict) -> None:
    """JSON, created 0600 before any byte is written (mkstemp), then renamed
    over the old file: every file of the deployment that holds a secret."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name)
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def save(path: str | Path, ring: dict) -> None:
    """The keyring without its in-memory fields, through write_secret."""
    write_secret(path, {k: v for k, v in ring.items() if not k.startswith("_")})


def has(ring: dict, cell: str) -> bool:
    return cell in ring["cells"]


def set_key(ring: dict, cell: str, key_hex: str) -> None:
    ring["cells"][cell] = {"cmd_key_hex": key_hex}


def set_pending(ring: dict, cell: str, key_hex: str, password: str) -> None:
    entry = ring["cells"][cell]
    entry["next_cmd_key_hex"] = key_hex
    entry["next_mqtt_password"] = password


def key_for(ring: dict, cell: str) -> bytes:
    """The key the board holds now (what commands are signed with)."""
    entry = ring["cells"].get(cell)
    if entry is None:
        raise KeyringError(f"keyring {ring.get('_path', '')}: no key for cell {cell}")
    return _key(ring.get("_path", ""), cell, entry, "cmd_key_hex")


def pad(key: bytes, what: bytes, ctr: int) -> bytes:
    """The one-time pad of a rotation command (see the module's doc)."""
    return hashlib.sha256(key + what + str(ctr).encode()).digest()


def _xor_hex(data: bytes, p: bytes) -> str:
    return bytes(a ^ b for a, b in zip(data, p)).hex()


def rotation_args(ring: dict, cell: str, ctr: int) -> dict:
    """The ``set_cmd_key`` arguments for a pending rotation: the new key and
    password, each encrypted under the current key for this counter."""
    entry = ring["cells"].get(cell) or {}
    if "next_cmd_key_hex" not in entry:
        raise KeyringError(f"keyring {ring.get('_path', '')}: no rotation pending for {cell} (run platewise provision --rotate)")
    old = key_for(ring, cell)
    new = bytes.fromhex(entry["next_cmd_key_hex"])
    if len(new) != 32:
        raise KeyringError(f"keyring {ring.get('_path', '')}: cells.{cell}.next_cmd_key_hex: a rotated key is 32 bytes")
    pw = bytes.fromhex(entry["next_mqtt_password"])  # 16 random bytes as hex (provision.new_password)
    return {"cmd_key_hex": _xor_hex(new, pad(old, b"k", ctr)), "mqtt_password": _xor_hex(pw, pad(old, b"p", ctr))}


def promote(ring: dict, cell: str) -> None:
    """The board took the rotation: its new key is the current one."""
    entry = ring["cells"][cell]
    entry["cmd_key_hex"] = entry.pop("next_cmd_key_hex")
    entry.pop("next_mqtt_password", None)
