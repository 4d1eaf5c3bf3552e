"""Telemetry contract v1, the part a board keeps in memory: the limits,
the field types, the topics, the charger's state names, the encoder and
the ``cmd`` schema.

The checker and the decoder are in ``shared/wirecheck.py``: a board decodes
only commands, and loads that module with the command code, for a batch of
commands (firmware/app.py), so the running BMS does not hold it. ``shared/telemetry.py`` adds the schemas of
every other kind and re-exports both modules; it is what the host uses, so
both sides share one topic layout, one encoder and one checker. The full
contract, with examples, is in docs/telemetry.md.

Failure behaviour: ``encode`` does not validate (see its doc); nothing here
raises on a message. ``TelemetryError`` is defined here so that both sides
catch one class.
"""

from .compat import const

SCHEMA_VERSION = 1
TOPIC_ROOT = "platewise/v1/"
MAX_PAYLOAD_BYTES = 4096
MAX_CELL_ID_LEN = 32
MAX_SEQ = 9007199254740991  # 2**53 - 1: exact in a JSON double on every consumer
KINDS = ("telemetry", "cycle", "event", "status", "cmd", "twin")

# Field types, folded into the code (const): the names cost a board no
# interned strings. The host takes them as ``TYPES`` (shared/telemetry.py).
_F = const("float")  # int or float, finite
_I = const("int")  # int, not bool
_S = const("str")
_B = const("bool")
_D = const("dict")
TYPES = (_F, _I, _S, _B, _D)

# set_cmd_key: more than 10 characters, so its literal is not interned (docs/firmware.md, Heap).
COMMANDS = ("set_limits", "pulse", "clear_fault", "start", "stop", "set_cmd_key")

# The charger's states (firmware/charger.py runs them), as the telemetry
# ``state`` field carries them. Each name is its own text, so on a board the
# names cost no interned string beyond the texts themselves.
IDLE = "IDLE"
FORMATION = "FORMATION"
CHARGE_CC = "CHARGE_CC"
CHARGE_CV = "CHARGE_CV"
REST = "REST"
DISCHARGE = "DISCHARGE"
FAULT = "FAULT"
DONE = "DONE"
CHARGER_STATES = (IDLE, FORMATION, CHARGE_CC, CHARGE_CV, REST, DISCHARGE, FAULT, DONE)

# kind -> ((name, type, lo, hi, required), ...); for str fields lo/hi bound the
# length, or hi is a tuple of allowed values.
COMMON = (
    ("v", _I, SCHEMA_VERSION, SCHEMA_VERSION, True),
    ("cell", _S, 1, MAX_CELL_ID_LEN, True),
    ("seq", _I, 0, MAX_SEQ, True),
)

CMD = (
    ("cmd", _S, 1, COMMANDS, True),
    ("args", _D, 0, 16, True),
    ("ctr", _I, 0, MAX_SEQ, True),
    ("mac", _S, 64, 64, True),
)


class TelemetryError(ValueError):
    """A message that is not a valid v1 message; str(e) is the reason."""


def valid_cell_id(cell_id):
    if not isinstance(cell_id, str) or not 0 < len(cell_id) <= MAX_CELL_ID_LEN:
        return False
    for ch in cell_id:
        # ASCII letters and digits by code (str.isalnum would take any
        # Unicode letter on CPython but not on MicroPython), or - _ .
        o = ord(ch)
        if not (97 <= o <= 122 or 65 <= o <= 90 or 48 <= o <= 57 or ch in "-_."):
            return False
    return True


def topic(cell_id, kind):
    """The topic of ``kind`` messages for ``cell_id``."""
    return TOPIC_ROOT + cell_id + "/" + kind


def encode_text(kind, cell_id, seq, fields):
    """Encode one message as JSON text (str). ``fields`` is the kind's
    fields (a dict).

    The encoder does not validate (the board cannot afford it per sample);
    tests check that everything the firmware sends decodes. The board
    queues the text itself: on MicroPython ``memoryview(text)`` is its
    UTF-8 bytes, so the text is never copied into a bytes object (at a
    tight heap each such copy wants another block of 400 bytes in a row).
    """
    import json

    fields["v"] = SCHEMA_VERSION
    fields["cell"] = cell_id
    fields["seq"] = seq
    return json.dumps(fields)


def encode(kind, cell_id, seq, fields):
    """Encode one message as bytes (UTF-8 of ``encode_text``)."""
    return encode_text(kind, cell_id, seq, fields).encode()
