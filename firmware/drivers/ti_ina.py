"""Register access shared by the TI INA22x power monitors (INA226, INA228):
16-bit big-endian registers over I2C through one reusable buffer, and the
manufacturer-ID check every part of the family answers the same way."""

from shared.compat import const

_TI_ID = const(0x5449)  # "TI" in ASCII, at MANUFACTURER_ID (0xFE) on every INA22x


class INARegisters:
    def __init__(self, i2c, addr):
        self._i2c = i2c
        self.addr = addr
        self._b2 = bytearray(2)

    def _read16(self, reg):
        b = self._b2
        self._i2c.readfrom_mem_into(self.addr, reg, b)
        return (b[0] << 8) | b[1]

    def _write16(self, reg, value):
        b = self._b2
        b[0] = (value >> 8) & 0xFF
        b[1] = value & 0xFF
        self._i2c.writeto_mem(self.addr, reg, b)

    def _read_ids(self, name, mfr_reg, dev_reg):
        """The device-ID register after checking the manufacturer; a clear
        RuntimeError naming the part and address otherwise."""
        try:
            mfr = self._read16(mfr_reg)
            dev = self._read16(dev_reg)
        except OSError as e:
            raise RuntimeError("%s at 0x%02x: no answer on I2C (%s): check wiring, pull-ups and address" % (name, self.addr, e))
        if mfr != _TI_ID:
            raise RuntimeError("%s at 0x%02x: manufacturer id 0x%04x, expected 0x5449 (TI)" % (name, self.addr, mfr))
        return dev
