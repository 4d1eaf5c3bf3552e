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


# name -> (default, type, lo, hi), each row's meaning in its comment (kept
# out of the data: the board loads this table at every boot, and ~75
# descriptions would cost it about 8 KB of heap). Types: "f" number, "i"
# int, "s" str, "t" table: [[x, factor], ...] with x strictly increasing and
# factor in [lo, hi].
SPEC = {
    "cell_id": ("cell-1", "s", 1, 32),  # cell id used in MQTT topics
    "control_period_ms": (1000, "i", 10, 60000),  # control tick period
    "telemetry_period_ms": (10000, "i", 100, 3600000),  # sample publishing period
    # Charging (CELL_FACTS sec. 3: the plating current density is what matters;
    # the host converts mA/cm2 to A with the cell area when it writes this file).
    "mode": ("cccv", "s", 1, 16),  # charging mode: cccv (plain, for A/B) or adaptive
    # Adaptive mode: formation (CELL_FACTS sec. 3: the best formation current
    # density depends on the electrolyte; the host sets it from the preset).
    "formation_cycles": (2, "i", 0, 100),  # adaptive: cycles charged and discharged at the formation current
    "formation_current_a": (0.005, "f", 0.0, 100.0),  # adaptive: formation plating current
    "formation_pulse_on_s": (0, "i", 0, 3600),  # adaptive: pulsed formation, seconds on (0: continuous)
    "formation_pulse_off_s": (0, "i", 0, 3600),  # adaptive: pulsed formation, seconds off
    "pulse_period_s": (15, "i", 0, 3600),  # adaptive: a one-tick rest interruption this often during CC charge, for R (0: off)
    "pulse_settle_s": (300, "i", 0, 86400),  # no impedance samples in the first seconds of a charge (nucleation, relaxation)
    "pulse_v_margin_v": (0.15, "f", 0.0, 2.0),  # no impedance samples this close to the CV voltage (OCV slope)
    "impedance_forgetting": (0.92, "f", 0.5, 1.0),  # RLS forgetting factor per sample (memory ~ 1/(1-x) samples)
    "impedance_ea_kj_mol": (20.0, "f", 0.0, 200.0),  # Arrhenius activation energy for temperature compensation
    "t_ref_c": (25.0, "f", -40.0, 100.0),  # reference temperature of the compensated resistance
    "drift_max_std": (0.05, "f", 0.001, 1.0),  # act on the drift ratio only when its std is below this
    # Derating tables (CELL_FACTS sec. 4-7): factor of the nominal plating current.
    "derate_drift": ([[1.1, 1.0], [1.5, 0.5], [2.0, 0.25]], "t", 0.0, 1.0),  # factor vs resistance drift ratio
    "derate_cold_c": ([[0.0, 0.25], [10.0, 0.5], [15.0, 1.0]], "t", 0.0, 1.0),  # factor vs temperature (cold, sec. 5)
    "derate_hot_c": ([[45.0, 1.0], [55.0, 0.25]], "t", 0.0, 1.0),  # factor vs temperature (hot)
    "derate_p_low_mpa": ([[0.0, 0.25], [0.5, 1.0]], "t", 0.0, 1.0),  # factor vs stack pressure below the window (sec. 4)
    "derate_p_high_mpa": ([[3.0, 1.0], [4.5, 0.25]], "t", 0.0, 1.0),  # factor vs stack pressure above the window (sec. 4)
    "meas_filter_tau_s": (10.0, "f", 0.0, 3600.0),  # low-pass time constant of the temperature and pressure the limiter derates on (0: none; safety uses raw readings)
    "limit_hysteresis": (0.05, "f", 0.0, 0.5),  # new limit target only beyond this fraction of nominal
    "limit_slew_per_s": (0.005, "f", 0.00001, 10.0),  # limit rises at most this fraction of nominal per second
    "charge_current_a": (0.01, "f", 0.0, 100.0),  # CC charge (plating) current
    "charge_voltage_v": (3.65, "f", 1.0, 5.0),  # CV voltage
    "cv_cutoff_a": (0.001, "f", 0.0, 100.0),  # CV ends when current falls below this
    "discharge_current_a": (0.02, "f", 0.0, 100.0),  # CC discharge current (board-controlled load)
    "r_nominal_ohm": (1.0, "f", 0.0001, 1000.0),  # series resistance to assume until the online estimate has a value (datasheet)
    "discharge_cutoff_v": (2.5, "f", 0.0, 5.0),  # discharge ends at this voltage
    "rest_s": (600, "i", 0, 86400),  # rest after charge and after discharge
    "startup_rest_s": (30, "i", 0, 86400),  # rest at start, contactor open, to zero the current channel
    "max_cycles": (0, "i", 0, 10000000),  # stop after this many cycles (0: never)
    "max_run_s": (0, "i", 0, 2000000000),  # stop after this much board time, in any state (0: never)
    # Safety limits (checked every tick before the charger acts).
    "v_max_v": (3.8, "f", 0.0, 6.0),  # over-voltage fault
    "v_min_v": (2.0, "f", -1.0, 5.0),  # under-voltage fault
    "i_max_a": (0.1, "f", 0.0, 1000.0),  # over-current fault (either direction)
    "t_max_c": (60.0, "f", -40.0, 150.0),  # over-temperature fault
    "t_min_c": (-10.0, "f", -60.0, 100.0),  # under-temperature fault
    "p_max_mpa": (5.0, "f", 0.0, 500.0),  # stack pressure above window
    "p_min_mpa": (0.0, "f", -1.0, 500.0),  # stack pressure below window
    "p_rate_max_mpa_s": (0.02, "f", 0.0001, 100.0),  # stack pressure changing faster than this is a fault
    "p_rate_window_s": (10, "i", 1, 3600),  # window of the pressure-rate check
    "rest_settle_s": (300, "i", 0, 86400),  # relaxation ignored at the start of a rest
    "rest_window_s": (600, "i", 10, 86400),  # rest voltage compared window to window
    "rest_decay_max_v_h": (0.02, "f", 0.0001, 100.0),  # rest voltage falling faster than this is a soft short
    "ce_max": (1.002, "f", 0.9, 2.0),  # CE above this is impossible without a fault
    "ce_drop_max": (0.02, "f", 0.0001, 1.0),  # CE falling more than this between regular cycles is a fault
    "stuck_ticks": (300, "i", 10, 1000000),  # voltage identical for this many ticks under current: stuck sensor
    # MQTT (secrets such as user/password come from a separate file, later).
    "mqtt_host": ("127.0.0.1", "s", 1, 64),  # broker host
    "mqtt_port": (1883, "i", 1, 65535),  # broker port
    "mqtt_tls": (0, "i", 0, 1),  # 1: TLS to the broker, verifying its certificate against mqtt_ca_path
    "mqtt_ca_path": ("", "s", 0, 200),  # CA certificate (DER) that signed the broker's certificate
    "mqtt_server_hostname": ("", "s", 0, 64),  # name checked in the broker's certificate (default: mqtt_host)
    "mqtt_keepalive_s": (30, "i", 5, 3600),  # MQTT keepalive
    "flush_timeout_s": (60, "i", 0, 3600),  # at the end of a run, wait this long for the outbox to drain
    "mqtt_backoff_max_ms": (16000, "i", 250, 600000),  # longest wait between reconnect attempts
    "outbox_size": (8, "i", 4, 100000),  # messages held in RAM (then the flash spill) while the broker is unreachable; about 400 bytes of heap each
    # Past RAM, the outbox spills to flash (firmware/spill.py): 30 minutes of
    # samples at the default 10 s rate are 180 messages of ~330 bytes, about
    # 60 KB; 256 KB holds over 2 hours, and events and cycle summaries get
    # 32 KB more. "" disables the spill (RAM only, oldest samples dropped).
    "spill_path": ("outbox.spill", "s", 0, 64),  # flash file for messages past the RAM outbox
    "spill_max_bytes": (262144, "i", 0, 100000000),  # spill capacity for all messages
    "spill_reserve_bytes": (32768, "i", 0, 100000000),  # extra spill room for events and cycle summaries only
    # Lock-step HIL only: hold virtual time while this many messages wait, so
    # a run much faster than real time still loses nothing.
    "hil_backlog_max": (4, "i", 1, 100000),  # virtual board: pause the clock above this backlog
    # Lock-step HIL only: while the broker is unreachable, run virtual time at
    # most this much faster than real time, so reconnect backoff (real time)
    # is not stretched into hours of simulated outage.
    "hil_offline_speedup": (100, "i", 1, 1000000),  # virtual board: speed-up cap while offline
    # Persistence (firmware/persist.py).
    "persist_dir": ("", "s", 0, 200),  # directory of the state files; empty: the current one (/ on a board, the temp dir in HIL)
    "persist_min_interval_ms": (60000, "i", 1000, 3600000),  # least time between routine state writes (flash wear)
    "seq_block": (1024, "i", 16, 1000000),  # sequence numbers reserved per state write
    # Authenticated commands (firmware/commands.py). A bound of 0 is derived
    # from the operating point: by default commands can only make operation gentler.
    "secrets_path": ("secrets.json", "s", 1, 200),  # JSON file: cmd_key_hex (per-board HMAC key), optional mqtt_user, mqtt_password
    "cmd_charge_current_max_a": (0.0, "f", 0.0, 100.0),  # set_limits: charge_current_a is clamped to this (0: charge_current_a)
    "cmd_discharge_current_max_a": (0.0, "f", 0.0, 100.0),  # set_limits: discharge_current_a is clamped to this (0: discharge_current_a)
    "cmd_charge_voltage_min_v": (0.0, "f", 0.0, 5.0),  # set_limits: charge_voltage_v below this is rejected (0: top quarter of the window)
    "cmd_charge_voltage_max_v": (0.0, "f", 0.0, 5.0),  # set_limits: charge_voltage_v is clamped to this (0: charge_voltage_v)
    "cmd_discharge_cutoff_min_v": (0.0, "f", 0.0, 5.0),  # set_limits: discharge_cutoff_v is clamped up to this (0: discharge_cutoff_v)
    "cmd_discharge_cutoff_max_v": (0.0, "f", 0.0, 5.0),  # set_limits: discharge_cutoff_v above this is rejected (0: bottom quarter of the window)
    "cmd_pulse_max_a": (0.0, "f", 0.0, 100.0),  # pulse: largest amplitude_a (0: the smaller of charge and discharge current)
    "cmd_pulse_min_ms": (100, "i", 1, 600000),  # pulse: shortest duration_ms
    "cmd_pulse_max_ms": (10000, "i", 1, 600000),  # pulse: longest duration_ms
}


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
        if last is not None and row[0] <= last:
            raise ConfigError(k + ": x must increase strictly")
        if not lo <= row[1] <= hi:
            raise ConfigError("%s: factor %s outside [%s, %s]" % (k, row[1], lo, hi))
        last = row[0]


def defaults():
    cfg = {}
    for k in SPEC:
        cfg[k] = SPEC[k][0]
    return cfg


def validate(cfg):
    """Check every field of a full config dict; raise ConfigError naming the field."""
    for k in cfg:
        if k not in SPEC:
            raise ConfigError("unknown config field: " + str(k))
    for k in SPEC:
        if k not in cfg:
            raise ConfigError("missing config field: " + k)
        _default, typ, lo, hi = SPEC[k]
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
    if cfg["hil_backlog_max"] >= cfg["outbox_size"]:
        raise ConfigError("hil_backlog_max: must be below outbox_size (the virtual clock waits before RAM is full)")
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
