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
    # and the next pass loads the real code; 16 s of the network clock
    # without memory reject it, however many passes they take.
    class _NoMemory:
        def __getattr__(self, name):
            raise MemoryError("memory allocation failed")

    msg["ctr"] = 6
    bms.on_command(wire.topic(cfg["cell_id"], "cmd"), wire.encode("cmd", cfg["cell_id"], 6, msg))
    sys.modules["firmware.commands"] = _NoMemory()
    bms.report(t + 5000)
    assert net.last is None and len(bms._cmds) == 1 and bms._cmd_short_since_ms == 0
    assert "firmware.commands" not in sys.modules  # the failed load is dropped too
    bms.report(t + 6000)
    ev = json.loads(net.last)
    assert ev["code"] == "bad_mac" and bms.cmd_rejected == 2 and not bms._cmds and bms._cmd_short_since_ms is None, ev
    net.last = None
    bms.on_command(wire.topic(cfg["cell_id"], "cmd"), wire.encode("cmd", cfg["cell_id"], 7, msg))
    for k in range(40):  # many passes in 1 s of the network clock: the command waits
        assert net.last is None and len(bms._cmds) == 1, k
        sys.modules["firmware.commands"] = _NoMemory()
        b.net_ms = 100 + k * 25
        bms.report(t + 7000 + k)
    for k in range(8):  # 2 s a pass: rejected once 16 s have gone since the first
        assert net.last is None and len(bms._cmds) == 1, k
        sys.modules["firmware.commands"] = _NoMemory()
        b.net_ms = 100 + 2000 * (k + 1)
        bms.report(t + 8000 + k)
    ev = json.loads(net.last)
    assert ev["event"] == "cmd_reject" and ev["code"] == "internal" and bms.cmd_rejected == 3 and not bms._cmds, ev
    assert "firmware.commands" not in sys.modules

    # No memory to judge a command (the handler raises MemoryError with
    # nothing consumed): the command stays queued, and is judged next pass.
    class _ShortHandler:
        def __init__(self, *a):
            self.last_ctr = bms.cmd_last_ctr
            self.accepted = self.rejected = 0

        def handle(self, topic, payload):
            raise MemoryError("memory allocation failed")

    class _ShortModule:
        CommandHandler = _ShortHandler

    net.last = None
    bms.on_command(wire.topic(cfg["cell_id"], "cmd"), wire.encode("cmd", cfg["cell_id"], 8, msg))
    sys.modules["firmware.commands"] = _ShortModule()
    bms.report(t + 8000)
    assert net.last is None and len(bms._cmds) == 1 and bms._cmd_short_since_ms is not None and bms.cmd_rejected == 3
    bms.report(t + 9000)
    ev = json.loads(net.last)
    assert ev["code"] == "bad_mac" and bms.cmd_rejected == 4 and not bms._cmds and bms._cmd_short_since_ms is None, ev

    # The counter is written once the batch is judged and the command code
    # dropped; a durable command acts only if it is on flash.
    from firmware.persist import Store
    from shared.cmdsign import command_fields

    class _File:
        def __init__(self, fs, path):
            self.fs, self.path, self.parts = fs, path, []

        def write(self, b):
            self.parts.append(bytes(b))
            return len(b)

        def close(self):
            self.fs.files[self.path] = b"".join(self.parts)

    class _Fs:
        full = True  # open() fails as on a full flash
        code_loaded_at_write = False

        def __init__(self):
            self.files = {}

        def open(self, path, mode):
            if "firmware.commands" in sys.modules:
                self.code_loaded_at_write = True
            if self.full:
                raise OSError(28)
            return _File(self, path)

        def rename(self, a, b):
            self.files[b] = self.files.pop(a)

        def remove(self, path):
            self.files.pop(path, None)

    fs = _Fs()
    key = b"k" * 32
    cell = cfg["cell_id"]
    bms.store = Store("", 60000, 1024, fs)
    bms._cmd_key = key
    sent = []
    net.publish = lambda topic, payload, retain, priority: sent.append(json.loads(payload))

    def send(ctr, cmd, args):
        bms.on_command(wire.topic(cell, "cmd"), wire.encode("cmd", cell, ctr, command_fields(key, cell, ctr, cmd, args)))

    i0 = bms.charger.charge_current_a
    send(20, "set_limits", {"charge_current_a": 0.005})
    send(21, "stop", {})
    bms.report(t + 10000)
    got = [(e["event"], e["code"], e["value"]) for e in sent if e.get("event", "").startswith("cmd")]
    assert got == [("cmd_reject", "ctr_not_saved", 20), ("cmd_ok", "stop", 21)], got
    assert i0 != 0.005 and bms.charger.charge_current_a == i0 and bms.cmd_last_ctr == 21 and bms.store.write_errors >= 1
    assert not fs.code_loaded_at_write
    # Flash back: the next command is accepted, and its counter is on flash.
    fs.full = False
    del sent[:]
    send(22, "set_limits", {"charge_current_a": 0.005})
    bms.report(t + 11000)
    got = [(e["event"], e["code"], e["value"]) for e in sent if e.get("event", "").startswith("cmd")]
    assert got == [("cmd_ok", "set_limits", 22)], got
    assert bms.charger.charge_current_a == 0.005 and bms.store.last_ctr == 22 and bms.store.writes >= 1
    assert not fs.code_loaded_at_write and fs.files and b'"last_ctr": 22' in b"".join(fs.files.values())

    # A board that restored a state carries on its cycle number and marks the
    # cycle it boots into partial (a power cut mid-charge left the charge
    # before the boot uncounted): that CE is not judged, the next one is.
    def booted(load_status):
        st = Store("", 60000, 1024, _Fs())
        st.fs.full = False
        st.load_status, st.cycles = load_status, 3
        out = []
        n = _Net()
        n.publish = lambda topic, payload, retain, priority: out.append(json.loads(payload))
        return BMS(Board(), cfg, n, st), out

    def end_cycle(bms, out, charge_ah, discharge_ah, now_ms):
        c = bms.meas.cycle
        c.charge_ah, c.discharge_ah = charge_ah, discharge_ah
        bms.charger.cycles_done += 1
        bms.charger.cycle_done = True
        bms.report(now_ms)
        return [m for m in out if "discharge_ah" in m][-1]

    fresh, _ = booted("new")
    assert fresh.meas.cycle.index == 4 and not fresh.meas.cycle.partial
    resumed, out = booted("ok")
    assert resumed.meas.cycle.index == 4 and resumed.meas.cycle.partial
    m = end_cycle(resumed, out, 0.4, 1.0, 1000)  # CE 2.5: the charge before the boot is missing
    assert m["partial"] and m["cycle"] == 4 and resumed.safety.fault is None, m
    assert resumed.store.cycles == 4 and resumed.store.writes == 1  # the cycle count is on flash at once
    assert not resumed.meas.cycle.partial and resumed.meas.cycle.index == 5
    m = end_cycle(resumed, out, 0.4, 1.0, 2000)  # a whole cycle with that CE is judged
    assert not m["partial"] and resumed.safety.fault == "CE_ANOMALY", (m, resumed.safety.fault)
    return True
