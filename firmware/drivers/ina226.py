"""TI INA226: 16-bit I2C power monitor, the alternative to the INA228.

Written from the register descriptions of the INA226 datasheet (SBOS547).
Registers are 16-bit big-endian. Shunt voltage: signed, 2.5 uV/LSB over
+-81.92 mV. Bus voltage: 1.25 mV/LSB. Current: signed,
Current = ShuntVoltage * CAL / 2048, with CAL = 0.00512 / (Current_LSB * R)
and Current_LSB = I_max / 2**15 (datasheet sec. 7.5). CAL is an integer, so
the driver converts with the LSB the rounded CAL really gives.

Compared with the INA228 its shunt ADC step (2.5 uV, 1.25 mA on a 2 mOhm
shunt) is 32x coarser than the INA228's +-40.96 mV range: fine for amps,
marginal for the mA plating currents of a small anode-less cell.

Failure behaviour: as the INA228 driver. No answer or wrong IDs
(manufacturer 0x5449, die 0x2260) raise RuntimeError at construction naming
the address; impossible parameters raise ValueError; an I2C error at run
time returns NaN and sets ``fault = "i2c"``.
"""

from shared.compat import const
from firmware.drivers.ti_ina import INARegisters

_CONFIG = const(0x00)
_SHUNT = const(0x01)
_BUS = const(0x02)
_CURRENT = const(0x04)
_CALIBRATION = const(0x05)
_MANUFACTURER_ID = const(0xFE)
_DIE_ID = const(0xFF)

_INA226_ID = const(0x2260)
_RESET = const(0x8000)
_CONFIG_FIXED = const(0x4000)  # bit 14 is reserved and reads 1
_MODE_CONT_BOTH = const(0x7)  # shunt and bus, continuous

CONVERSION_US = (140, 204, 332, 588, 1100, 2116, 4156, 8244)
AVERAGES = (1, 4, 16, 64, 128, 256, 512, 1024)

_SHUNT_LSB_V = 2.5e-6
_BUS_LSB_V = 1.25e-3
_RANGE_V = 0.08192
_CAL_SCALE = 0.00512
_NAN = float("nan")


class INA226(INARegisters):
    part = "INA226"
    vshunt_lsb_v = _SHUNT_LSB_V

    def __init__(self, i2c, addr=0x40, shunt_ohm=0.002, max_current_a=10.0, conversion_us=1100, averages=64):
        if not shunt_ohm > 0:
            raise ValueError("shunt_ohm: must be > 0")
        if not max_current_a > 0:
            raise ValueError("max_current_a: must be > 0")
        if conversion_us not in CONVERSION_US:
            raise ValueError("conversion_us: one of " + str(CONVERSION_US))
        if averages not in AVERAGES:
            raise ValueError("averages: one of " + str(AVERAGES))
        if max_current_a * shunt_ohm > _RANGE_V:
            raise ValueError("max_current_a: I_max * shunt_ohm = %.4f V exceeds the 0.08192 V shunt range" % (max_current_a * shunt_ohm))
        INARegisters.__init__(self, i2c, addr)
        self.fault = None
        self.errors = 0
        self._check_id()
        nominal_lsb_a = max_current_a / 32768.0  # 2**15
        cal = int(_CAL_SCALE / (nominal_lsb_a * shunt_ohm) + 0.5)
        if not 1 <= cal <= 0x7FFF:
            raise ValueError("shunt_ohm/max_current_a: CAL %d outside 1..32767" % cal)
        self.cal = cal
        self.current_lsb_a = _CAL_SCALE / (cal * shunt_ohm)
        ct = CONVERSION_US.index(conversion_us)
        self.cycle_ms = 2 * conversion_us * averages / 1000.0
        self._write16(_CONFIG, _RESET)
        self._write16(_CONFIG, _CONFIG_FIXED | (AVERAGES.index(averages) << 9) | (ct << 6) | (ct << 3) | _MODE_CONT_BOTH)
        self._write16(_CALIBRATION, cal)
        if self._read16(_CALIBRATION) != cal:
            raise RuntimeError("INA226 at 0x%02x: CAL did not read back; I2C writes are lost" % addr)

    def _check_id(self):
        die = self._read_ids("INA226", _MANUFACTURER_ID, _DIE_ID)
        if die != _INA226_ID:
            raise RuntimeError("INA226 at 0x%02x: device id 0x%04x is not an INA226 (0x2260)" % (self.addr, die))

    def _read_s16(self, reg):
        try:
            raw = self._read16(reg)
        except OSError:
            self.errors += 1
            self.fault = "i2c"
            return None
        self.fault = None
        return raw - 0x10000 if raw & 0x8000 else raw

    def read_current_a(self):
        """Shunt current, + when flowing IN+ -> IN-; NaN on an I2C error."""
        raw = self._read_s16(_CURRENT)
        return _NAN if raw is None else raw * self.current_lsb_a

    def read_bus_voltage_v(self):
        raw = self._read_s16(_BUS)
        return _NAN if raw is None else raw * _BUS_LSB_V

    def read_shunt_voltage_v(self):
        raw = self._read_s16(_SHUNT)
        return _NAN if raw is None else raw * _SHUNT_LSB_V

    def read_die_temperature_c(self):
        return _NAN  # the INA226 has no temperature sensor
