"""The commands' arguments and their bounds, as data; resolved at boot.

``COMMANDS`` gives, for each command on ``cmd``, how many arguments it
needs, whether its counter must be on flash before it applies, and each
argument's type, bounds and clamp side. Bounds are numbers or config keys
(the ``cmd_*`` rows of firmware/config.py); a config bound of 0 is derived
from the operating point (``DERIVED``), so by default a command can only
make operation gentler than configured, never harsher.

Boot-only: ``config.validate`` calls ``check`` (cross-field rules), and
``resolve(cfg)`` gives the numeric table that commands.CommandHandler is
built with; main.py then drops this module from memory.
"""

from shared.compat import const

# The config rows of these bounds live in firmware/config.py (the table, cmd_* rows).
# A bound of 0 means "derived" (DERIVED below): by default a command can only
# make operation gentler than the configured operating point, never harsher.

# bound key -> (config key a, config key b, rule) used when the bound is 0:
# "a" is cfg[a]; "min" is min(cfg[a], cfg[b]); a number f is
# cfg[a] + f * (cfg[b] - cfg[a]), a point inside the a..b voltage window.
DERIVED = {
    "cmd_charge_current_max_a": ("charge_current_a", None, "a"),
    "cmd_discharge_current_max_a": ("discharge_current_a", None, "a"),
    "cmd_pulse_max_a": ("charge_current_a", "discharge_current_a", "min"),
    "cmd_charge_voltage_max_v": ("charge_voltage_v", None, "a"),
    "cmd_charge_voltage_min_v": ("charge_voltage_v", "discharge_cutoff_v", 0.25),
    "cmd_discharge_cutoff_min_v": ("discharge_cutoff_v", None, "a"),
    "cmd_discharge_cutoff_max_v": ("discharge_cutoff_v", "charge_voltage_v", 0.25),
}

_MIN_CURRENT_A = const(1e-6)  # a zero current is not a limit; use stop

# cmd -> (min number of args, durable, ((arg, type, lo, hi, clamp side), ...))
# type "f" number, "i" integer, "x" hex text of exactly hi digits (lo = hi);
# lo/hi a number or a config key; clamp side
# "hi"/"lo" is clamped to its bound, the other side (or None) is rejected.
COMMANDS = {
    "set_limits": (
        1,
        True,
        (
            ("charge_current_a", "f", _MIN_CURRENT_A, "cmd_charge_current_max_a", "hi"),
            ("discharge_current_a", "f", _MIN_CURRENT_A, "cmd_discharge_current_max_a", "hi"),
            ("charge_voltage_v", "f", "cmd_charge_voltage_min_v", "cmd_charge_voltage_max_v", "hi"),
            ("discharge_cutoff_v", "f", "cmd_discharge_cutoff_min_v", "cmd_discharge_cutoff_max_v", "lo"),
        ),
    ),
    "pulse": (
        2,
        True,
        (
            ("amplitude_a", "f", _MIN_CURRENT_A, "cmd_pulse_max_a", None),
            ("duration_ms", "i", "cmd_pulse_min_ms", "cmd_pulse_max_ms", None),
        ),
    ),
    "clear_fault": (0, True, ()),
    "start": (0, True, ()),
    "stop": (0, False, ()),
    # Key rotation (host/deploy/keyring.py): the new command key and MQTT
    # password, each encrypted under the current key; applied by
    # shared/keyfile.take_rotation, durable like every command that persists.
    "set_cmd_key": (
        2,
        True,
        (
            ("cmd_key_hex", "x", 64, 64, None),
            ("mqtt_password", "x", 32, 32, None),
        ),
    ),
}


def bound(cfg, key):
    """The value of a bound: a number as is, or a config key (0: derived)."""
    if not isinstance(key, str):
        return key
    v = cfg.get(key, 0)  # a validated config always has it; 0 derives it
    if v == 0 and key in DERIVED:
        a, b, rule = DERIVED[key]
        if rule == "a":
            return float(cfg[a])
        if rule == "min":
            return float(min(cfg[a], cfg[b]))
        return cfg[a] + rule * (cfg[b] - cfg[a])
    return v


def check(cfg):
    """Cross-field rules of the cmd_* keys; return the reason (naming the field) or None."""

    def g(k):
        return bound(cfg, k)

    i_max = cfg["i_max_a"]
    for k in ("cmd_charge_current_max_a", "cmd_discharge_current_max_a", "cmd_pulse_max_a"):
        if g(k) > i_max:
            return k + ": above i_max_a"
    chain = ("cmd_discharge_cutoff_min_v", "cmd_discharge_cutoff_max_v", "cmd_charge_voltage_min_v", "cmd_charge_voltage_max_v")
    if not cfg["v_min_v"] < g(chain[0]):
        return chain[0] + ": must be above v_min_v"
    for i in range(3):
        if g(chain[i]) > g(chain[i + 1]) or (i == 1 and g(chain[i]) >= g(chain[i + 1])):
            return chain[i + 1] + ": must be above " + chain[i]
    if not g(chain[3]) < cfg["v_max_v"]:
        return chain[3] + ": must be below v_max_v"
    if g("cmd_pulse_min_ms") > g("cmd_pulse_max_ms"):
        return "cmd_pulse_max_ms: below cmd_pulse_min_ms"
    return None


def resolve(cfg):
    """cmd -> (min_args, durable, ((arg, type, lo, hi, clamp side), ...)) with numeric bounds."""
    spec = {}
    for name in COMMANDS:
        n, durable, rows = COMMANDS[name]
        res = []
        for arg, typ, lo, hi, side in rows:
            res.append((arg, typ, bound(cfg, lo), bound(cfg, hi), side))
        spec[name] = (n, durable, tuple(res))
    return spec
