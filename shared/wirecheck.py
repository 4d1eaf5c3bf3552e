"""Telemetry contract v1: the checker and the decoder (topics, fields,
whole messages), for the schemas of ``shared/wire.py`` (``cmd``) and
``shared/telemetry.py`` (every kind).

A board loads this module only to decode a batch of commands
(firmware/commands.py, loaded on demand by firmware/app.py) and drops it
afterwards; the host uses it through shared/telemetry.py.

Failure behaviour: ``decode`` raises ``TelemetryError`` (shared/wire.py)
with a one-line reason for anything that is not a valid v1 message of a
kind in the schema it is given (bad topic, too large, not UTF-8, not JSON,
wrong version, missing/unknown field, wrong type, out of range, NaN, cell
not the topic's). It never returns a partly checked message. A
MemoryError while decoding propagates as it is: it says nothing about the
message, and the caller may try again.
"""

from .compat import const, is_finite
from .wire import COMMON, KINDS, MAX_PAYLOAD_BYTES, SCHEMA_VERSION, TOPIC_ROOT, TelemetryError, valid_cell_id

# The field types of shared/wire.py (const there too: no interned names).
_F = const("float")
_I = const("int")
_S = const("str")
_B = const("bool")
_D = const("dict")


def parse_topic(t):
    """Return (cell_id, kind) of a v1 topic, or raise TelemetryError."""
    if isinstance(t, (bytes, bytearray)):
        try:
            t = t.decode()
        except MemoryError:
            raise  # no verdict on the topic (see the module's doc)
        except Exception:
            raise TelemetryError("topic is not UTF-8")
    if not t.startswith(TOPIC_ROOT):
        raise TelemetryError("topic not under %s: %s" % (TOPIC_ROOT, t[:80]))
    rest = t[len(TOPIC_ROOT) :].split("/")
    if len(rest) != 2:
        raise TelemetryError("topic must be platewise/v1/<cell_id>/<kind>: " + t[:80])
    cell_id, kind = rest
    if not valid_cell_id(cell_id):
        raise TelemetryError("bad cell id in topic: " + cell_id[:40])
    if kind not in KINDS:
        raise TelemetryError("unknown message kind: " + kind[:40])
    return cell_id, kind


def _check_field(name, typ, lo, hi, value):
    """Return None if value fits, else the reason."""
    if typ == _F:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return name + ": expected a number"
        if not is_finite(value):
            return name + ": not finite"
        if value < lo or value > hi:
            return "%s: %s outside [%s, %s]" % (name, value, lo, hi)
    elif typ == _I:
        if isinstance(value, bool) or not isinstance(value, int):
            return name + ": expected an integer"
        if value < lo or value > hi:
            return "%s: %s outside [%s, %s]" % (name, value, lo, hi)
    elif typ == _S:
        if not isinstance(value, str):
            return name + ": expected a string"
        if isinstance(hi, tuple):
            if value not in hi:
                return "%s: %s not one of %s" % (name, value[:40], ",".join(hi))
        elif not lo <= len(value) <= hi:
            return "%s: length %d outside [%s, %s]" % (name, len(value), lo, hi)
    elif typ == _B:
        if not isinstance(value, bool):
            return name + ": expected true/false"
    elif typ == _D:
        if not isinstance(value, dict):
            return name + ": expected an object"
        if len(value) > hi:
            return "%s: more than %d entries" % (name, hi)
    return None


def validate(kind, msg, schema):
    """Check a decoded message against ``schema[kind]``; raise TelemetryError."""
    if not isinstance(msg, dict):
        raise TelemetryError("payload is not a JSON object")
    spec = schema.get(kind)
    if spec is None:
        raise TelemetryError("unknown message kind: " + str(kind)[:40])
    if "v" in msg and msg["v"] != SCHEMA_VERSION:
        raise TelemetryError("schema version %s is not %d" % (str(msg["v"])[:20], SCHEMA_VERSION))
    seen = 0
    for group in (COMMON, spec):
        for name, typ, lo, hi, required in group:
            if name not in msg:
                if required:
                    raise TelemetryError("missing field " + name)
                continue
            seen += 1
            reason = _check_field(name, typ, lo, hi, msg[name])
            if reason is not None:
                raise TelemetryError(reason)
    if seen != len(msg):
        known = [f[0] for f in COMMON] + [f[0] for f in spec]
        for k in msg:
            if k not in known:
                raise TelemetryError("unknown field " + str(k)[:40])
    if not valid_cell_id(msg["cell"]):
        raise TelemetryError("bad cell id: " + msg["cell"][:40])


def decode(t, payload, schema):
    """Decode and validate one message of a kind in ``schema``: return
    (cell_id, kind, msg). Raises TelemetryError with the reason."""
    import json

    cell_id, kind = parse_topic(t)
    if payload is None:
        raise TelemetryError("empty payload")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise TelemetryError("payload of " + str(len(payload)) + " bytes exceeds " + str(MAX_PAYLOAD_BYTES))
    if isinstance(payload, (bytes, bytearray)):
        try:
            payload = bytes(payload).decode()
        except MemoryError:
            raise  # no verdict on the message (see the module's doc)
        except Exception:
            raise TelemetryError("payload is not UTF-8")
    try:
        msg = json.loads(payload)
    except MemoryError:
        raise
    except Exception:
        raise TelemetryError("payload is not JSON")
    validate(kind, msg, schema)
    if msg["cell"] != cell_id:
        raise TelemetryError("cell %s does not match topic cell %s" % (msg["cell"][:40], cell_id))
    return cell_id, kind, msg
