"""Self-check of firmware.app, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from _stubs import Board
from firmware.app import BMS


def run():
    from firmware.config import defaults

    class _Net:
        n = 0
        last = None

        def publish(self, topic, payload, retain, priority):
            self.n += 1
            self.last = payload

    b = Board()
    cfg = defaults()
    bms = BMS(b, cfg, _Net())
    bms.start(0)
    bms.step(0)
    assert not b.c and b.i == 0.0  # start-up rest: zeroing the current channel
    t = cfg["startup_rest_s"] * 1000
    bms.step(t)
    bms.step(t + 1000)
    assert b.c and b.i > 0
    b.v = 4.5  # above v_max_v, below the rail
    bms.step(t + 2000)
    bms.step(t + 3000)
    assert bms.safety.fault == "OV" and not b.c and b.i == 0.0
    # Commands: the code is loaded for the queue and dropped after it, and
    # the BMS keeps the counts (app.py). A forged stop: bad_mac.
    import gc
    import json
    import sys

    from shared import wire

    net = bms.reporter.net
    gc.collect()
    before = gc.mem_alloc()
    bms._cmd_key = b"k" * 32
    msg = {"cmd": "stop", "args": {}, "ctr": 5, "mac": "0" * 64}
    bms.on_command(wire.topic(cfg["cell_id"], "cmd"), wire.encode("cmd", cfg["cell_id"], 5, msg))
    bms.report(t + 4000)
    ev = json.loads(net.last)
    assert ev["event"] == "cmd_reject" and ev["code"] == "bad_mac" and bms.cmd_rejected == 1, ev
    assert "firmware.commands" not in sys.modules and "shared.auth" not in sys.modules and "shared.wirecheck" not in sys.modules
    net.last = None
    gc.collect()
    assert gc.mem_alloc() - before < 2048  # the code went; the events' garbage is collected

    # No memory to load the command code (a module whose every attribute
    # raises MemoryError stands in for the failed load): the command waits
    # and the next pass loads the real code; 16 failures in a row reject it.
    class _NoMemory:
        def __getattr__(self, name):
            raise MemoryError("memory allocation failed")

    msg["ctr"] = 6
    bms.on_command(wire.topic(cfg["cell_id"], "cmd"), wire.encode("cmd", cfg["cell_id"], 6, msg))
    sys.modules["firmware.commands"] = _NoMemory()
    bms.report(t + 5000)
    assert net.last is None and len(bms._cmds) == 1 and bms._cmd_load_fails == 1
    assert "firmware.commands" not in sys.modules  # the failed load is dropped too
    bms.report(t + 6000)
    ev = json.loads(net.last)
    assert ev["code"] == "bad_mac" and bms.cmd_rejected == 2 and not bms._cmds and bms._cmd_load_fails == 0, ev
    net.last = None
    bms.on_command(wire.topic(cfg["cell_id"], "cmd"), wire.encode("cmd", cfg["cell_id"], 7, msg))
    for k in range(16):
        assert net.last is None and len(bms._cmds) == 1, k
        sys.modules["firmware.commands"] = _NoMemory()
        bms.report(t + 7000 + k)
    ev = json.loads(net.last)
    assert ev["event"] == "cmd_reject" and ev["code"] == "internal" and bms.cmd_rejected == 3 and not bms._cmds, ev
    assert "firmware.commands" not in sys.modules

    # No memory to judge a command (the handler raises MemoryError with
    # nothing consumed): the command stays queued, and is judged next pass.
    class _ShortHandler:
        def __init__(self, *a):
            self.last_ctr = bms.cmd_last_ctr
            self.accepted = self.rejected = 0

        def handle(self, topic, payload, now_ms):
            raise MemoryError("memory allocation failed")

    class _ShortModule:
        CommandHandler = _ShortHandler

    net.last = None
    bms.on_command(wire.topic(cfg["cell_id"], "cmd"), wire.encode("cmd", cfg["cell_id"], 8, msg))
    sys.modules["firmware.commands"] = _ShortModule()
    bms.report(t + 8000)
    assert net.last is None and len(bms._cmds) == 1 and bms._cmd_load_fails == 1 and bms.cmd_rejected == 3
    bms.report(t + 9000)
    ev = json.loads(net.last)
    assert ev["code"] == "bad_mac" and bms.cmd_rejected == 4 and not bms._cmds and bms._cmd_load_fails == 0, ev
    return True
