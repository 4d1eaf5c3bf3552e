"""Heap kept by importing one module under MicroPython (gc.mem_alloc after a
collect, before and after). Run in a fresh process per module:
micropython -X heapsize=96K mp_heap.py firmware.drivers.ina228
Board modules get the fake machine module first (its own cost is excluded).
"""

import gc
import sys

name = sys.argv[1]
if name.startswith("firmware.boards.rp2") or name.startswith("firmware.boards.esp32"):
    import mp_fake_machine

    mp_fake_machine.install()
gc.collect()
before = gc.mem_alloc()
__import__(name)
gc.collect()
after = gc.mem_alloc()
print("MPHEAP %s %d %d" % (name, after - before, gc.mem_free()))
