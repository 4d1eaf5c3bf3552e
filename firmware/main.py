"""Platewise firmware entry point: the same file runs on the board and in HIL.

On a board, ``platewise flash`` (host/flash.py) puts this module, as
bytecode, in /firmware with a two-line /main.py that calls ``main()``. In
HIL it runs under the MicroPython unix port (``micropython -m
firmware.main`` on the precompiled tree, or a flashed folder's main.py),
where the board is the virtual board from firmware/boards/emulated.py.

Order of a loop pass: control tick (measure, estimate, safety, charge, act)
-> queue messages -> advance the MQTT link (non-blocking) -> feed the
watchdog -> the board's wait for the next tick, ``board.wait_tick(period_ms,
client)``, which may service the link while it waits (each board says how:
boards/hardware.py, boards/emulated.py). Any exception ends in the safe
state (contactor open, setpoint 0) before it propagates.

Heap: everything done once (reading and validating config.json, the
secrets file and the command key, resolving the commands' bounds, loading
the persistent state, the TLS context) lives in ``firmware/boot.py`` and
the modules it loads, and building the objects in
``firmware/assemble.py``; each is dropped from memory (``forget``, in
shared/compat.py) as soon as it is done: on the unix port, as on a board
without frozen modules, loaded bytecode lives in the heap, and the running
BMS never needs them. The config's modules go first, so that the BMS's own
are imported into the space they freed (docs/firmware.md, Heap).

At the end of a run (``max_cycles`` reached) the board flushes its outbox,
publishes ``offline`` and prints one line ``PLATEWISE-EXIT {json}`` with its
counters, which the HIL harness reads, and its heap: ``heap_start_bytes``
(live after gc when the loop started), ``heap_max_bytes`` (the most live
after any of the loop's collections, every 16 passes) and
``heap_total_bytes`` (the heap's size). When the loop starts it prints the
VM's line on its interned names (``micropython.qstr_info()``).
"""

import gc
import select
import socket
import sys

from shared.compat import const, forget

_GC_EVERY_MASK = const(15)  # the loop collects garbage every 16 passes
# The VM also collects after every 16 KB allocated (gc.threshold), from boot
# on, not only when the heap is full: the allocator takes the first free run
# from the bottom, so collected early, what stays packs into the low holes
# and the top of the heap keeps the long free runs that a message's JSON, a
# TLS session or an attribute table needs (docs/firmware.md, Heap: the
# figures, and the price of a lower threshold).
GC_THRESHOLD_BYTES = 16384  # public: firmware/bench.py runs the tick under the same policy
# Maintenance hold: with this file present the firmware does not start (no
# board, no watchdog), so the board sits at its REPL. `platewise flash`
# sets it and resets the board before copying: a running hardware
# watchdog (it cannot be stopped) would otherwise reset the board mid-copy.
HOLD_FILE = "platewise.hold"


def run(board, bms, client, store, period_ms, max_run_s, flush_ms):
    """The loop, until the charger is done or max_run_s; then a clean stop
    (offline status, exact seq on flash, outbox flushed for at most
    flush_ms). Returns the exit summary (printed as ``PLATEWISE-EXIT``)."""
    from shared.compat import ticks_diff

    heap_start = heap_max = 0  # live heap after gc: when the loop started, the most seen in it
    try:
        bms.start(board.ticks_ms())
        gc.collect()
        heap_start = heap_max = gc.mem_alloc()
        # The VM's own line on interned names ("qstr pool: n_pool=..,
        # n_qstr=.."; HIL reads it): every name a module interns stays in
        # the heap for good, in pools that double in size, so one name past
        # a pool's end costs a whole new pool (docs/firmware.md, Heap).
        import micropython

        qstr_info = getattr(micropython, "qstr_info", None)
        if qstr_info is not None:
            qstr_info()
        passes = 0
        while not bms.finished() and not (max_run_s and board.time_s() >= max_run_s):
            now = board.ticks_ms()
            bms.step(now)
            bms.report(now)
            client.service(board.net_ticks_ms())
            board.feed_watchdog()
            passes += 1
            if passes & _GC_EVERY_MASK == 0:
                # A collection at a quiet point of the loop, not mid-message:
                # garbage from reporting never piles up into fragmentation,
                # and the live heap is measured (the exit summary reports it).
                gc.collect()
                used = gc.mem_alloc()
                if used > heap_max:
                    heap_max = used
            board.wait_tick(period_ms, client)
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
        bms.safe_state()
        raise
    finally:
        box = client.outbox
        summary = {
            "data_messages": bms.reporter.seq,
            "published": client.published_data,
            "published_all": client.published,
            "backlog": client.backlog(),
            "spill_errors": box.spill.errors if box.spill else 0,
            "dropped_samples": box.dropped_samples,
            "dropped_priority": box.dropped_priority,
            "connects": client.connects,
            "last_error": client.last_error,
            "cycles": bms.charger.cycles_done,
            "fault": bms.safety.fault,
            "heap_start_bytes": heap_start,
            "heap_max_bytes": heap_max,
            "heap_total_bytes": gc.mem_alloc() + gc.mem_free(),
        }
        import json
        import micropython

        # The interned names at the end too (commands load their code, and
        # its names, only when one arrives; see app.py).
        if hasattr(micropython, "qstr_info"):
            micropython.qstr_info()
        # Streamed to stdout, not built as one string: at the end of a long
        # run the heap may have no single block for the whole line.
        sys.stdout.write("PLATEWISE-EXIT ")
        json.dump(summary, sys.stdout)
        sys.stdout.write("\n")
    return summary


def main(make_board=None):
    """Boot and run. ``make_board(socket)``: the board driver, where it is not
    this platform's own (processor in the loop: firmware/boards/pil.py)."""
    import os

    try:
        os.stat(HOLD_FILE)
        held = True
    except OSError:
        held = False
    if held:
        print("PLATEWISE-HOLD " + HOLD_FILE + " present: the firmware does not start (remove it and reset)")
        return
    gc.threshold(GC_THRESHOLD_BYTES)
    from firmware import boot

    board = (make_board or boot.make_board)(socket)
    forget(boot.BOARD_MODULES)
    bms = client = None
    try:
        parts = boot.load(board, boot.env("PLATEWISE_CONFIG") or "config.json")
        forget(boot.CONFIG_MODULES + ("firmware.boot",))
        del boot
        from firmware import assemble

        bms, client, store, period_ms, max_run_s, flush_ms = assemble.assemble(board, parts, socket, select)
        del assemble
        forget(("firmware.assemble",))
        run(board, bms, client, store, period_ms, max_run_s, flush_ms)
    except BaseException:
        # Anything at all (a bad config, no memory, a driver error): safe.
        if bms is not None:
            bms.safe_state()
        else:
            board.set_current_a(0.0)
            board.set_contactor(False)
        raise
    finally:
        if hasattr(board, "close"):
            board.close()


if __name__ == "__main__":
    main()
