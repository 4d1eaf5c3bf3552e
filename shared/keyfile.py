"""The board's command key from its secrets file, for both sides: the
board reads it at boot (firmware/config.py, dropped from memory after), the
host's `platewise cmd` (host/cmd.py) reads the same file to sign.

The secrets file is JSON with ``cmd_key_hex``: the per-board HMAC-SHA256 key,
hex, 32 to 64 bytes (RFC 2104: not shorter than the hash output).

``take_rotation`` is the board's side of a key rotation (the ``set_cmd_key``
command, firmware/app.py): loaded for that command and dropped after it.

Failure behaviour: ``load_key`` never raises; it returns (None, reason),
the reason naming the file: missing, not JSON, no ``cmd_key_hex``, not hex,
or the wrong length. ``take_rotation`` raises (see its doc) and leaves the
file as it was; the new file replaces the old one by a rename, atomic on
LittleFS (the rp2 and esp32 default) and POSIX.
"""

KEY_MIN_BYTES = 32
KEY_MAX_BYTES = 64


def load_key(path, opener=open):
    """(key bytes, None) from the secrets file, or (None, reason). Never raises."""
    import json
    import binascii

    try:
        f = opener(path, "r")
    except OSError:
        return None, "no secrets file " + path
    try:
        try:
            d = json.loads(f.read(1024))
        except Exception:
            return None, "%s: not JSON" % path
    finally:
        f.close()
    h = d.get("cmd_key_hex") if isinstance(d, dict) else None
    if not isinstance(h, str):
        return None, path + ": no cmd_key_hex"
    try:
        key = binascii.unhexlify(h)
    except Exception:
        return None, path + ": cmd_key_hex is not hex"
    if not KEY_MIN_BYTES <= len(key) <= KEY_MAX_BYTES:
        return None, "%s: key must be %d..%d bytes" % (path, KEY_MIN_BYTES, KEY_MAX_BYTES)
    return key, None


def take_rotation(path, key, ctr, args):
    """A rotation command's new key and MQTT password, written to the
    secrets file ``path`` (new file, then renamed over it) before either is
    used: returns (new key bytes, new password text). ``args`` holds both
    as hex, each XORed with SHA-256(key || b"k" or b"p" || ctr as decimal
    text), the pads of host/deploy/keyring.py. Raises OSError if the file
    cannot be read or written (it is then as it was), ValueError if an
    argument is not hex."""
    import json
    import binascii
    import hashlib
    import os

    out = []
    for k, p in (("cmd_key_hex", b"k"), ("mqtt_password", b"p")):
        x = hashlib.sha256(key + p + str(ctr).encode()).digest()
        h = binascii.unhexlify(args[k])
        out.append(binascii.hexlify(bytes([h[i] ^ x[i] for i in range(len(h))])).decode())
    f = open(path, "r")
    try:
        d = json.loads(f.read(2048))
    finally:
        f.close()
    d["cmd_key_hex"] = out[0]
    d["mqtt_password"] = out[1]
    tmp = path + ".rotation-tmp"  # longer than 10 characters: not an interned name
    f = open(tmp, "wb")  # "wb", not "w": a mode the firmware already interns
    try:
        f.write(json.dumps(d).encode())
    finally:
        f.close()
    os.rename(tmp, path)
    return binascii.unhexlify(out[0]), out[1]
