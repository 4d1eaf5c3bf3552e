"""Telemetry contract v1: topics, message schema, one encoder and one decoder.

Both sides use this module: the firmware encodes what it publishes (and
decodes commands), the host decodes and validates every message. The full
contract, with examples, is in docs/telemetry.md.

Topics: ``platewise/v1/<cell_id>/<kind>`` where kind is one of
``telemetry`` (samples), ``cycle`` (per-cycle summary), ``event`` (state
changes, throttles, faults), ``status`` (retained; birth message and last
will), ``cmd`` (host -> board) and ``twin`` (the twin's own output).

Every payload is a UTF-8 JSON object carrying ``v`` (schema version, 1),
``cell`` (the cell id, equal to the topic's) and ``seq`` (the sender's
monotonically increasing sequence number), plus the fields of its kind.

Failure behaviour: ``decode`` raises ``TelemetryError`` with a one-line
reason for anything that is not a valid v1 message (bad topic, not JSON,
wrong version, missing/unknown field, wrong type, out of range, NaN).
It never returns a partly checked message. Callers log the reason and
drop the message; nothing else is lost.
"""

from shared.compat import is_finite

SCHEMA_VERSION = 1
TOPIC_ROOT = "platewise/v1/"
MAX_PAYLOAD_BYTES = 4096
MAX_CELL_ID_LEN = 32
MAX_SEQ = 9007199254740991  # 2**53 - 1: exact in a JSON double on every consumer

# Field types.
F = "float"  # int or float, finite
I = "int"  # int, not bool
S = "str"
B = "bool"
D = "dict"

CHARGER_STATES = (
    "IDLE",
    "FORMATION",
    "CHARGE_CC",
    "CHARGE_CV",
    "REST",
    "DISCHARGE",
    "FAULT",
    "DONE",
)
EVENT_KINDS = ("boot", "state", "throttle", "fault", "fault_clear", "cmd_ok", "cmd_reject", "info", "alarm", "prediction")
STATUS_STATES = ("online", "offline")
COMMANDS = ("set_limits", "pulse", "clear_fault", "start", "stop")

# kind -> ((name, type, lo, hi, required), ...); for S fields lo/hi bound the
# length, or hi is a tuple of allowed values.
_COMMON = (
    ("v", I, SCHEMA_VERSION, SCHEMA_VERSION, True),
    ("cell", S, 1, MAX_CELL_ID_LEN, True),
    ("seq", I, 0, MAX_SEQ, True),
)

SCHEMA = {
    "telemetry": (
        ("t_s", F, 0.0, 1e11, True),  # board clock, seconds since its epoch
        ("voltage_v", F, -1.0, 10.0, True),
        ("current_a", F, -1000.0, 1000.0, True),  # + charging (plating), - discharging
        ("temperature_c", F, -60.0, 200.0, True),
        ("pressure_mpa", F, -1.0, 500.0, True),
        ("cycle", I, 0, 10000000, True),
        ("cycle_charge_ah", F, 0.0, 1e6, True),
        ("cycle_discharge_ah", F, 0.0, 1e6, True),
        ("total_charge_ah", F, 0.0, 1e9, True),
        ("total_discharge_ah", F, 0.0, 1e9, True),
        ("r_ohm", F, 0.0, 100.0, True),  # online impedance estimate; 0 = none yet
        ("state", S, 1, CHARGER_STATES, True),
        ("i_limit_a", F, 0.0, 1000.0, False),
    ),
    "cycle": (
        ("t_s", F, 0.0, 1e11, True),
        ("cycle", I, 0, 10000000, True),
        ("charge_ah", F, 0.0, 1e6, True),
        ("discharge_ah", F, 0.0, 1e6, True),
        ("ce", F, 0.0, 2.0, True),
        ("charge_wh", F, 0.0, 1e7, True),
        ("discharge_wh", F, 0.0, 1e7, True),
        ("t_min_c", F, -60.0, 200.0, True),
        ("t_max_c", F, -60.0, 200.0, True),
        ("p_min_mpa", F, -1.0, 500.0, True),
        ("p_max_mpa", F, -1.0, 500.0, True),
        ("r_ohm", F, 0.0, 100.0, True),
        ("formation", B, 0, 1, False),
    ),
    "event": (
        ("t_s", F, 0.0, 1e11, True),
        ("event", S, 1, EVENT_KINDS, True),
        ("code", S, 1, 48, True),
        ("msg", S, 0, 400, True),
        ("value", F, -1e12, 1e12, False),
        ("limit", F, -1e12, 1e12, False),
    ),
    "status": (
        ("state", S, 1, STATUS_STATES, True),
        ("fw", S, 1, 32, False),
        ("boot", I, 0, 10000000, False),
        ("t_s", F, 0.0, 1e11, False),
    ),
    "cmd": (
        ("cmd", S, 1, COMMANDS, True),
        ("args", D, 0, 16, True),
        ("ctr", I, 0, MAX_SEQ, True),
        ("mac", S, 64, 64, True),
    ),
    "twin": (
        ("t_s", F, 0.0, 1e11, True),
        ("cycle", I, 0, 10000000, True),
        ("inventory_ah", F, 0.0, 1e6, True),
        ("inventory_std_ah", F, 0.0, 1e6, True),
        ("eol_cycle_pred", F, 0.0, 1e9, False),
        ("eol_cycle_lo", F, 0.0, 1e9, False),  # 90 % interval of the EOL cycle
        ("eol_cycle_hi", F, 0.0, 1e9, False),
        ("loss_ah_per_cycle", F, -1e3, 1e6, False),
        ("sei_ah", F, -1e3, 1e6, False),  # loss split (CELL_FACTS sec. 2), with
        ("dead_ah", F, -1e3, 1e6, False),  # its std in the twin's store and API
        ("r25_ohm", F, 0.0, 100.0, False),  # resistance compensated to 25 C
        ("r_eol_cycle_pred", F, 0.0, 1e9, False),
        ("short_risk", F, 0.0, 1.0, False),
        ("alarms", S, 0, 400, False),  # active alarms, comma-separated codes
        ("changes", S, 0, 400, False),  # what changed at this cycle: "SOFT_SHORT raise critical", ...
    ),
}

KINDS = tuple(SCHEMA)


class TelemetryError(ValueError):
    """A message that is not a valid v1 message; str(e) is the reason."""


def valid_cell_id(cell_id):
    if not isinstance(cell_id, str) or not 0 < len(cell_id) <= MAX_CELL_ID_LEN:
        return False
    for ch in cell_id:
        if not (("a" <= ch <= "z") or ("A" <= ch <= "Z") or ("0" <= ch <= "9") or ch in "-_."):
            return False
    return True


def topic(cell_id, kind):
    """The topic of ``kind`` messages for ``cell_id``."""
    return TOPIC_ROOT + cell_id + "/" + kind


def subscription(kind="+", cell_id="+"):
    """A topic filter, e.g. every cell's telemetry: subscription("telemetry")."""
    return TOPIC_ROOT + cell_id + "/" + kind


def parse_topic(t):
    """Return (cell_id, kind) of a v1 topic, or raise TelemetryError."""
    if isinstance(t, (bytes, bytearray)):
        try:
            t = t.decode()
        except Exception:
            raise TelemetryError("topic is not UTF-8")
    if not t.startswith(TOPIC_ROOT):
        raise TelemetryError("topic not under " + TOPIC_ROOT + ": " + t[:80])
    rest = t[len(TOPIC_ROOT) :].split("/")
    if len(rest) != 2:
        raise TelemetryError("topic must be platewise/v1/<cell_id>/<kind>: " + t[:80])
    cell_id, kind = rest
    if not valid_cell_id(cell_id):
        raise TelemetryError("bad cell id in topic: " + cell_id[:40])
    if kind not in SCHEMA:
        raise TelemetryError("unknown message kind: " + kind[:40])
    return cell_id, kind


def _check_field(name, typ, lo, hi, value):
    """Return None if value fits, else the reason."""
    if typ == F:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return name + ": expected a number"
        if not is_finite(value):
            return name + ": not finite"
        if value < lo or value > hi:
            return name + ": " + str(value) + " outside [" + str(lo) + ", " + str(hi) + "]"
    elif typ == I:
        if isinstance(value, bool) or not isinstance(value, int):
            return name + ": expected an integer"
        if value < lo or value > hi:
            return name + ": " + str(value) + " outside [" + str(lo) + ", " + str(hi) + "]"
    elif typ == S:
        if not isinstance(value, str):
            return name + ": expected a string"
        if isinstance(hi, tuple):
            if value not in hi:
                return name + ": " + value[:40] + " not one of " + ",".join(hi)
        elif not lo <= len(value) <= hi:
            return name + ": length " + str(len(value)) + " outside [" + str(lo) + ", " + str(hi) + "]"
    elif typ == B:
        if not isinstance(value, bool):
            return name + ": expected true/false"
    elif typ == D:
        if not isinstance(value, dict):
            return name + ": expected an object"
        if len(value) > hi:
            return name + ": more than " + str(hi) + " entries"
    return None


def validate(kind, msg):
    """Check a decoded message against the v1 schema of ``kind``; raise TelemetryError."""
    if not isinstance(msg, dict):
        raise TelemetryError("payload is not a JSON object")
    spec = SCHEMA.get(kind)
    if spec is None:
        raise TelemetryError("unknown message kind: " + str(kind)[:40])
    if "v" in msg and msg["v"] != SCHEMA_VERSION:
        raise TelemetryError("schema version " + str(msg["v"])[:20] + " is not " + str(SCHEMA_VERSION))
    seen = 0
    for group in (_COMMON, spec):
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
        known = [f[0] for f in _COMMON] + [f[0] for f in spec]
        for k in msg:
            if k not in known:
                raise TelemetryError("unknown field " + str(k)[:40])
    if not valid_cell_id(msg["cell"]):
        raise TelemetryError("bad cell id: " + msg["cell"][:40])


def encode(kind, cell_id, seq, fields):
    """Encode one message as bytes. ``fields`` is the kind's fields (a dict).

    The encoder does not validate (the board cannot afford it per sample);
    tests check that everything the firmware sends decodes.
    """
    import json

    fields["v"] = SCHEMA_VERSION
    fields["cell"] = cell_id
    fields["seq"] = seq
    return json.dumps(fields).encode()


def decode(t, payload):
    """Decode and validate one message: return (cell_id, kind, msg).

    Raises TelemetryError with the reason for anything invalid.
    """
    import json

    cell_id, kind = parse_topic(t)
    if payload is None:
        raise TelemetryError("empty payload")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise TelemetryError("payload of " + str(len(payload)) + " bytes exceeds " + str(MAX_PAYLOAD_BYTES))
    if isinstance(payload, (bytes, bytearray)):
        try:
            payload = bytes(payload).decode()
        except Exception:
            raise TelemetryError("payload is not UTF-8")
    try:
        msg = json.loads(payload)
    except Exception:
        raise TelemetryError("payload is not JSON")
    validate(kind, msg)
    if msg["cell"] != cell_id:
        raise TelemetryError("cell " + msg["cell"][:40] + " does not match topic cell " + cell_id)
    return cell_id, kind, msg


def _self_check():
    m = {"state": "online", "fw": "0.1.0", "boot": 1}
    raw = encode("status", "cell-1", 7, m)
    cell, kind, back = decode(topic("cell-1", "status"), raw)
    assert cell == "cell-1" and kind == "status" and back["seq"] == 7
    for bad in (b"{", b'{"v":2,"cell":"cell-1","seq":1,"state":"online"}', b'{"v":1,"cell":"cell-1","seq":1,"state":"gone"}'):
        try:
            decode(topic("cell-1", "status"), bad)
        except TelemetryError:
            pass
        else:
            raise AssertionError("accepted " + str(bad))
    assert parse_topic("platewise/v1/c9/cycle") == ("c9", "cycle")
    return True
