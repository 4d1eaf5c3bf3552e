"""The heap one signed command needs, judged as a board judges it.

Run by tests/firmware/test_command_heap.py in a folder laid out as a flashed
board (compiled firmware/ and shared/, case.json): the resident modules a
board holds when a command arrives are loaded, the heap is filled with
ballast until about ``free_bytes`` (case.json) are left, then the command
code is loaded, the handler made and the command judged, as
firmware/app.py does. Prints ``FITS <free> <code>`` or ``SHORT <free>``.
"""

import binascii
import gc
import json

# Resident on a board when a command arrives (firmware/main.py's loop):
# their code and their interned names.
import firmware.app  # noqa: F401
import firmware.mqtt  # noqa: F401
import firmware.persist  # noqa: F401
import firmware.spill  # noqa: F401
from shared.compat import forget
from firmware.cmdlimits import resolve
from firmware.config import defaults

with open("case.json") as f:
    case = json.loads(f.read())
spec = resolve(defaults())
key = binascii.unhexlify(case["key_hex"])
payload = binascii.unhexlify(case["payload_hex"])
topic = case["topic"]
target = case["free_bytes"]
f = None
forget(("firmware.cmdlimits", "firmware.config"))  # boot-only on a board
ballast = None
while gc.mem_free() > target + 32:
    ballast = (ballast, bytearray(16))  # a chain of small blocks: no large list to grow
gc.collect()
left = gc.mem_free()
code = None
try:
    from firmware.commands import CommandHandler

    h = CommandHandler(case["cell"], spec, key, 0)
    d = h.handle(topic, payload)
    code = d.code if d.accepted else None  # internal: short after the counter moved
except MemoryError:
    pass
print(("FITS %d %s" % (left, code)) if code else ("SHORT %d" % left))
