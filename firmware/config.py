"""Firmware configuration: documented defaults plus a JSON file on flash.

``load(path)`` reads the file, merges it over DEFAULTS and validates every
field. Failure behaviour: a missing file gives the defaults (the board still
boots safe, contactor open until a valid charge config exists is NOT assumed:
defaults are a complete, conservative config); a file that is not JSON, an
unknown key, a wrong type or a value out of its range raises ConfigError
naming the field, and main.py then stays in the safe state (contactor open,
setpoint 0) and reports the error instead of running.
"""

# The command key's reader is shared with the host's `platewise cmd`: one
# parser of the secrets file for both sides (re-exported for boot.py).
from shared.keyfile import load_key  # noqa: F401


# The fields, one row each: "name type lo hi default", the default in JSON
# and each row's meaning in its comment. Types: "f" number, "i" int, "s" str
# (lo/hi bound its length), "t" table: [[x, factor], ...] with x strictly
# increasing and factor in [lo, hi].
#
# Why one string and not a dict of tuples: the board reads this table at
# every boot, and one string (the literals below are joined at compile
# time) loads in about half the heap of a dict of tuples, whose keys and
# boxed numbers each cost a block (docs/firmware.md, Heap figures);
# validation walks the rows without building them into a table (_rows).
# spec() gives the dict, for tests and the host.
_TABLE = (
    'cell_id s 1 32 "cell-1"\n'  # cell id used in MQTT topics
    "control_period_ms i 10 60000 1000\n"  # control tick period
    "telemetry_period_ms i 100 3600000 10000\n"  # sample publishing period
    # Charging (cell-physics sec. 3: the plating current density is what matters;
    # the host converts mA/cm2 to A with the cell area when it writes this file).
    'mode s 1 16 "cccv"\n'  # charging mode: cccv (plain, for A/B) or adaptive
    # Adaptive mode: formation (cell-physics sec. 3: the best formation current
    # density depends on the electrolyte; the host sets it from the preset).
    "formation_cycles i 0 100 2\n"  # adaptive: cycles charged and discharged at the formation current
    "formation_current_a f 0.0 100.0 0.005\n"  # adaptive: formation plating current
    "formation_pulse_on_s i 0 3600 0\n"  # adaptive: pulsed formation, seconds on (0: continuous)
    "formation_pulse_off_s i 0 3600 0\n"  # adaptive: pulsed formation, seconds off
    "pulse_period_s i 0 3600 15\n"  # adaptive: a one-tick rest interruption this often during CC charge, for R (0: off)
    "pulse_settle_s i 0 86400 300\n"  # no impedance samples in the first seconds of a charge (nucleation, relaxation)
    "pulse_v_margin_v f 0.0 2.0 0.15\n"  # no impedance samples this close to the CV voltage (OCV slope)
    "impedance_forgetting f 0.5 1.0 0.92\n"  # RLS forgetting factor per sample (memory ~ 1/(1-x) samples)
    "impedance_ea_kj_mol f 0.0 200.0 20.0\n"  # Arrhenius activation energy for temperature compensation
    "t_ref_c f -40.0 100.0 25.0\n"  # reference temperature of the compensated resistance
    "drift_max_std f 0.001 1.0 0.05\n"  # act on the drift ratio only when its std is below this
    # Derating tables (cell-physics sec. 4-7): factor of the nominal plating current.
    "derate_drift t 0.0 1.0 [[1.1,1.0],[1.5,0.5],[2.0,0.25]]\n"  # factor vs resistance drift ratio
    "derate_cold_c t 0.0 1.0 [[0.0,0.25],[10.0,0.5],[15.0,1.0]]\n"  # factor vs temperature (cold, sec. 5)
    "derate_hot_c t 0.0 1.0 [[45.0,1.0],[55.0,0.25]]\n"  # factor vs temperature (hot)
    "derate_p_low_mpa t 0.0 1.0 [[0.0,0.25],[0.5,1.0]]\n"  # factor vs stack pressure below the window (sec. 4)
    "derate_p_high_mpa t 0.0 1.0 [[3.0,1.0],[4.5,0.25]]\n"  # factor vs stack pressure above the window (sec. 4)
    "meas_filter_tau_s f 0.0 3600.0 10.0\n"  # low-pass time constant of the temperature and pressure the limiter derates on (0: none; safety uses raw readings)
    "limit_hysteresis f 0.0 0.5 0.05\n"  # new limit target only beyond this fraction of nominal
    "limit_slew_per_s f 1e-05 10.0 0.005\n"  # limit rises at most this fraction of nominal per second
    "charge_current_a f 0.0 100.0 0.01\n"  # CC charge (plating) current
    "charge_voltage_v f 1.0 5.0 3.65\n"  # CV voltage
    "cv_cutoff_a f 0.0 100.0 0.001\n"  # CV ends when current falls below this
    "discharge_current_a f 0.0 100.0 0.02\n"  # CC discharge current (board-controlled load)
    "r_nominal_ohm f 0.0001 1000.0 1.0\n"  # series resistance to assume until the online estimate has a value (datasheet)
    "discharge_cutoff_v f 0.0 5.0 2.5\n"  # discharge ends at this voltage
    "rest_s i 0 86400 600\n"  # rest after charge and after discharge
    "startup_rest_s i 0 86400 30\n"  # rest at start, contactor open, to zero the current channel
    "max_cycles i 0 10000000 0\n"  # stop after this many cycles (0: never)
    "max_run_s i 0 2000000000 0\n"  # stop after this much board time, in any state (0: never)
    # Safety limits (checked every tick before the charger acts).
    "v_max_v f 0.0 6.0 3.8\n"  # over-voltage fault
    "v_min_v f -1.0 5.0 2.0\n"  # under-voltage fault
    "i_max_a f 0.0 1000.0 0.1\n"  # over-current fault (either direction)
    "t_max_c f -40.0 150.0 60.0\n"  # over-temperature fault
    "t_min_c f -60.0 100.0 -10.0\n"  # under-temperature fault
    "t_warn_c f -40.0 150.0 55.0\n"  # temperature warning: charge derated, not latched (at or above t_max_c: never first)
    "warn_charge_factor f 0.0 1.0 0.5\n"  # charge current factor while a safety warning is raised (0: hold)
    "p_max_mpa f 0.0 500.0 5.0\n"  # stack pressure above window
    "p_min_mpa f -1.0 500.0 0.0\n"  # stack pressure below window
    "p_rate_max_mpa_s f 0.0001 100.0 0.02\n"  # stack pressure changing faster than this is a fault
    "p_rate_window_s i 1 3600 10\n"  # window of the pressure-rate check
    "rest_settle_s i 0 86400 300\n"  # relaxation ignored at the start of a rest
    "rest_window_s i 10 86400 600\n"  # rest voltage compared window to window
    "rest_decay_max_v_h f 0.0001 100.0 0.02\n"  # rest voltage falling faster than this is a soft short
    "ce_max f 0.9 2.0 1.002\n"  # CE above this is impossible without a fault
    "ce_drop_max f 0.0001 1.0 0.02\n"  # CE falling more than this between regular cycles is a fault
    "stuck_ticks i 10 1000000 300\n"  # voltage identical for this many ticks under current: stuck sensor
    # MQTT (secrets such as user/password come from a separate file, later).
    'mqtt_host s 1 64 "127.0.0.1"\n'  # broker host
    "mqtt_port i 1 65535 1883\n"  # broker port
    "mqtt_tls i 0 1 0\n"  # 1: TLS to the broker, verifying its certificate against mqtt_ca_path
    'mqtt_ca_path s 0 200 ""\n'  # CA certificate (DER) that signed the broker's certificate
    'mqtt_server_hostname s 0 64 ""\n'  # name checked in the broker's certificate (default: mqtt_host)
    "mqtt_keepalive_s i 5 3600 30\n"  # MQTT keepalive
    "flush_timeout_s i 0 3600 60\n"  # at the end of a run, wait this long for the outbox to drain
    "mqtt_backoff_max_ms i 250 600000 16000\n"  # longest wait between reconnect attempts
    "outbox_size i 4 100000 8\n"  # messages held in RAM (then the flash spill) while the broker is unreachable; about 400 bytes of heap each
    # Past RAM, the outbox spills to flash (firmware/spill.py): 30 minutes of
    # samples at the default 10 s rate are 180 messages of ~330 bytes, about
    # 60 KB; 256 KB holds over 2 hours, and events and cycle summaries get
    # 32 KB more. "" disables the spill (RAM only, oldest samples dropped).
    'spill_path s 0 64 "outbox.spill"\n'  # flash file for messages past the RAM outbox
    "spill_max_bytes i 0 100000000 262144\n"  # spill capacity for all messages
    "spill_reserve_bytes i 0 100000000 32768\n"  # extra spill room for events and cycle summaries only
    # Persistence (firmware/persist.py).
    'persist_dir s 0 200 ""\n'  # directory of the state files; empty: the current one (/ on a board, the temp dir in HIL)
    "persist_min_interval_ms i 1000 3600000 60000\n"  # least time between routine state writes (flash wear)
    "seq_block i 16 1000000 1024\n"  # sequence numbers reserved per state write
    # Authenticated commands (firmware/commands.py). A bound of 0 is derived
    # from the operating point: by default commands can only make operation gentler.
    'secrets_path s 1 200 "secrets.json"\n'  # JSON file: cmd_key_hex (per-board HMAC key), optional mqtt_user, mqtt_password
    "cmd_charge_current_max_a f 0.0 100.0 0.0\n"  # set_limits: charge_current_a is clamped to this (0: charge_current_a)
    "cmd_discharge_current_max_a f 0.0 100.0 0.0\n"  # set_limits: discharge_current_a is clamped to this (0: discharge_current_a)
    "cmd_charge_voltage_min_v f 0.0 5.0 0.0\n"  # set_limits: charge_voltage_v below this is rejected (0: top quarter of the window)
    "cmd_charge_voltage_max_v f 0.0 5.0 0.0\n"  # set_limits: charge_voltage_v is clamped to this (0: charge_voltage_v)
    "cmd_discharge_cutoff_min_v f 0.0 5.0 0.0\n"  # set_limits: discharge_cutoff_v is clamped up to this (0: discharge_cutoff_v)
    "cmd_discharge_cutoff_max_v f 0.0 5.0 0.0\n"  # set_limits: discharge_cutoff_v above this is rejected (0: bottom quarter of the window)
    "cmd_pulse_max_a f 0.0 100.0 0.0\n"  # pulse: largest amplitude_a (0: the smaller of charge and discharge current)
    "cmd_pulse_min_ms i 1 600000 100\n"  # pulse: shortest duration_ms
    "cmd_pulse_max_ms i 1 600000 10000\n"  # pulse: longest duration_ms
)


class ConfigError(ValueError):
    """Bad configuration; str(e) names the field."""


def _check_table(k, v, lo, hi):
    if not isinstance(v, list) or len(v) < 2:
        raise ConfigError(k + ": expected a table [[x, factor], ...] of at least 2 rows")
    last = None
    for row in v:
        if not isinstance(row, list) or len(row) != 2:
            raise ConfigError(k + ": each row must be [x, factor]")
        for n in row:
            if isinstance(n, bool) or not isinstance(n, (int, float)) or n != n:
                raise ConfigError(k + ": rows must hold numbers")
        x, factor = row
        if last is not None and x <= last:
            raise ConfigError(k + ": x must increase strictly")
        if not lo <= factor <= hi:
            raise ConfigError("%s: factor %s outside [%s, %s]" % (k, factor, lo, hi))
        last = x


def _rows():
    """Each row of the table as [name, type, lo, hi, default JSON] (strings)."""
    t = _TABLE
    j = 0
    while j < len(t):
        i = t.find("\n", j)
        yield t[j:i].split(" ", 4)
        j = i + 1


def _bound(typ, x):
    return float(x) if typ == "f" or typ == "t" else int(x)


def _known(k):
    """True if ``k`` names a row (a line of the table starts with it)."""
    t = _TABLE
    i = t.find(k + " ")
    while i >= 0:
        if i == 0 or t[i - 1] == "\n":
            return True
        i = t.find(k + " ", i + 1)
    return False


def spec():
    """name -> (default, type, lo, hi): the table as a dict (tests, host)."""
    import json

    return {k: (json.loads(default), typ, _bound(typ, lo), _bound(typ, hi)) for k, typ, lo, hi, default in _rows()}


def defaults():
    import json

    cfg = {}
    for k, _typ, _lo, _hi, default in _rows():
        cfg[k] = json.loads(default)
    return cfg


def validate(cfg):
    """Check every field of a full config dict; raise ConfigError naming the field."""
    for k in cfg:
        if not isinstance(k, str) or not _known(k):
            raise ConfigError("unknown config field: " + str(k))
    for k, typ, lo, hi, _default in _rows():
        if k not in cfg:
            raise ConfigError("missing config field: " + k)
        lo = _bound(typ, lo)
        hi = _bound(typ, hi)
        v = cfg[k]
        if typ == "f":
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
                raise ConfigError(k + ": expected a number")
            if not lo <= v <= hi:
                raise ConfigError("%s: %s outside [%s, %s]" % (k, v, lo, hi))
            cfg[k] = float(v)
        elif typ == "i":
            if isinstance(v, bool) or not isinstance(v, int):
                raise ConfigError(k + ": expected an integer")
            if not lo <= v <= hi:
                raise ConfigError("%s: %s outside [%s, %s]" % (k, v, lo, hi))
        elif typ == "s":
            if not isinstance(v, str) or not lo <= len(v) <= hi:
                raise ConfigError("%s: expected a string of %d..%d characters" % (k, lo, hi))
        elif typ == "t":
            _check_table(k, v, lo, hi)
    # Cross-field rules: limits must enclose the operating points.
    if cfg["mode"] not in ("cccv", "adaptive"):
        raise ConfigError("mode: %s is not one of cccv, adaptive" % cfg["mode"])
    if cfg["mqtt_tls"] and not cfg["mqtt_ca_path"]:
        raise ConfigError("mqtt_ca_path: TLS needs the CA certificate (DER) to verify the broker")
    if cfg["formation_current_a"] > cfg["i_max_a"]:
        raise ConfigError("formation_current_a: above i_max_a")
    if not cfg["v_min_v"] < cfg["discharge_cutoff_v"] < cfg["charge_voltage_v"] < cfg["v_max_v"]:
        raise ConfigError("charge_voltage_v/discharge_cutoff_v: need v_min_v < discharge_cutoff_v < charge_voltage_v < v_max_v")
    if cfg["charge_current_a"] > cfg["i_max_a"] or cfg["discharge_current_a"] > cfg["i_max_a"]:
        raise ConfigError("i_max_a: below the configured charge or discharge current")
    if cfg["t_min_c"] >= cfg["t_max_c"]:
        raise ConfigError("t_min_c: must be below t_max_c")
    if cfg["p_min_mpa"] >= cfg["p_max_mpa"]:
        raise ConfigError("p_min_mpa: must be below p_max_mpa")
    from firmware.cmdlimits import check

    reason = check(cfg)
    if reason is not None:
        raise ConfigError(reason)
    from shared.wire import valid_cell_id

    if not valid_cell_id(cfg["cell_id"]):
        raise ConfigError("cell_id: only letters, digits, - _ . allowed")
    return cfg


def load(path):
    """Defaults overlaid with the JSON file at ``path`` (missing file: defaults)."""
    import json

    cfg = defaults()
    try:
        f = open(path)
    except OSError:
        return validate(cfg)
    try:
        try:
            user = json.loads(f.read())
        except ValueError:
            raise ConfigError(path + ": not valid JSON")
    finally:
        f.close()
    if not isinstance(user, dict):
        raise ConfigError(path + ": top level must be an object")
    for k in user:
        cfg[k] = user[k]
    return validate(cfg)


def load_mqtt_secrets(path):
    """(user, password, None) from the secrets file, or (None, None, reason).

    The secrets file (``secrets_path``, JSON, kept apart from config.json so
    the config can be shared) may hold ``mqtt_user`` and ``mqtt_password``;
    without them the board connects anonymously. Never raises: a bad file is
    reported by the caller as an alarm event and the board runs without
    credentials (a broker that requires them refuses it, and the outbox
    keeps every message until someone fixes the file).
    """
    import json

    try:
        f = open(path)
    except OSError:
        return None, None, None  # no secrets: anonymous
    try:
        try:
            d = json.loads(f.read(2048))
        except ValueError:
            return None, None, "%s: not JSON" % path
    finally:
        f.close()
    if not isinstance(d, dict):
        return None, None, path + ": top level must be an object"
    user = d.get("mqtt_user")
    password = d.get("mqtt_password")
    if user is None:
        return None, None, None
    if not isinstance(user, str) or not 0 < len(user) <= 64:
        return None, None, path + ": mqtt_user must be a string of 1..64 characters"
    if password is not None and (not isinstance(password, str) or len(password) > 128):
        return None, None, path + ": mqtt_password must be a string of at most 128 characters"
    return user, password, None
