"""Command authentication: HMAC-SHA256 and the byte string a command signs.

Runs on MicroPython and CPython. MicroPython has no ``hmac`` module, so
HMAC (RFC 2104) is built here on ``hashlib.sha256``; a CPython test checks
it against ``hmac`` and the RFC 4231 vectors, and the same vectors run under
the unix port.

What is signed (``canonical_command``): a length-prefixed byte string,
netstring style (``<len>:<bytes>,`` per field, len in bytes, decimal):

    PWCMD1\\n  cell  ctr  cmd  n_args  (key  value) * n_args, keys sorted

Every field carries its own length, so no two different commands give the
same bytes, whatever characters they contain. ``seq`` and ``v`` are not
signed: ``ctr`` is the replay counter, ``seq`` is only the host's message
number. Values are typed: ``i<decimal>`` for an int, ``b1``/``b0`` for a
bool, ``s<utf-8>`` for a string, ``f<mantissa>e<exp>`` for a float.

Why floats are not signed as JSON text: boards (rp2, esp32) parse JSON
numbers into 32-bit floats, so re-serialising the parsed value would not
reproduce the host's text. A float is signed as its value rounded to
``FLOAT_DIGITS`` (6) significant digits, mantissa and exponent as integers
(0.0125 -> ``f125e-4``). A float32 is within 1.2e-7 (relative) of the
decimal it came from, four times inside the half step of a 6-digit grid,
so both sides round to the same digits provided the host sends a value that
is on the grid. The host's side (``shared/cmdsign.py``: ``sign_command``,
``command_fields``, ``quantize``) therefore refuses a float with more
digits and rounds one for the host; it is a module of its own because a
board only verifies, and every function it loads costs it heap.

Failure behaviour: ``canonical_command`` raises ValueError
(reason in the text) for an argument that cannot be signed: a nested
object, a list, null, NaN or infinity, a float outside 1e-12..1e15 in
magnitude. ``verify_command`` never raises: anything malformed is False.
"""

import binascii
import hashlib
import math

from .compat import const, is_finite

_BLOCK = const(64)  # SHA-256 block size, bytes (RFC 2104's B)
_IPAD = const(0x36)
_OPAD = const(0x5C)
_MAC_HEX_LEN = const(64)
_DOMAIN = const(b"PWCMD1\n")  # names the layout; a new layout gets a new tag
FLOAT_DIGITS = 6
_M_LO = const(100000)  # 10**(FLOAT_DIGITS-1): mantissa range after scaling
_M_HI = const(1000000)
_FLOAT_MIN = const(1e-12)  # magnitude bounds keep the scaling power of ten representable
_FLOAT_MAX = const(1e15)


def hmac_pads(key):
    """(inner, outer) padded keys of RFC 2104; compute once per key and reuse."""
    if not isinstance(key, (bytes, bytearray)):
        raise ValueError("key must be bytes")
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    ipad = bytearray(_BLOCK)
    opad = bytearray(_BLOCK)
    n = len(key)
    for i in range(_BLOCK):
        b = key[i] if i < n else 0
        ipad[i] = b ^ _IPAD
        opad[i] = b ^ _OPAD
    return bytes(ipad), bytes(opad)


def hmac_sha256(key, msg, pads=None):
    """HMAC-SHA256 digest (32 bytes) of ``msg`` under ``key`` (or precomputed ``pads``)."""
    # H((K ^ opad) || H((K ^ ipad) || msg))
    ipad, opad = pads if pads is not None else hmac_pads(key)
    h = hashlib.sha256(ipad)
    h.update(msg)
    inner = h.digest()
    h = hashlib.sha256(opad)
    h.update(inner)
    return h.digest()


def hmac_sha256_hex(key, msg, pads=None):
    return binascii.hexlify(hmac_sha256(key, msg, pads)).decode()  # lowercase on both interpreters


def equal(a, b):
    """Constant-time comparison of two byte or str values of public length.

    Every byte is compared whatever the first difference, so the time does
    not tell an attacker how much of a forged MAC was right.
    """
    if isinstance(a, str):
        a = a.encode()
    if isinstance(b, str):
        b = b.encode()
    if len(a) != len(b):
        return False
    r = 0
    for i in range(len(a)):
        r |= a[i] ^ b[i]
    return r == 0


def _float_parts(x):
    """(negative, mantissa, exponent) of x rounded to FLOAT_DIGITS significant digits."""
    if not is_finite(x):
        raise ValueError("value is not finite")
    if x == 0:
        return False, 0, 0
    neg = x < 0
    a = -x if neg else x
    if a < _FLOAT_MIN or a > _FLOAT_MAX:
        raise ValueError("magnitude outside 1e-12..1e15")
    e = int(math.floor(math.log10(a))) - (FLOAT_DIGITS - 1)
    s = 0.0
    # log10 may be off by one near powers of ten: scale, then correct. Scaling
    # by an exact power of ten (10**k as an int, then float) costs one rounding.
    for _ in range(4):
        s = a / float(10**e) if e >= 0 else a * float(10 ** (-e))
        if s >= _M_HI - 0.5:
            e += 1
        elif s < _M_LO - 0.5:
            e -= 1
        else:
            break
    m = int(s + 0.5)
    while m % 10 == 0:
        m //= 10
        e += 1
    return neg, m, e


def canonical_float(x):
    """The signed text of a float, e.g. 0.0125 -> "125e-4"; raises ValueError."""
    neg, m, e = _float_parts(x)
    if m == 0:
        return "0e0"
    return ("-" if neg else "") + str(m) + "e" + str(e)


def _value(v):
    # bool before int: True is an int in Python.
    if isinstance(v, bool):
        return "b1" if v else "b0"
    if isinstance(v, int):
        return "i" + str(v)
    if isinstance(v, float):
        return "f" + canonical_float(v)
    if isinstance(v, str):
        return "s" + v
    raise ValueError("unsupported type")


def _field(out, s):
    b = s.encode() if isinstance(s, str) else s
    out.extend(str(len(b)).encode())
    out.extend(b":")
    out.extend(b)
    out.extend(b",")


def canonical_command(cell_id, ctr, cmd, args):
    """The bytes a command's MAC covers; raises ValueError for what cannot be signed."""
    if not isinstance(cell_id, str) or not isinstance(cmd, str):
        raise ValueError("cell and cmd must be strings")
    if isinstance(ctr, bool) or not isinstance(ctr, int) or ctr < 0:
        raise ValueError("ctr must be a non-negative integer")
    if not isinstance(args, dict):
        raise ValueError("args must be an object")
    out = bytearray(_DOMAIN)
    _field(out, cell_id)
    _field(out, str(ctr))
    _field(out, cmd)
    _field(out, str(len(args)))
    for k in sorted(args):
        if not isinstance(k, str):
            raise ValueError("arg names must be strings")
        try:
            text = _value(args[k])
        except ValueError as e:
            raise ValueError("args.%s: %s" % (k[:32], e))
        _field(out, k)
        _field(out, text)
    return bytes(out)


def verify_command(key, msg, pads=None):
    """True if ``msg`` (a decoded cmd message) carries a valid MAC under ``key``.

    ``pads`` (from hmac_pads) saves recomputing the padded key per command.
    Anything malformed or unsignable is False. Raises only MemoryError:
    a MAC that could not be computed is no verdict on the command (a board
    short of memory must not call a genuine command forged).
    """
    try:
        mac = msg["mac"]
        if not isinstance(mac, str) or len(mac) != _MAC_HEX_LEN:
            return False
        want = hmac_sha256_hex(key, canonical_command(msg["cell"], msg["ctr"], msg["cmd"], msg["args"]), pads)
        return equal(want, mac.lower())
    except MemoryError:
        raise
    except Exception:
        return False
