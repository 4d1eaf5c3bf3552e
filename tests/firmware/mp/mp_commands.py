"""Runs command cases through firmware.commands on MicroPython (or CPython).

usage: mp_commands.py CASES.json STATE_DIR
CASES.json: {"key_hex": str|null, "cell": str,
             "cfg": {config overrides}, "cases": [[name, topic, payload_hex|null], ...]}
The handler's counter is written after each case with persist.Store in
STATE_DIR, as the application does after a batch, so a second run over the
same directory is a reboot. Prints one line per case:
CASE <json [name, accepted, code, reason, args, clamped, last_ctr, event, durable]>, then
HEAP <json {...}> with the allocation of each handle() call when
"measure" is set (gc disabled meanwhile, so only for well-formed cases).
"""

import sys
import json
import gc
import binascii

# Held here, so the handler's stages find them loaded and leave them
# (firmware/commands.py, _stage): "measure" is then what judging a command
# allocates, not the code's load, which the HIL runs cover.
from shared import auth, wirecheck  # noqa: F401
from firmware.cmdlimits import resolve
from firmware.commands import CommandHandler
from firmware.config import defaults
from firmware.persist import Store


def _mem_alloc():
    # CPython has no gc.mem_alloc; its runs report 0.
    return gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0  # type: ignore[attr-defined]


def main():
    with open(sys.argv[1]) as f:
        spec = json.loads(f.read())
    store = Store(sys.argv[2], 60000, 1024)
    status = store.load()
    print("LOAD " + json.dumps([status, store.last_ctr]))
    key = binascii.unhexlify(spec["key_hex"]) if spec["key_hex"] else None

    cfg = defaults()
    for k in spec.get("cfg", {}):
        cfg[k] = spec["cfg"][k]
    h = CommandHandler(spec["cell"], resolve(cfg), key, store.last_ctr)
    now_ms = 0
    measure = spec.get("measure", False)
    alloc = []
    for name, topic, payload_hex in spec["cases"]:
        payload = None if payload_hex is None else binascii.unhexlify(payload_hex)
        now_ms += 1000
        gc.collect()
        if measure:  # gc off so the difference is what handle() allocated
            gc.disable()
        a0 = _mem_alloc()
        d = h.handle(topic, payload)
        a1 = _mem_alloc()
        gc.enable()
        store.set_ctr(h.last_ctr, now_ms)
        alloc.append(a1 - a0 if measure else -1)
        clamped = [[c[0], c[1], c[2]] for c in d.clamped]
        print("CASE " + json.dumps([name, d.accepted, d.code, d.reason, d.args, clamped, h.last_ctr, d.event, d.durable]))
    print("HEAP " + json.dumps({"alloc": alloc, "writes": store.writes}))


main()
