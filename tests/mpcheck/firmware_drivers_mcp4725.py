"""Self-check of firmware.drivers.mcp4725, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from firmware.drivers.mcp4725 import MCP4725

_FULL = 4095  # the DAC's full-scale code (the module's const)


def run():
    class _Bus:
        code = 1234

        def writeto(self, addr, buf):
            self.code = ((buf[0] & 0x0F) << 8) | buf[1]

        def readfrom_into(self, addr, buf):
            buf[1] = self.code >> 4
            buf[2] = (self.code & 0xF) << 4

    bus = _Bus()
    dac = MCP4725(bus, 0x60, full_scale_a=0.2)
    assert bus.code == 0
    assert dac.set_current_a(0.1) == 2048 and bus.code == 2048
    assert dac.set_current_a(-1.0) == 0 and dac.set_current_a(9.0) == _FULL
    return True
