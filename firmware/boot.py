"""Boot: everything the board does once before its loop, in a module that
main.py drops from memory when it is done.

``make_board(socket)`` gives the platform's board driver, ``load(board, path)``
reads and validates the config, the secrets file and the command key,
resolves the commands' bounds and loads the persistent state, and
``assemble(board, parts, socket, select)`` builds the outbox, the MQTT
client and the BMS and queues the boot events. Boot runs in phases so that
the heap never holds everything at once: the config's own modules
(config, cmdlimits, stateload) are dropped between ``load`` and
``assemble``, and this module after ``assemble``.

Nothing built here may keep a reference into this module (no closures, no
functions of it as callbacks): those would keep the whole module alive.
The MQTT callbacks are therefore the BMS's own methods.

Failure behaviour: a bad config makes ``load`` put the board in the safe
state (contactor open, setpoint 0), print ``PLATEWISE-CONFIG-ERROR`` with
the reason (it names the field) and raise; a bad secrets file or command
key is reported as an alarm event and the board runs (connecting
anonymously, rejecting every command); a TLS CA that cannot be read
raises, and main.py ends in the safe state (a board told to use TLS never
falls back to plain text).
"""

import sys

# The config's modules: used by load(), dropped before assemble().
CONFIG_MODULES = ("firmware.config", "firmware.cmdlimits", "firmware.stateload", "shared.keyfile")
# The board's bring-up (pin rules, board.json schema): dropped after
# make_board(); the board object needs only its drivers (boards/hardware.py).
BOARD_MODULES = ("firmware.boards.rp2", "firmware.boards.esp32", "firmware.boards.board_config")


def env(name):
    try:
        import os

        return os.getenv(name)  # type: ignore[attr-defined]
    except (ImportError, AttributeError):
        return None


def make_board(socket_mod):
    """The board driver for this platform: the virtual board under the unix
    port (HIL), else the rp2 or esp32 board built from board.json (pin map,
    addresses, calibration; validated, errors name the field)."""
    if sys.platform in ("linux", "darwin"):
        from firmware.boards.emulated import EmulatedBoard

        spec = env("PLATEWISE_HIL")
        if not spec:
            raise RuntimeError("PLATEWISE_HIL=host:port is not set: the unix port needs the cell emulator")
        return EmulatedBoard.connect(spec, socket_mod)
    if sys.platform == "rp2":
        from firmware.boards.rp2 import make_board as make
    elif sys.platform == "esp32":
        from firmware.boards.esp32 import make_board as make
    else:
        raise RuntimeError("no board driver for " + sys.platform)
    return make(env("PLATEWISE_BOARD") or "board.json")


def tls_context(cfg):
    """The TLS context for the broker link, or None (plain TCP).

    The broker's certificate is verified against the CA in ``mqtt_ca_path``
    (DER: what MicroPython's TLS loads without a PEM parser)."""
    if not cfg["mqtt_tls"]:
        return None
    import ssl

    with open(cfg["mqtt_ca_path"], "rb") as f:
        ca_der = f.read()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=ca_der)
    return ctx


def load(board, path):
    """The config and what depends on it: a list [cfg, (mqtt_user,
    mqtt_password, secrets_error), (key, key_error), cmd_spec, store], where
    cmd_spec is the commands' bounds resolved to numbers and store the
    persistent state (persist.Store), loaded and started (the boot counted,
    a seq block reserved)."""
    try:
        from firmware import config

        cfg = config.load(path)
    except Exception as e:
        # Whatever failed, the board stays safe. A ValueError here is a
        # config.ConfigError (load() turns bad JSON into one), and it names
        # the field.
        board.set_current_a(0.0)
        board.set_contactor(False)
        if isinstance(e, ValueError):
            print("PLATEWISE-CONFIG-ERROR " + str(e))
        raise
    secrets = config.load_mqtt_secrets(cfg["secrets_path"])  # never raises
    key = config.load_key(cfg["secrets_path"])  # never raises
    from firmware.cmdlimits import resolve
    from firmware import persist

    store = persist.Store(cfg["persist_dir"], cfg["persist_min_interval_ms"], cfg["seq_block"])
    store.load()
    store.start(board.ticks_ms())  # counts the boot, reserves a seq block (forced write)
    return [cfg, secrets, key, resolve(cfg), store]


def assemble(board, parts, socket_mod, select_mod):
    """Build the running system from ``load``'s parts (the list is emptied:
    the config is not kept). Returns (bms, client, store, settings), where
    settings is (control_period_ms, hil_backlog_max, hil_offline_speedup,
    max_run_s, flush_ms)."""
    cfg, secrets, key, cmd_spec, store = parts
    parts.clear()
    from firmware.app import BMS
    from firmware.mqtt import MQTTClient, Outbox
    from firmware.report import FW_VERSION

    spill = None
    if cfg["spill_path"]:
        from firmware.spill import Spill

        spill = Spill(cfg["spill_path"], cfg["spill_max_bytes"], cfg["spill_reserve_bytes"])
    mqtt_user, mqtt_password, secrets_err = secrets
    client = MQTTClient(
        cfg["cell_id"],
        cfg["mqtt_host"],
        cfg["mqtt_port"],
        Outbox(cfg["outbox_size"], spill),
        socket_mod,
        select_mod,
        keepalive_s=cfg["mqtt_keepalive_s"],
        backoff_max_ms=cfg["mqtt_backoff_max_ms"],
        user=mqtt_user,
        password=mqtt_password,
        tls=tls_context(cfg),
        server_hostname=cfg["mqtt_server_hostname"] or None,
    )
    key, key_err = key
    bms = BMS(board, cfg, client, store, key, cmd_spec)
    client.will = bms.will
    client.on_connect = bms.on_connect
    client.on_message = bms.on_command
    client.subscribe_topic = bms.reporter.cmd_topic
    r = bms.reporter
    # value: the seq this boot continues from, so the twin can tell a crash's
    # skipped block from lost messages.
    r.event(board.time_s(), "boot", "boot", "firmware " + FW_VERSION + " started", store.seq_base)
    ev = store.load_event()
    if ev is not None:
        r.event(board.time_s(), "alarm", ev[0], ev[1])
    if secrets_err is not None:
        r.event(board.time_s(), "alarm", "bad_secrets", secrets_err)
    if key_err is not None:
        r.event(board.time_s(), "alarm", "no_cmd_key", key_err)
    if store.fault is not None:
        bms.restore_fault(store.fault, board.ticks_ms())
        r.event(board.time_s(), "fault", store.fault, "fault latched before reboot: contactor open until clear_fault")
    settings = (
        cfg["control_period_ms"],
        cfg["hil_backlog_max"],
        cfg["hil_offline_speedup"],
        cfg["max_run_s"],
        cfg["flush_timeout_s"] * 1000,
    )
    return bms, client, store, settings
