"""Microchip MCP4725 12-bit I2C DAC driving a programmable current source.

The DAC sets the control voltage of an op-amp current source (or sink):
I = code / 4095 * full_scale_a, where ``full_scale_a`` is the source's
transconductance at the DAC's full-scale output (measured at calibration).
Code 0 is 0 A, so every "off" in this driver is code 0.

Commands used (MCP4725 datasheet, DS22039):
- fast write, 2 bytes: [0 0 PD1 PD0 D11..D8] [D7..D0]; with PD = 00 the
  output follows the code.
- write DAC register and EEPROM, 3 bytes: [0 1 1 x x PD1 PD0 x]
  [D11..D4] [D3..D0 0 0 0 0]: the EEPROM value is what the DAC outputs at
  power-up, before any firmware runs. ``store_power_on_zero()`` writes 0
  there once, at calibration, so a power cycle starts at 0 A.
- read, 5 bytes: status, DAC register (2), EEPROM (2).

Failure behaviour: construction writes code 0 and reads it back; no answer
or a wrong read-back raises RuntimeError naming the address. At run time
``set_current_a`` propagates OSError from the bus (the board turns it into a
fault and opens the contactor): a setpoint that may not have been applied
must not be taken as applied.
"""

from shared.compat import const

_FULL = const(4095)


class MCP4725:
    part = "MCP4725"

    def __init__(self, i2c, addr=0x60, full_scale_a=1.0, gain=1.0, offset_a=0.0):
        if not full_scale_a > 0:
            raise ValueError("full_scale_a: must be > 0")
        self._i2c = i2c
        self.addr = addr
        self.full_scale_a = float(full_scale_a)
        self.gain = gain
        self.offset_a = offset_a
        self._cmd = bytearray(2)
        self._rd = bytearray(5)
        self.code = -1
        try:
            self.write_code(0)
            got = self.read_dac_code()
        except OSError as e:
            raise RuntimeError("MCP4725 at 0x%02x: no answer on I2C (%s): check wiring and address" % (addr, e))
        if got != 0:
            raise RuntimeError("MCP4725 at 0x%02x: DAC reads back %d after writing 0" % (addr, got))

    def write_code(self, code):
        if code < 0:
            code = 0
        elif code > _FULL:
            code = _FULL
        c = self._cmd
        c[0] = (code >> 8) & 0x0F  # fast write, PD = 00 (normal output)
        c[1] = code & 0xFF
        self._i2c.writeto(self.addr, c)
        self.code = code

    def read_dac_code(self):
        r = self._rd
        self._i2c.readfrom_into(self.addr, r)
        return (r[1] << 4) | (r[2] >> 4)

    def code_for(self, current_a):
        """DAC code for a wanted current, with the channel's calibration applied."""
        a = current_a * self.gain + self.offset_a
        if a <= 0.0:
            return 0
        return int(a / self.full_scale_a * _FULL + 0.5)

    def set_current_a(self, current_a):
        """Drive ``current_a`` (>= 0; clamped to full scale); returns the code written."""
        code = self.code_for(current_a)
        self.write_code(code)
        return self.code

    def store_power_on_zero(self):
        """Calibration bench: make 0 A the power-up output (an EEPROM write, ~50 ms, limited endurance)."""
        self._i2c.writeto(self.addr, b"\x60\x00\x00")
        self.code = 0
