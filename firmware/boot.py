"""Boot: everything the board does once before its loop, in a module that
main.py drops from memory when it is done.

``make_board(socket)`` gives the platform's board driver, and
``load(board, path)`` reads and validates the config, the secrets file and
the command key, resolves the commands' bounds and loads the persistent
state. ``firmware/assemble.py`` then builds the running system from what
``load`` returned. Boot runs in phases so that the heap never holds
everything at once: the board's bring-up modules are dropped after
``make_board``, the config's own modules (config, cmdlimits, stateload,
keyfile) and this module after ``load``, and assemble.py after it has
built the objects.

Nothing built here may keep a reference into this module (no closures, no
functions of it as callbacks): those would keep the whole module alive.

Failure behaviour: a bad config makes ``load`` put the board in the safe
state (contactor open, setpoint 0), print ``PLATEWISE-CONFIG-ERROR`` with
the reason (it names the field) and raise; a bad secrets file or command
key is returned as a reason, which assemble.py reports as an alarm event
(the board runs, connecting anonymously and rejecting every command); a TLS
CA that cannot be read raises, and main.py ends in the safe state (a board
told to use TLS never falls back to plain text).
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
    if sys.platform not in ("rp2", "esp32"):
        raise RuntimeError("no board driver for " + sys.platform)
    # By name: the other platform's module names are never interned (every
    # interned name stays in the heap for good; see docs/firmware.md, Heap).
    __import__("firmware.boards." + sys.platform)
    make = sys.modules["firmware.boards." + sys.platform].make_board
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
    mqtt_password, secrets_error), (key, key_error), cmd_spec, store, tls],
    where cmd_spec is the commands' bounds resolved to numbers, store the
    persistent state (persist.Store), loaded and started (the boot counted,
    a seq block reserved), and tls the broker link's TLS context or None."""
    # The modules that stay (the state store, the wire format) are imported
    # before the config's, which are dropped after this phase: what stays
    # then sits below the space they free instead of in between, and that
    # space comes back in one piece for the BMS (at a tight heap, a
    # fragmented one fails construction with plenty free but no block large
    # enough).
    from firmware import persist
    from shared import wire  # noqa: F401

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

    store = persist.Store(cfg["persist_dir"], cfg["persist_min_interval_ms"], cfg["seq_block"])
    store.load()
    store.start(board.ticks_ms())  # counts the boot, reserves a seq block (forced write)
    # The TLS context now, not when the client is built: the CA (a few KB,
    # read whole) needs one contiguous block, which a heap holding the
    # BMS's code may no longer have.
    return [cfg, secrets, key, resolve(cfg), store, tls_context(cfg)]
