"""Telemetry contract v1: topics, message schema, one encoder and one decoder.

The host uses this module to decode and validate every message. Topics,
the encoder, the charger's state names and the ``cmd`` schema live in
``shared/wire.py``, which the firmware keeps in memory, and the checker and decoder in
``shared/wirecheck.py``, which it loads only with its command code; this
module re-exports them and adds the schema of every kind.
The full contract, with examples, is in docs/telemetry.md.

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

from .wire import (  # noqa: F401 (re-exported: the host's one import)
    CHARGER_STATES,
    CMD,
    COMMANDS,
    COMMON,
    KINDS,
    MAX_CELL_ID_LEN,
    MAX_PAYLOAD_BYTES,
    MAX_SEQ,
    SCHEMA_VERSION,
    TOPIC_ROOT,
    TYPES,
    TelemetryError,
    encode,
    topic,
    valid_cell_id,
)
from .wirecheck import parse_topic  # noqa: F401 (re-exported)
from . import wirecheck

F, I, S, B, D = TYPES  # the field types of shared/wire.py


def subscription(kind="+", cell_id="+"):
    """A topic filter, e.g. every cell's telemetry: subscription("telemetry").
    Host only (a board subscribes to its own cmd topic, wire.topic), so it
    costs a board no interned name."""
    return TOPIC_ROOT + cell_id + "/" + kind

EVENT_KINDS = ("boot", "state", "throttle", "fault", "fault_clear", "cmd_ok", "cmd_reject", "info", "alarm", "prediction")
STATUS_STATES = ("online", "offline")

# kind -> ((name, type, lo, hi, required), ...) after the COMMON fields; for
# S fields lo/hi bound the length, or hi is a tuple of allowed values.
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
        # A partial cycle's counted charge can be a sliver of the real one,
        # so its ratio can be far above any physical CE.
        ("ce", F, 0.0, 1e6, True),
        ("charge_wh", F, 0.0, 1e7, True),
        ("discharge_wh", F, 0.0, 1e7, True),
        ("t_min_c", F, -60.0, 200.0, True),
        ("t_max_c", F, -60.0, 200.0, True),
        ("p_min_mpa", F, -1.0, 500.0, True),
        ("p_max_mpa", F, -1.0, 500.0, True),
        ("r_ohm", F, 0.0, 100.0, True),
        ("formation", B, 0, 1, False),
        # The board booted into this cycle: its counters missed the start, so
        # charge_ah and ce measure nothing (firmware/measure.py, CycleCounter).
        ("partial", B, 0, 1, False),
    ),
    "event": (
        ("t_s", F, 0.0, 1e11, True),
        ("event", S, 1, EVENT_KINDS, True),
        ("code", S, 1, 48, True),
        ("msg", S, 0, 400, True),
        # The figure behind the event: a reading, a seq (boot), a command's
        # counter (cmd_ok / cmd_reject): any number a seq or ctr can be.
        ("value", F, -MAX_SEQ, MAX_SEQ, False),
        ("limit", F, -MAX_SEQ, MAX_SEQ, False),
    ),
    "status": (
        ("state", S, 1, STATUS_STATES, True),
        ("fw", S, 1, 32, False),
        ("boot", I, 0, 10000000, False),
        ("t_s", F, 0.0, 1e11, False),
    ),
    "cmd": CMD,
    "twin": (
        ("t_s", F, 0.0, 1e11, True),
        ("cycle", I, 0, 10000000, True),
        ("inventory_ah", F, 0.0, 1e6, True),
        ("inventory_std_ah", F, 0.0, 1e6, True),
        ("eol_cycle_pred", F, 0.0, 1e9, False),
        ("eol_cycle_lo", F, 0.0, 1e9, False),  # 90 % interval of the EOL cycle
        ("eol_cycle_hi", F, 0.0, 1e9, False),
        ("loss_ah_per_cycle", F, -1e3, 1e6, False),
        ("sei_ah", F, -1e3, 1e6, False),  # loss split (cell-physics sec. 2), with
        ("dead_ah", F, -1e3, 1e6, False),  # its std in the twin's store and API
        ("r25_ohm", F, 0.0, 100.0, False),  # resistance compensated to 25 C
        ("r_eol_cycle_pred", F, 0.0, 1e9, False),
        ("short_risk", F, 0.0, 1.0, False),
        ("alarms", S, 0, 400, False),  # active alarms, comma-separated codes
        ("changes", S, 0, 400, False),  # what changed at this cycle: "SOFT_SHORT raise critical", ...
    ),
}


if len(SCHEMA) != len(KINDS) or [k for k in KINDS if k not in SCHEMA]:  # one list of kinds: the topic parser's
    raise ImportError("shared.telemetry: SCHEMA kinds differ from shared.wire.KINDS")


def validate(kind, msg):
    """Check a decoded message against the v1 schema of ``kind``; raise TelemetryError."""
    wirecheck.validate(kind, msg, SCHEMA)


def decode(t, payload):
    """Decode and validate one message: return (cell_id, kind, msg).

    Raises TelemetryError with the reason for anything invalid.
    """
    return wirecheck.decode(t, payload, SCHEMA)
