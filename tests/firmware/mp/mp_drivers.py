"""Driver cases run under MicroPython: each case returns a dict of numbers that
tests/firmware/test_drivers_*.py assert on. Run: micropython mp_drivers.py [case ...]

Output: one line per case, ``MPCASE <name> <json>``; an exception in a case
becomes ``{"error": "<type>: <message>"}``.
"""

import json
import sys

from mp_fakes import run_cases, FakeI2C, FakeINA228, FakeINA226, FakeMCP4725, FakeADC, FakePin, FakeHX711
from mp_fakes import ntc_beta_ohm, ntc_sh_ohm, divider_ratio

NAN_TEXT = "nan"


def _num(x):
    return NAN_TEXT if x != x else x


# --- INA228 ----------------------------------------------------------------
def _ina228(shunt_ohm=0.002, max_a=10.0, **kw):
    from firmware.drivers.ina228 import INA228

    bus = FakeI2C()
    dev = bus.add(FakeINA228(0x40, shunt_ohm))
    return INA228(bus, 0x40, shunt_ohm, max_a, **kw), dev, bus


def case_ina228_current():
    ina, dev, _ = _ina228()
    out = {"lsb_a": ina.current_lsb_a, "shunt_cal": dev.regs[0x02], "adcrange": (dev.regs[0x00] >> 4) & 1, "resets": dev.resets}
    for name, a in (("pos", 1.234), ("neg", -0.5), ("small", 0.0123)):
        dev.current_a = a
        out[name + "_a"] = ina.read_current_a()
    return out


def case_ina228_wide_range():
    # 50 A on 2 mOhm = 100 mV: needs the +-163.84 mV range.
    ina, dev, _ = _ina228(0.002, 50.0)
    dev.current_a = 37.5
    return {"adcrange": (dev.regs[0x00] >> 4) & 1, "shunt_cal": dev.regs[0x02], "lsb_a": ina.current_lsb_a, "read_a": ina.read_current_a()}


def case_ina228_bus_and_temp():
    ina, dev, _ = _ina228(conversion_us=540, averages=16)
    dev.bus_v = 3.6521
    dev.die_c = -12.34
    dev.current_a = 2.0
    return {
        "bus_v": ina.read_bus_voltage_v(),
        "die_c": ina.read_die_temperature_c(),
        "shunt_v": ina.read_shunt_voltage_v(),
        "adc_config": dev.regs[0x01],
        "cycle_ms": ina.cycle_ms,
    }


def case_ina228_wrong_id():
    from firmware.drivers.ina228 import INA228

    bus = FakeI2C()
    bus.add(FakeINA228(0x40, device_id=0x2381))  # an INA238
    try:
        INA228(bus, 0x40, 0.002, 10.0)
    except RuntimeError as e:
        return {"error_text": str(e)}
    return {"error_text": None}


def case_ina228_absent():
    from firmware.drivers.ina228 import INA228

    try:
        INA228(FakeI2C(), 0x41, 0.002, 10.0)
    except RuntimeError as e:
        return {"error_text": str(e)}
    return {"error_text": None}


def case_ina228_bad_params():
    from firmware.drivers.ina228 import INA228

    bus = FakeI2C()
    bus.add(FakeINA228(0x40))
    out = {}
    for name, args in (("range", (0.01, 20.0, 1052, 64)), ("ct", (0.002, 10.0, 1000, 64)), ("avg", (0.002, 10.0, 1052, 3))):
        try:
            INA228(bus, 0x40, *args)
            out[name] = None
        except ValueError as e:
            out[name] = str(e)
    return out


def case_ina228_i2c_error():
    ina, dev, bus = _ina228()
    dev.current_a = 1.0
    bus.fail = True
    i_bad = ina.read_current_a()
    fault = ina.fault
    bus.fail = False
    i_good = ina.read_current_a()
    return {"bad_a": _num(i_bad), "fault": fault, "good_a": i_good, "fault_after": ina.fault, "errors": ina.errors}


# --- INA226 ----------------------------------------------------------------
def case_ina226_current():
    from firmware.drivers.ina226 import INA226

    bus = FakeI2C()
    dev = bus.add(FakeINA226(0x45, 0.002))
    ina = INA226(bus, 0x45, 0.002, 10.0, 1100, 16)
    out = {"lsb_a": ina.current_lsb_a, "cal": dev.regs[0x05], "config": dev.regs[0x00]}
    for name, a in (("pos", 1.234), ("neg", -0.5)):
        dev.current_a = a
        out[name + "_a"] = ina.read_current_a()
    dev.bus_v = 3.6521
    out["bus_v"] = ina.read_bus_voltage_v()
    return out


def case_ina226_wrong_id():
    from firmware.drivers.ina226 import INA226

    bus = FakeI2C()
    bus.add(FakeINA226(0x40, die_id=0x2290))
    try:
        INA226(bus, 0x40, 0.002, 10.0)
    except RuntimeError as e:
        return {"error_text": str(e)}
    return {"error_text": None}


# --- NTC -------------------------------------------------------------------
def _ntc_reading(t_c, topology="ntc_to_gnd", model="beta", esp32=False):
    from firmware.drivers.ntc import NTC

    sh = (1.009249522e-3, 2.378405444e-4, 2.019202697e-7)
    r = ntc_beta_ohm(t_c) if model == "beta" else ntc_sh_ohm(t_c, sh[0], sh[1], sh[2])
    ratio = divider_ratio(r, 10000.0, topology)
    adc = FakeADC(ratio, supply_v=3.3 if esp32 else None)
    ntc = NTC(adc, 10000.0, topology, 3950.0, 10000.0, 25.0, sh if model == "steinhart_hart" else None, 8, 0.01, 3300000 if esp32 else 0)
    return ntc.read_temperature_c(), ntc


def case_ntc_temperatures():
    out = {}
    for topo in ("ntc_to_gnd", "ntc_to_vref"):
        for model in ("beta", "steinhart_hart"):
            for t in (-5.0, 25.0, 60.0):
                got, _ = _ntc_reading(t, topo, model)
                out["%s_%s_%d" % (topo, model, int(t))] = got
    for t in (25.0, 60.0):
        got, _ = _ntc_reading(t, "ntc_to_gnd", "beta", esp32=True)
        out["esp32_beta_%d" % int(t)] = got
    return out


def case_ntc_faults():
    from firmware.drivers.ntc import NTC

    out = {}
    for topo in ("ntc_to_gnd", "ntc_to_vref"):
        for name, ratio in (("rail_hi", 1.0), ("rail_lo", 0.0)):
            ntc = NTC(FakeADC(ratio), 10000.0, topo)
            t = ntc.read_temperature_c()
            out["%s_%s" % (topo, name)] = [_num(t), ntc.fault]
    # ESP32, NTC open in ntc_to_gnd: node at the 3.3 V rail, ADC saturated near 3.1 V.
    ntc = NTC(FakeADC(1.0, supply_v=3.3), 10000.0, "ntc_to_gnd", supply_uv=3300000)
    t = ntc.read_temperature_c()
    out["esp32_open"] = [_num(t), ntc.fault]
    # Recovery: the next good reading clears the fault.
    adc = FakeADC(1.0)
    ntc = NTC(adc, 10000.0)
    ntc.read_temperature_c()
    adc.ratio = 0.5
    t = ntc.read_temperature_c()
    out["recovered"] = [t, ntc.fault]
    return out


# --- HX711 -----------------------------------------------------------------
def _hx(counts=0, gain=128, **kw):
    from firmware.drivers.hx711 import HX711

    fake = FakeHX711(counts)
    hx = HX711(fake.dout, fake.sck, gain, **kw)
    return hx, fake


def case_hx711_words():
    out = {}
    for c in (0, 1, 123456, -1, -123456, -0x7FFFFF, 0x7FFFFE):
        hx, fake = _hx(c)
        out[str(c)] = hx.read_counts()
    return out


def case_hx711_gain_pulses():
    out = {}
    for gain in (128, 64, 32):
        hx, fake = _hx(1000, gain)
        hx.read_counts()
        fake._dout()  # the read ends when DOUT is next looked at
        out[str(gain)] = fake.last_pulses
    return out


def case_hx711_pressure():
    # 2 kN on 20 cm2 = 1 MPa. offset 5000 counts, 0.01 N per count.
    hx, fake = _hx(205000, 128, offset_counts=5000, scale_n_per_count=0.01, area_cm2=20.0)
    p = hx.read_pressure_mpa()
    fake.counts = -95000  # negative counts: tension, e.g. a cell that lost preload
    f = hx.read_force_n()
    return {"pressure_mpa": p, "force_n": f}


def case_hx711_faults():
    hx, fake = _hx(1000, 128, stale_limit=3)
    first = hx.read_counts()
    fake.ready = False
    held = [hx.read_counts(), hx.read_counts()]
    stale = hx.read_counts()
    stale_fault = hx.fault
    fake.ready = True
    fake.counts = 0x7FFFFF
    sat = hx.read_force_n()
    sat_fault = hx.fault
    fake.counts = 2000
    good = hx.read_counts()
    return {"first": first, "held": held, "stale": stale, "stale_fault": stale_fault, "sat": _num(sat), "sat_fault": sat_fault, "good": good, "fault_after": hx.fault}


def case_hx711_boot_wait():
    """At boot the chip is still converting: the driver waits for a first word."""
    from firmware.drivers.hx711 import HX711

    fake = FakeHX711(4242)
    fake.busy_after_read = 12  # each conversion takes 12 looks
    waits = []
    hx = HX711(fake.dout, fake.sck, 128, wait_ms=waits.append)
    first_ok = hx.read_counts()
    # A chip that never becomes ready: NaN and "stale" from the first tick.
    dead = FakeHX711(0)
    dead.ready = False
    waits_dead = []
    hx2 = HX711(dead.dout, dead.sck, 128, wait_ms=waits_dead.append)
    return {"first": first_ok, "fault": hx.fault, "waits": len(waits), "dead_fault": hx2.fault, "dead_read": _num(hx2.read_force_n()), "dead_wait_ms": sum(waits_dead)}


def case_hx711_tare():
    hx, fake = _hx(-4321)
    return {"tare": hx.tare_counts(4)}


# --- MCP4725 and contactor -------------------------------------------------
def case_mcp4725():
    from firmware.drivers.mcp4725 import MCP4725

    bus = FakeI2C()
    dev = bus.add(FakeMCP4725(0x60, eeprom_code=4095))  # worst case: EEPROM at full scale
    dac = MCP4725(bus, 0x60, full_scale_a=0.2)
    after_init = dev.code
    codes = {}
    for a in (0.0, 0.05, 0.1, 0.2, 0.5, -0.1):
        dac.set_current_a(a)
        codes[str(a)] = dev.code
    dac.store_power_on_zero()
    return {"after_init": after_init, "codes": codes, "eeprom": dev.eeprom_code, "pd": dev.pd}


def case_mcp4725_absent():
    from firmware.drivers.mcp4725 import MCP4725

    try:
        MCP4725(FakeI2C(), 0x61, 0.1)
    except RuntimeError as e:
        return {"error_text": str(e)}
    return {"error_text": None}


def case_contactor():
    from firmware.drivers.contactor import Contactor

    out = {}
    for active_high in (True, False):
        pin = FakePin(level=1 - Contactor.open_level(active_high))  # worst case: pin starts "closed"
        c = Contactor(pin, active_high)
        at_init = pin.level
        c.set(True)
        closed = pin.level
        c.set(False)
        out[str(active_high)] = [at_init, closed, pin.level]
    return out


# --- allocation in the read path --------------------------------------------
class _StaticI2C:
    """Serves fixed register bytes without allocating, so gc.mem_alloc sees only the driver."""

    def __init__(self, regs):
        self.regs = regs

    def readfrom_mem_into(self, addr, memaddr, buf):
        src = self.regs[memaddr]
        for i in range(len(buf)):
            buf[i] = src[i]


def case_read_path_alloc():
    import gc

    ina, dev, bus = _ina228()
    dev.current_a = 1.0
    dev.bus_v = 3.3
    # Same register contents, from a bus that does not allocate.
    ina._i2c = _StaticI2C({0x07: bytes(dev.read_reg(0x07, 3)), 0x05: bytes(dev.read_reg(0x05, 3))})
    ina.read_current_a()
    ina.read_bus_voltage_v()
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    for _ in range(100):
        ina.read_current_a()
        ina.read_bus_voltage_v()
    a1 = gc.mem_alloc()
    gc.enable()
    return {"bytes_per_read_pair": (a1 - a0) / 100.0}


run_cases(globals(), sys.argv[1:])
