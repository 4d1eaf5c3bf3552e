"""A fake ``machine`` module (the hardware boundary of the rp2/esp32 boards),
installed into sys.modules before firmware.boards.rp2/esp32 are imported.

Pins, the I2C bus and ADCs come from a registry the test fills in first:
``HX`` (a FakeHX711 whose pins the DOUT/SCK numbers map to), ``BUS`` (a
FakeI2C with the parts on it), ``ADCS`` (pin -> FakeADC). Everything built
is recorded so the test can look at levels, arguments and feeds.
"""

import sys

from mp_fakes import FakeI2C, FakeADC, FakePin


class _State:
    def __init__(self):
        self.reset()

    def reset(self):
        self.pins = {}  # number -> FakePin (or HX711 pin)
        self.pin_args = {}  # number -> (mode, value) as constructed
        self.hx = None
        self.hx_pins = {}  # number -> "dout" | "sck"
        self.bus = FakeI2C()
        self.i2c_args = None
        self.adcs = {}
        self.adc_args = {}
        self.wdts = []
        self.irq_off = 0


STATE = _State()


class Pin:
    IN = 0
    OUT = 1
    PULL_UP = 1
    PULL_DOWN = 2

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        if id in STATE.hx_pins:
            self._p = getattr(STATE.hx, STATE.hx_pins[id])
        else:
            self._p = STATE.pins.get(id) or FakePin(0)
        STATE.pins[id] = self._p
        if mode != -1:
            STATE.pin_args[id] = (mode, value)
        if value is not None:
            self._p.value(value)

    def value(self, v=None):
        return self._p.value(v)


class I2C:
    def __init__(self, id, scl=None, sda=None, freq=400000):
        STATE.i2c_args = (id, scl.id if scl else None, sda.id if sda else None, freq)

    def __getattr__(self, name):
        return getattr(STATE.bus, name)


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3

    def __init__(self, pin, atten=None):
        STATE.adc_args[pin.id] = atten
        self._a = STATE.adcs.setdefault(pin.id, FakeADC(0.5))

    def read_u16(self):
        return self._a.read_u16()

    def read_uv(self):
        return self._a.read_uv()


class WDT:
    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        self.feeds = 0
        STATE.wdts.append(self)

    def feed(self):
        self.feeds += 1


def disable_irq():
    STATE.irq_off += 1
    return 7


def enable_irq(state):
    assert state == 7


class _Module:
    pass


def install():
    m = _Module()
    for name in ("Pin", "I2C", "ADC", "WDT", "disable_irq", "enable_irq"):
        setattr(m, name, globals()[name])
    sys.modules["machine"] = m
    return m


class FakeClock:
    """time-module stand-in: ticks wrap at 2**30 like the ports; sleep_ms advances."""

    PERIOD = 1 << 30

    def __init__(self, start_ms=0):
        self.t = start_ms % self.PERIOD
        self.slept = []

    def ticks_ms(self):
        return self.t

    def ticks_add(self, t, d):
        return (t + d) % self.PERIOD

    def ticks_diff(self, a, b):
        half = self.PERIOD // 2
        return ((a - b + half) % self.PERIOD) - half

    def sleep_ms(self, ms):
        self.slept.append(ms)
        self.advance(ms)

    def advance(self, ms):
        self.t = (self.t + ms) % self.PERIOD
