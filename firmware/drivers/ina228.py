"""TI INA228: 20-bit I2C power monitor (shunt current, bus voltage, die temperature).

Written from the register descriptions of the INA228 datasheet (SBOSA20).
All registers are big-endian; the 24-bit results hold a 20-bit two's
complement value in bits 23..4.

Set-up (``__init__``): check the manufacturer ID (0x5449, "TI") and the die ID
(0x228 in DEVICE_ID bits 15..4), reset, pick the shunt ADC range, program
conversion time and averaging (continuous bus + shunt + temperature), and
write SHUNT_CAL computed from the shunt resistance and the largest expected
current (datasheet: CURRENT_LSB = I_max / 2**19,
SHUNT_CAL = 13107.2e6 * CURRENT_LSB * R_shunt, times 4 in the +-40.96 mV
range). SHUNT_CAL is an integer, so the driver converts CURRENT with the LSB
that the rounded SHUNT_CAL really gives, not the nominal one.

Failure behaviour: an absent part (no I2C answer) or a wrong ID raises
RuntimeError at construction, naming the address; impossible parameters
(I_max * R above the 163.84 mV range, SHUNT_CAL out of its 15 bits) raise
ValueError. At run time an I2C error makes the read return NaN and sets
``fault = "i2c"`` (cleared by the next good read); it never raises.
"""

from shared.compat import const
from firmware.drivers.ti_ina import INARegisters

_CONFIG = const(0x00)
_ADC_CONFIG = const(0x01)
_SHUNT_CAL = const(0x02)
_VSHUNT = const(0x04)
_VBUS = const(0x05)
_DIETEMP = const(0x06)
_CURRENT = const(0x07)
_MANUFACTURER_ID = const(0x3E)
_DEVICE_ID = const(0x3F)

_DIE_ID = const(0x228)
_RESET = const(0x8000)
_ADCRANGE = const(0x0010)  # CONFIG bit 4: 1 selects +-40.96 mV
_MODE_CONT_ALL = const(0xF)  # continuous bus, shunt and temperature

# Conversion times (us) for codes 0..7 and averaging counts for codes 0..7.
CONVERSION_US = (50, 84, 150, 280, 540, 1052, 2074, 4120)
AVERAGES = (1, 4, 16, 64, 128, 256, 512, 1024)

_VBUS_LSB_V = 195.3125e-6
_VSHUNT_LSB_V = (312.5e-9, 78.125e-9)  # by ADCRANGE 0 / 1
_RANGE_V = (0.16384, 0.04096)
_DIETEMP_LSB_C = 7.8125e-3
_CAL_SCALE = 13107.2e6
_NAN = float("nan")


def _s20(b):
    """Bits 23..4 of a 3-byte big-endian register as a signed 20-bit int."""
    raw = ((b[0] << 16) | (b[1] << 8) | b[2]) >> 4
    if raw & 0x80000:
        raw -= 0x100000
    return raw


class INA228(INARegisters):
    part = "INA228"

    def __init__(self, i2c, addr=0x40, shunt_ohm=0.002, max_current_a=10.0, conversion_us=1052, averages=64):
        if not shunt_ohm > 0:
            raise ValueError("shunt_ohm: must be > 0")
        if not max_current_a > 0:
            raise ValueError("max_current_a: must be > 0")
        if conversion_us not in CONVERSION_US:
            raise ValueError("conversion_us: one of " + str(CONVERSION_US))
        if averages not in AVERAGES:
            raise ValueError("averages: one of " + str(AVERAGES))
        full_scale_v = max_current_a * shunt_ohm
        if full_scale_v > _RANGE_V[0]:
            raise ValueError("max_current_a: I_max * shunt_ohm = %.4f V exceeds the 0.16384 V shunt range" % full_scale_v)
        INARegisters.__init__(self, i2c, addr)
        self._b3 = bytearray(3)
        self.fault = None
        self.errors = 0
        self._check_id()
        # The finer +-40.96 mV range gives 4x resolution when the full-scale
        # shunt voltage fits in it; low plating currents need that resolution.
        self.adc_range = 1 if full_scale_v <= _RANGE_V[1] else 0
        nominal_lsb_a = max_current_a / 524288.0  # 2**19
        k = _CAL_SCALE * shunt_ohm * (4 if self.adc_range else 1)
        cal = int(k * nominal_lsb_a + 0.5)
        if not 1 <= cal <= 0x7FFF:
            raise ValueError("shunt_ohm/max_current_a: SHUNT_CAL %d outside 1..32767" % cal)
        self.shunt_cal = cal
        self.current_lsb_a = cal / k  # the LSB the rounded SHUNT_CAL really gives
        self.vshunt_lsb_v = _VSHUNT_LSB_V[self.adc_range]
        ct = CONVERSION_US.index(conversion_us)
        # One full cycle (bus + shunt + temperature, each averaged): readings
        # are at most this old.
        self.cycle_ms = 3 * conversion_us * averages / 1000.0
        self._write16(_CONFIG, _RESET)
        self._write16(_CONFIG, _ADCRANGE if self.adc_range else 0)
        self._write16(_ADC_CONFIG, (_MODE_CONT_ALL << 12) | (ct << 9) | (ct << 6) | (ct << 3) | AVERAGES.index(averages))
        self._write16(_SHUNT_CAL, cal)
        if self._read16(_SHUNT_CAL) != cal:
            raise RuntimeError("INA228 at 0x%02x: SHUNT_CAL did not read back; I2C writes are lost" % addr)

    def _check_id(self):
        dev = self._read_ids("INA228", _MANUFACTURER_ID, _DEVICE_ID)
        if dev >> 4 != _DIE_ID:
            raise RuntimeError("INA228 at 0x%02x: device id 0x%04x is not an INA228 (0x228x)" % (self.addr, dev))

    def _read20(self, reg):
        """Signed 20-bit result, or None after an I2C error (fault set)."""
        try:
            self._i2c.readfrom_mem_into(self.addr, reg, self._b3)
        except OSError:
            self.errors += 1
            self.fault = "i2c"
            return None
        self.fault = None
        return _s20(self._b3)

    # --- readings (no allocation beyond the float result) ----------------
    def read_current_a(self):
        """Shunt current, + when flowing IN+ -> IN-; NaN on an I2C error."""
        raw = self._read20(_CURRENT)
        return _NAN if raw is None else raw * self.current_lsb_a

    def read_bus_voltage_v(self):
        raw = self._read20(_VBUS)
        return _NAN if raw is None else raw * _VBUS_LSB_V

    def read_shunt_voltage_v(self):
        raw = self._read20(_VSHUNT)
        return _NAN if raw is None else raw * self.vshunt_lsb_v

    def read_die_temperature_c(self):
        try:
            raw = self._read16(_DIETEMP)
        except OSError:
            self.errors += 1
            self.fault = "i2c"
            return _NAN
        if raw & 0x8000:
            raw -= 0x10000
        return raw * _DIETEMP_LSB_C
