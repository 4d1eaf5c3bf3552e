"""Self-check of firmware.drivers.ti_ina, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from firmware.drivers.ti_ina import INARegisters


def run():
    class _Bus:
        def __init__(self):
            self.regs = {0xFE: 0x5449, 0xFF: 0x2260}

        def readfrom_mem_into(self, addr, reg, buf):
            v = self.regs[reg]
            buf[0] = v >> 8
            buf[1] = v & 0xFF

        def writeto_mem(self, addr, reg, buf):
            self.regs[reg] = (buf[0] << 8) | buf[1]

    r = INARegisters(_Bus(), 0x40)
    assert r._read_ids("INA226", 0xFE, 0xFF) == 0x2260
    r._write16(0x00, 0x4127)
    assert r._read16(0x00) == 0x4127
    r._i2c.regs[0xFE] = 0x1234
    try:
        r._read_ids("INA226", 0xFE, 0xFF)
    except RuntimeError as e:
        assert "0x40" in str(e) and "manufacturer" in str(e)
    else:
        raise AssertionError("accepted a foreign part")
    return True
