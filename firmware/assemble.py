"""Assemble: build the running system from what ``boot.load`` returned,
in a module of its own that main.py drops when it is done.

``assemble(board, parts, socket, select)`` builds the outbox (with its
flash spill), the MQTT client and the BMS, wires the MQTT callbacks (the
BMS's own methods: nothing built here may keep a reference into this
module, or the whole module would stay in the heap) and queues the boot
events. It runs after boot.py and the config's modules are dropped, so
the construction peak holds only this module's code, the config dict and
what is being built.

Failure behaviour: a bad secrets file or command key, found by
``boot.load``, becomes an alarm event here and the board runs.
"""


def assemble(board, parts, socket_mod, select_mod):
    """Build the running system from ``load``'s parts (the list is emptied:
    the config is not kept). Returns (bms, client, store, period_ms,
    max_run_s, flush_ms): the loop's arguments (main.run)."""
    cfg, secrets, key, cmd_spec, store, tls = parts
    parts.clear()
    # The MQTT client first, before the BMS's modules load: its buffers and
    # its attribute table are the largest blocks built here, and the heap
    # still has room for them in one piece. The BMS's modules are many
    # small pieces that fill the holes boot left; then the BMS.
    from firmware.mqtt import MQTTClient, Outbox

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
        tls=tls,
        server_hostname=cfg["mqtt_server_hostname"] or None,
    )
    from firmware.app import BMS
    from firmware.report import FW_VERSION

    key, key_err = key
    bms = BMS(board, cfg, client, store, key, cmd_spec)
    client.will = bms.will
    client.on_connect = bms.on_connect
    client.on_message = bms.on_command
    client.subscribe_topic = bms.reporter.cmd_topic
    r = bms.reporter
    # value: the seq this boot continues from, so the twin can tell a crash's
    # skipped block from lost messages.
    r.event(board.time_s(), "boot", "boot", "firmware %s started" % FW_VERSION, store.seq_base)
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
    return bms, client, store, cfg["control_period_ms"], cfg["max_run_s"], cfg["flush_timeout_s"] * 1000
