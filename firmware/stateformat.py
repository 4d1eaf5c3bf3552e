"""The persistent state's file format, the one home of what the saver
(firmware/persist.py) and the boot-time loader (firmware/stateload.py) must
agree on: slot names, the format number, size bounds, the scalar fields and
the checksum line. persist.py's docstring says how the slots are used.
"""

import binascii
import hashlib

from shared.compat import const, is_finite

FORMAT = 1
SLOTS = ("pw_state_a.json", "pw_state_b.json")
TMP = "pw_state.tmp"
MAX_FILE_BYTES = 4096  # a larger file is corrupt by definition; bounds the read
FAULT_LOG_N = 16  # faults kept; the oldest is dropped
MAX_BASELINES = 16
MAX_NAME_LEN = 32
_CHK_BYTES = const(8)  # checksum: the first 64 bits of SHA-256

# Scalar fields: (name, type, default). "i" int >= 0, "f" finite number >= 0.
SCALARS = (
    ("boots", "i", 0),
    ("cycles", "i", 0),
    ("charge_ah", "f", 0.0),
    ("discharge_ah", "f", 0.0),
    ("last_ctr", "i", 0),
    ("seq_ceiling", "i", 0),
)


def checksum(body, h=None):
    """The file's checksum line: the first 64 bits of SHA-256 over ``body``,
    as hex text; or of ``h``, a hash already fed the body (save streams it)."""
    if h is None:
        h = hashlib.sha256(body)
    return binascii.hexlify(h.digest()[:_CHK_BYTES]).decode()


def num_ok(v):
    """A finite int or float that is not a bool: what every numeric field holds."""
    return not isinstance(v, bool) and isinstance(v, (int, float)) and is_finite(v)
