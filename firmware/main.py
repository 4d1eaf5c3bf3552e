"""Platewise firmware entry point: the same file runs on the board and in HIL.

On a board this is /main.py. In HIL it runs under the MicroPython unix port
(``micropython firmware/main.py`` with MICROPYPATH at the repository root),
where the board is the virtual board from firmware/boards/emulated.py.

Order of a loop pass: control tick (measure, estimate, safety, charge, act)
-> queue messages -> advance the MQTT link (non-blocking) -> feed the
watchdog -> wait for the next tick. Any exception ends in the safe state
(contactor open, setpoint 0) before it propagates.

Heap: boot-only work (reading and validating config.json, the secrets
file and the command key, resolving the commands' bounds, loading the
persistent state) runs in ``firmware/config.py``, ``firmware/cmdlimits.py``
and ``firmware/stateload.py``, which are then dropped from memory
(``_forget``). The running BMS never needs them, and on the unix port, as
on a board without frozen modules, loaded bytecode lives in the heap. The
BMS's own modules are imported only after the config is gone, into the
space it freed.

At the end of a run (``max_cycles`` reached) the board flushes its outbox,
publishes ``offline`` and prints one line ``PLATEWISE-EXIT {json}`` with its
counters, which the HIL harness reads, and its heap: ``heap_start_bytes``
(live after gc when the loop started), ``heap_max_bytes`` (the most live
after any of the loop's collections, every 16 passes) and
``heap_total_bytes`` (the heap's size).
"""

import gc
import sys

try:
    import socket
    import select
except ImportError:  # pragma: no cover - older ports
    import usocket as socket  # type: ignore
    import uselect as select  # type: ignore

_GC_EVERY_MASK = 15  # the loop collects garbage every 16 passes

# Boot-only modules: loaded by boot(), dropped from memory before the BMS runs.
BOOT_ONLY = ("firmware.config", "firmware.cmdlimits", "firmware.stateload")


def make_board(env):
    """The board driver for this platform: the virtual board under the unix
    port (HIL), else the rp2 or esp32 board built from board.json (pin map,
    addresses, calibration; validated, errors name the field)."""
    if sys.platform in ("linux", "darwin"):
        from firmware.boards.emulated import EmulatedBoard

        spec = env("PLATEWISE_HIL")
        if not spec:
            raise RuntimeError("PLATEWISE_HIL=host:port is not set: the unix port needs the cell emulator")
        return EmulatedBoard.connect(spec, socket)
    if sys.platform == "rp2":
        from firmware.boards.rp2 import make_board as make
    elif sys.platform == "esp32":
        from firmware.boards.esp32 import make_board as make
    else:
        raise RuntimeError("no board driver for " + sys.platform)
    return make(env("PLATEWISE_BOARD") or "board.json")


def _env(name):
    try:
        import os

        return os.getenv(name)  # type: ignore[attr-defined]
    except (ImportError, AttributeError):
        return None


def tls_context(cfg):
    """The TLS context for the broker link, or None (plain TCP).

    The broker's certificate is verified against the CA in ``mqtt_ca_path``
    (DER: what MicroPython's TLS loads without a PEM parser). A missing or
    unreadable CA raises, and run() ends in the safe state: a board told to
    use TLS never falls back to plain text."""
    if not cfg["mqtt_tls"]:
        return None
    import ssl

    with open(cfg["mqtt_ca_path"], "rb") as f:
        ca_der = f.read()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=ca_der)
    return ctx


def boot(board, path):
    """Read and validate the config, the secrets file and the command key.

    Returns (cfg, (mqtt_user, mqtt_password, secrets_error), (key, key_error),
    cmd_spec, store) where cmd_spec is the commands' bounds resolved to
    numbers and store the persistent state (persist.Store), loaded and
    started (the boot counted, a seq block reserved).
    A bad config raises config.ConfigError naming the field; a bad secrets
    file or key is an error string (the board runs, reports it as an alarm,
    and rejects commands / connects anonymously)."""
    from firmware import config

    cfg = config.load(path)
    secrets = config.load_mqtt_secrets(cfg["secrets_path"])
    key = config.load_key(cfg["secrets_path"])
    from firmware.cmdlimits import resolve
    from firmware import persist

    store = persist.Store(cfg["persist_dir"], cfg["persist_min_interval_ms"], cfg["seq_block"])
    store.load()
    store.start(board.ticks_ms())  # counts the boot, reserves a seq block (forced write)
    return cfg, secrets, key, resolve(cfg), store


def _forget(names):
    """Drop modules from memory: out of sys.modules and their package, then
    collect. Their interned names stay (MicroPython never frees qstrs)."""
    for name in names:
        if name in sys.modules:
            del sys.modules[name]
            pkg, _, attr = name.rpartition(".")
            if pkg in sys.modules and hasattr(sys.modules[pkg], attr):
                delattr(sys.modules[pkg], attr)
    gc.collect()


def run(board, path):
    """Boot from the config at ``path``, then run the BMS until it is done.

    A bad config: the board stays safe (contactor open, setpoint 0), prints
    ``PLATEWISE-CONFIG-ERROR <reason naming the field>`` and raises."""
    try:
        cfg, secrets, key, cmd_spec, store = boot(board, path)
    except Exception as e:
        # Whatever failed, the board stays safe. A ValueError here is a
        # config.ConfigError (load() turns bad JSON into one; the secrets
        # and key readers never raise), and it names the field.
        board.set_current_a(0.0)
        board.set_contactor(False)
        if isinstance(e, ValueError):
            print("PLATEWISE-CONFIG-ERROR " + str(e))
        raise
    _forget(BOOT_ONLY)
    # Imported now, into the heap the config freed.
    from firmware.app import BMS
    from firmware.mqtt import MQTTClient, Outbox
    from firmware.report import FW_VERSION
    from shared.compat import ticks_diff

    bms = None
    client = None
    heap = [0, 0]  # live heap after gc: when the loop started, the most seen in it
    try:
        spill = None
        if cfg["spill_path"]:
            from firmware.spill import Spill

            spill = Spill(cfg["spill_path"], cfg["spill_max_bytes"], cfg["spill_reserve_bytes"])
        outbox = Outbox(cfg["outbox_size"], spill)
        rep_box = []

        def will():
            return rep_box[0].status_message("offline")

        def on_connect():
            rep_box[0].status("online", board.time_s())

        def on_message(topic, payload):
            bms.on_command(topic, payload)  # type: ignore[union-attr]

        mqtt_user, mqtt_password, secrets_err = secrets
        client = MQTTClient(
            cfg["cell_id"],
            cfg["mqtt_host"],
            cfg["mqtt_port"],
            outbox,
            socket,
            select,
            keepalive_s=cfg["mqtt_keepalive_s"],
            will=will,
            on_connect=on_connect,
            on_message=on_message,
            backoff_max_ms=cfg["mqtt_backoff_max_ms"],
            user=mqtt_user,
            password=mqtt_password,
            tls=tls_context(cfg),
            server_hostname=cfg["mqtt_server_hostname"] or None,
        )
        key, key_err = key
        bms = BMS(board, cfg, client, store, key, cmd_spec)
        rep_box.append(bms.reporter)
        client.subscribe_topic = bms.reporter.cmd_topic
        period_ms = cfg["control_period_ms"]
        backlog_max = cfg["hil_backlog_max"]
        offline_speedup = cfg["hil_offline_speedup"]
        # value: the seq this boot continues from, so the twin can tell a crash's
        # skipped block from lost messages.
        bms.reporter.event(board.time_s(), "boot", "boot", "firmware " + FW_VERSION + " started", store.seq_base)
        ev = store.load_event()
        if ev is not None:
            bms.reporter.event(board.time_s(), "alarm", ev[0], ev[1])
        if secrets_err is not None:
            bms.reporter.event(board.time_s(), "alarm", "bad_secrets", secrets_err)
        if key_err is not None:
            bms.reporter.event(board.time_s(), "alarm", "no_cmd_key", key_err)
        if store.fault is not None:
            bms.restore_fault(store.fault, board.ticks_ms())
            bms.reporter.event(board.time_s(), "fault", store.fault, "fault latched before reboot: contactor open until clear_fault")
        bms.start(board.ticks_ms())
        max_run_s = cfg["max_run_s"]
        flush_ms = cfg["flush_timeout_s"] * 1000
        # Everything is built: the config, the key and the command table are
        # not needed any more (the objects keep what they use). Dropping them
        # leaves the running loop that much more heap.
        cfg = secrets = key = cmd_spec = None
        gc.collect()
        heap[0] = heap[1] = gc.mem_alloc()
        passes = 0
        while not bms.finished() and not (max_run_s and board.time_s() >= max_run_s):
            now = board.ticks_ms()
            bms.step(now)
            bms.report(now)
            client.service(board.net_ticks_ms())
            # HIL only: do not let virtual time outrun a connected broker.
            while board.can_pause and client.connected() and client.backlog() > backlog_max:
                client.service(board.net_ticks_ms(), 5)
            if board.can_pause and not client.connected():
                board.pace(period_ms // offline_speedup)
            board.feed_watchdog()
            passes += 1
            if passes & _GC_EVERY_MASK == 0:
                # A collection at a quiet point of the loop, not mid-message:
                # garbage from reporting never piles up into fragmentation,
                # and the live heap is measured (the exit summary reports it).
                gc.collect()
                used = gc.mem_alloc()
                if used > heap[1]:
                    heap[1] = used
            board.wait_tick(period_ms)
        bms.safe_state()
        bms.report(board.ticks_ms())
        bms.reporter.status("offline", board.time_s())
        store.set_totals(bms.charger.cycles_done, bms.meas.total_charge_ah, bms.meas.total_discharge_ah)
        store.close_seq(bms.reporter.seq, board.ticks_ms())  # a clean stop leaves no seq gap
        t0 = board.net_ticks_ms()
        while client.backlog() and ticks_diff(board.net_ticks_ms(), t0) < flush_ms:
            client.service(board.net_ticks_ms(), 5)
            board.feed_watchdog()  # the loop is healthy: a long flush must not reset the board
        client.disconnect()
    except BaseException:
        if bms is not None:
            bms.safe_state()
        else:
            board.set_current_a(0.0)
            board.set_contactor(False)
        raise
    finally:
        summary = {
            "data_messages": bms.reporter.seq if bms else 0,
            "published": client.published_data if client else 0,
            "published_all": client.published if client else 0,
            "backlog": client.backlog() if client else 0,
            "spill_errors": client.outbox.spill.errors if client and client.outbox.spill else 0,
            "dropped_samples": client.outbox.dropped_samples if client else 0,
            "dropped_priority": client.outbox.dropped_priority if client else 0,
            "connects": client.connects if client else 0,
            "last_error": client.last_error if client else "",
            "cycles": bms.charger.cycles_done if bms else 0,
            "fault": bms.safety.fault if bms else None,
            "heap_start_bytes": heap[0],
            "heap_max_bytes": heap[1],
            "heap_total_bytes": gc.mem_alloc() + gc.mem_free(),
        }
        import json

        print("PLATEWISE-EXIT " + json.dumps(summary))
    return summary


def main():
    path = _env("PLATEWISE_CONFIG") or "config.json"
    board = make_board(_env)
    try:
        run(board, path)
    finally:
        if hasattr(board, "close"):
            board.close()


if __name__ == "__main__":
    main()
