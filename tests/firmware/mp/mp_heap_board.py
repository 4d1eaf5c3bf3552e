"""Heap for a whole board bring-up under MicroPython: import the board module
and run make_board() against the fakes (whose own import is measured apart
and subtracted). micropython -X heapsize=N mp_heap_board.py rp2|esp32 TMPDIR"""

import gc
import sys

import mp_fake_machine as fm
from mp_fakes import FakeADC, FakeINA228, FakeMCP4725, FakeHX711

fm.install()
board = sys.argv[1]
st = fm.STATE
dout, sck = (14, 15) if board == "rp2" else (19, 18)
st.hx = FakeHX711(1000)
st.hx_pins = {dout: "dout", sck: "sck"}
st.bus.add(FakeINA228(0x40))
st.bus.add(FakeMCP4725(0x60))
st.bus.add(FakeMCP4725(0x61))
st.adcs[26 if board == "rp2" else 34] = FakeADC(0.5) if board == "rp2" else FakeADC(0.5, supply_v=3.3)
clock = fm.FakeClock()
gc.collect()
before = gc.mem_alloc()
mod = __import__("firmware.boards." + board, None, None, ["make_board"])
b = mod.make_board(sys.argv[2] + "/none.json", clock)
b.read_voltage_v()
b.read_current_a()
b.read_temperature_c()
b.read_pressure_mpa()
gc.collect()
kept = gc.mem_alloc() - before
# What the running board keeps once main.py drops the board's boot modules
# (firmware.boot.BOARD_MODULES: the board module and its config validator).
from firmware.boot import BOARD_MODULES
from shared.compat import forget

del mod
forget(BOARD_MODULES + ("firmware.boot",))
b.read_voltage_v()  # the board still works without them
print("MPHEAPBOARD %s %d %d %d" % (board, kept, gc.mem_alloc() - before, gc.mem_free()))
