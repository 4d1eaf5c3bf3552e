"""Signing commands: the host's side of shared/auth.py.

A board only verifies commands (``auth.verify_command``); the host signs
them here. Kept apart from auth.py so that a board does not load code it
never runs. Runs on CPython and MicroPython (the tests sign on both and
compare).

Failure behaviour: ``sign_command`` raises ValueError (reason in the text)
for an argument the board could not verify: what ``canonical_command``
refuses, and a float with more than ``auth.FLOAT_DIGITS`` significant
digits (pass it through ``quantize`` first: the value sent must be the
value signed). ``command_fields`` quantizes floats itself.
"""

from .auth import FLOAT_DIGITS, canonical_command, canonical_float, hmac_sha256_hex
from .compat import is_finite


def quantize(x):
    """x rounded to the grid that is signed (FLOAT_DIGITS significant digits)."""
    return float(canonical_float(x))


def sign_command(key, cell_id, ctr, cmd, args):
    """Hex HMAC-SHA256 (lowercase, 64 chars) of a command; raises ValueError
    for an argument the board could not verify (see the module's doc)."""
    for k in args:
        v = args[k]
        if isinstance(v, float) and is_finite(v) and v != quantize(v):
            raise ValueError("args." + str(k) + ": " + repr(v) + " has more than " + str(FLOAT_DIGITS) + " significant digits; send quantize(x)")
    return hmac_sha256_hex(key, canonical_command(cell_id, ctr, cmd, args))


def command_fields(key, cell_id, ctr, cmd, args):
    """The ``cmd`` message fields (cmd, args, ctr, mac) with floats quantized; for the host."""
    q = {}
    for k in args:
        v = args[k]
        q[k] = quantize(v) if isinstance(v, float) else v
    return {"cmd": cmd, "args": q, "ctr": ctr, "mac": sign_command(key, cell_id, ctr, cmd, q)}
