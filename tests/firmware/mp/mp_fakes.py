"""Fakes at the hardware boundary, run under MicroPython (and CPython).

Each fake is a register-level (or pin-level) model of one part, computing its
register values from the test's own physical numbers with the datasheet
LSBs, so a driver is checked against the datasheet, not against itself.
File name mp_*.py: pytest must not collect it as a CPython test.
"""

import math


def _clamp(x, lo, hi):
    return lo if x < lo else hi if x > hi else x


class FakeI2C:
    """machine.I2C stand-in: routes transfers to devices by address; absent -> OSError."""

    def __init__(self):
        self.devices = {}
        self.fail = False  # every transfer raises OSError (bus stuck, cable off)
        self.transfers = 0

    def add(self, dev):
        self.devices[dev.addr] = dev
        return dev

    def _dev(self, addr):
        self.transfers += 1
        if self.fail or addr not in self.devices:
            raise OSError(5)  # EIO, as the rp2 port raises on a NACK
        return self.devices[addr]

    def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
        data = self._dev(addr).read_reg(memaddr, len(buf))
        for i in range(len(buf)):
            buf[i] = data[i]

    def readfrom_mem(self, addr, memaddr, nbytes, addrsize=8):
        b = bytearray(nbytes)
        self.readfrom_mem_into(addr, memaddr, b)
        return bytes(b)

    def writeto_mem(self, addr, memaddr, buf, addrsize=8):
        self._dev(addr).write_reg(memaddr, bytes(buf))

    def writeto(self, addr, buf, stop=True):
        self._dev(addr).write(bytes(buf))
        return len(buf)

    def readfrom_into(self, addr, buf, stop=True):
        data = self._dev(addr).read(len(buf))
        for i in range(len(buf)):
            buf[i] = data[i]


def _be(value, nbytes):
    out = bytearray(nbytes)
    for i in range(nbytes):
        out[nbytes - 1 - i] = (value >> (8 * i)) & 0xFF
    return out


def _s_to_u(code, bits):
    return code & ((1 << bits) - 1)


class FakeINA228:
    """INA228 register map (SBOSA20). Physical inputs: current_a, bus_v, die_c."""

    RESET = {0x00: 0x0000, 0x01: 0xFB68, 0x02: 0x1000, 0x03: 0x0000}

    def __init__(self, addr=0x40, shunt_ohm=0.002, device_id=0x2281, manufacturer_id=0x5449):
        self.addr = addr
        self.shunt_ohm = shunt_ohm
        self.current_a = 0.0
        self.bus_v = 0.0
        self.die_c = 25.0
        self.ids = {0x3E: manufacturer_id, 0x3F: device_id}
        self.regs = dict(self.RESET)
        self.resets = 0

    def _vshunt_lsb(self):
        return 78.125e-9 if self.regs[0x00] & 0x10 else 312.5e-9

    def _vshunt_exact(self):
        """Shunt voltage in LSBs before the 20-bit result is rounded (the averaged ADC value)."""
        return self.current_a * self.shunt_ohm / self._vshunt_lsb()

    def read_reg(self, reg, n):
        if reg in self.regs or reg in self.ids:
            assert n == 2, "INA228 reg 0x%02x is 16-bit, read %d bytes" % (reg, n)
            return _be(self.regs.get(reg, self.ids.get(reg, 0)), 2)
        if reg == 0x06:
            assert n == 2
            return _be(_s_to_u(int(round(self.die_c / 7.8125e-3)), 16), 2)
        assert n == 3, "INA228 reg 0x%02x is 24-bit, read %d bytes" % (reg, n)
        if reg == 0x04:
            code = int(round(self._vshunt_exact()))
        elif reg == 0x05:
            code = int(round(self.bus_v / 195.3125e-6))
        elif reg == 0x07:
            # Datasheet arithmetic: CURRENT_LSB * R * SHUNT_CAL scale cancels to
            # current = VSHUNT[LSB] * 4096 / SHUNT_CAL in either ADC range.
            cal = self.regs[0x02] & 0x7FFF
            code = int(round(self._vshunt_exact() * 4096.0 / cal)) if cal else 0
        else:
            raise AssertionError("INA228 fake: register 0x%02x not modelled" % reg)
        code = _clamp(code, -0x80000, 0x7FFFF)
        return _be(_s_to_u(code, 20) << 4, 3)

    def write_reg(self, reg, data):
        assert len(data) == 2, "INA228 writes are 16-bit"
        v = (data[0] << 8) | data[1]
        assert reg in self.regs, "INA228 reg 0x%02x is read-only" % reg
        if reg == 0x00 and v & 0x8000:
            self.regs = dict(self.RESET)
            self.resets += 1
            return
        self.regs[reg] = v


class FakeINA226:
    """INA226 register map (SBOS547). Physical inputs: current_a, bus_v."""

    RESET = {0x00: 0x4127, 0x05: 0x0000, 0x06: 0x0000, 0x07: 0x0000}

    def __init__(self, addr=0x40, shunt_ohm=0.002, die_id=0x2260):
        self.addr = addr
        self.shunt_ohm = shunt_ohm
        self.current_a = 0.0
        self.bus_v = 0.0
        self.ids = {0xFE: 0x5449, 0xFF: die_id}
        self.regs = dict(self.RESET)

    def _shunt_code(self):
        return _clamp(int(round(self.current_a * self.shunt_ohm / 2.5e-6)), -32768, 32767)

    def read_reg(self, reg, n):
        assert n == 2, "INA226 registers are 16-bit"
        if reg in self.regs:
            return _be(self.regs[reg], 2)
        if reg in self.ids:
            return _be(self.ids[reg], 2)
        if reg == 0x01:
            return _be(_s_to_u(self._shunt_code(), 16), 2)
        if reg == 0x02:
            return _be(_clamp(int(round(self.bus_v / 1.25e-3)), 0, 0x7FFF), 2)
        if reg == 0x04:
            # Datasheet: Current = ShuntVoltage * CAL / 2048 (integer result).
            prod = self._shunt_code() * self.regs[0x05]
            code = prod // 2048 if prod >= 0 else -((-prod) // 2048)
            return _be(_s_to_u(_clamp(code, -32768, 32767), 16), 2)
        raise AssertionError("INA226 fake: register 0x%02x not modelled" % reg)

    def write_reg(self, reg, data):
        assert len(data) == 2
        v = (data[0] << 8) | data[1]
        assert reg in self.regs, "INA226 reg 0x%02x is read-only" % reg
        if reg == 0x00 and v & 0x8000:
            self.regs = dict(self.RESET)
            return
        self.regs[reg] = v


class FakeMCP4725:
    """MCP4725: fast write (2 bytes), DAC+EEPROM write (3 bytes), 5-byte read."""

    def __init__(self, addr=0x60, eeprom_code=2048):
        self.addr = addr
        self.eeprom_code = eeprom_code
        self.code = eeprom_code  # power-up loads the EEPROM
        self.pd = 0
        self.writes = 0

    def write(self, data):
        self.writes += 1
        if len(data) == 2:
            assert data[0] & 0xC0 == 0, "fast write has C2C1 = 00"
            self.pd = (data[0] >> 4) & 3
            self.code = ((data[0] & 0x0F) << 8) | data[1]
        elif len(data) == 3 and data[0] & 0xE0 == 0x60:
            self.pd = (data[0] >> 1) & 3
            self.code = (data[1] << 4) | (data[2] >> 4)
            self.eeprom_code = self.code
        else:
            raise AssertionError("MCP4725 fake: command not modelled")

    def read(self, n):
        assert n == 5
        c = self.code
        e = self.eeprom_code
        return bytes((0x80 | (self.pd << 1), c >> 4, (c & 0xF) << 4, (e >> 8) & 0xF, e & 0xFF))


class FakeADC:
    """ADC at a node at ``ratio`` of the divider supply.

    rp2 style (default): 12-bit converter referenced to the supply; read_u16
    scales the 12-bit code to 16 bits the way the port does.
    esp32 style (supply_v, adc_max_v): the converter measures absolute volts
    up to adc_max_v (11 dB: saturates near 3.1 V); read_uv is the calibrated value.
    """

    def __init__(self, ratio=0.5, supply_v=None, adc_max_v=3.1):
        self.ratio = ratio
        self.supply_v = supply_v
        self.adc_max_v = adc_max_v
        self.reads = 0

    def _raw12(self):
        if self.supply_v is None:
            x = self.ratio
        else:
            x = self.ratio * self.supply_v / self.adc_max_v
        return _clamp(int(round(x * 4095)), 0, 4095)

    def read_u16(self):
        self.reads += 1
        r = self._raw12()
        return (r << 4) | (r >> 8)

    def read_uv(self):
        self.reads += 1
        assert self.supply_v is not None, "read_uv on an rp2-style ADC"
        v = _clamp(self.ratio * self.supply_v, 0.0, self.adc_max_v)
        return int(round(v * 1e6))


def ntc_beta_ohm(t_c, r0_ohm=10000.0, t0_c=25.0, beta_k=3950.0):
    return r0_ohm * math.exp(beta_k * (1.0 / (t_c + 273.15) - 1.0 / (t0_c + 273.15)))


def ntc_sh_ohm(t_c, a, b, c):
    """Invert Steinhart-Hart (the cubic in ln R) for a temperature."""
    y = (a - 1.0 / (t_c + 273.15)) / c
    x = math.sqrt((b / (3.0 * c)) ** 3 + (y / 2.0) ** 2)
    return math.exp(_cbrt(x - y / 2.0) - _cbrt(x + y / 2.0))


def _cbrt(v):
    return v ** (1.0 / 3.0) if v >= 0 else -((-v) ** (1.0 / 3.0))


def divider_ratio(r_ntc, r_fixed, topology):
    if topology == "ntc_to_gnd":
        return r_ntc / (r_fixed + r_ntc)
    return r_fixed / (r_fixed + r_ntc)


class FakePin:
    """An output or input pin; records every level written."""

    def __init__(self, level=0):
        self.level = level
        self.history = []

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = 1 if v else 0
        self.history.append(self.level)
        return None


class FakeHX711:
    """HX711 at the pin level: PD_SCK rising edges shift bits out on DOUT.

    ``counts`` is the next conversion's word (signed). After a read, the
    number of pulses given is recorded in ``last_pulses`` (it selects gain
    and channel of the next conversion) when the driver next looks at DOUT.
    ``ready`` False keeps DOUT high (conversion in progress).
    """

    def __init__(self, counts=0):
        self.counts = counts
        self.ready = True
        self.busy_polls = 0  # DOUT stays high for this many more looks (conversion running)
        self.busy_after_read = 0  # looks each new conversion takes after a read
        self.last_pulses = None
        self.words = 0
        self._n = 0
        self._word = 0
        self._bit = 1
        self._sck_level = 0
        self.sck = _HXClock(self)
        self.dout = _HXData(self)

    def _rise(self):
        if self._n == 0:
            assert self.ready, "PD_SCK pulsed while no conversion was ready"
            self._word = self.counts & 0xFFFFFF
        self._n += 1
        if self._n <= 24:
            self._bit = (self._word >> (24 - self._n)) & 1
        else:
            self._bit = 1  # after bit 24 DOUT goes high until the next conversion

    def _dout(self):
        if self._n > 24:  # the driver looks again: the read has ended
            self.last_pulses = self._n
            self.words += 1
            self._n = 0
            self.busy_polls = self.busy_after_read
        if self._n:
            return self._bit
        if self.busy_polls > 0:
            self.busy_polls -= 1
            return 1
        return 0 if self.ready else 1


class _HXClock:
    def __init__(self, hx):
        self._hx = hx

    def value(self, v=None):
        hx = self._hx
        if v is None:
            return hx._sck_level
        v = 1 if v else 0
        if v and not hx._sck_level:
            hx._rise()
        hx._sck_level = v
        return None


class _HXData:
    def __init__(self, hx):
        self._hx = hx

    def value(self, v=None):
        return self._hx._dout()


def run_cases(g, names):
    """Run every ``case_*`` function of the module globals ``g`` (or the
    named ones) and print ``MPCASE name json`` lines for mp_runner.py; an
    exception is reported as the case's result, never stops the run."""
    import json

    for k in sorted(k for k in g if k.startswith("case_")):
        name = k[5:]
        if names and name not in names:
            continue
        try:
            res = g[k]()
        except Exception as e:
            res = {"error": type(e).__name__ + ": " + str(e)}
        print("MPCASE " + name + " " + json.dumps(res))
