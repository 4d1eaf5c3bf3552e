"""Self-check of firmware.boards.hardware, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from firmware.boards.hardware import Contactor, HardwareBoard


def run():
    class _Stub:  # clock, DAC and pin in one: a tick wrap 300 ms ahead
        t = (1 << 30) - 300
        code = 0

        def ticks_ms(self):
            return self.t

        def ticks_add(self, a, d):
            return (a + d) & 0x3FFFFFFF

        def ticks_diff(self, a, b):
            return ((a - b + 0x20000000) & 0x3FFFFFFF) - 0x20000000

        def sleep_ms(self, ms):
            self.t = self.ticks_add(self.t, ms)

        def write_code(self, c):
            self.code = c

        def set_current_a(self, a):
            self.code = int(a * 1000)

        def value(self, v=None):
            pass

    cal = {}
    for k in ("voltage", "current", "temperature", "pressure"):
        cal[k + "_gain"] = 1.0
    for k in ("voltage_offset_v", "current_offset_a", "temperature_offset_c", "pressure_offset_mpa"):
        cal[k] = 0.0
    clk, src, load = _Stub(), _Stub(), _Stub()
    b = HardwareBoard(None, None, None, src, load, Contactor(clk), cal, clk)
    clk.t = clk.ticks_add(clk.t, 200)  # 200 ms of work
    b.wait_tick(1000)
    assert clk.t == 900 and b.overruns == 0 and abs(b.time_s() - 1.2) < 1e-9
    b.set_current_a(0.5)
    assert (src.code, load.code) == (500, 0)
    b.set_current_a(-0.25)
    assert (src.code, load.code) == (0, 250)
    return True
