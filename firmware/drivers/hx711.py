"""HX711 24-bit bridge ADC, bit-banged on two pins, reading a load cell.

Protocol (HX711 datasheet): DOUT low means a conversion is ready. Each
PD_SCK pulse shifts out one bit, MSB first, 24 bits of two's complement.
1, 2 or 3 extra pulses choose the input and gain of the NEXT conversion:
25 pulses channel A gain 128, 26 channel B gain 32, 27 channel A gain 64.
PD_SCK held high for more than 60 us powers the chip down, so the board may
hand in ``irq_off``/``irq_on`` (machine.disable_irq/enable_irq) to keep an
interrupt from stretching a pulse in the middle of a word.

Conversion: force_n = (counts - offset_counts) * scale_n_per_count, and the
stack pressure is force over the cell area: 1 MPa = 1 N/mm2 and
1 cm2 = 100 mm2, so pressure_mpa = force_n / (100 * area_cm2).

Why the offset is a calibrated constant and not a tare at boot: the cell
stack sits in its fixture under pressure all the time, so a tare at boot
would zero a real preload. ``tare_counts()`` is for the calibration bench,
with the fixture unloaded; its result goes into the config file.

Failure behaviour: construction waits (up to 0.5 s, with the board's
``wait_ms``) for a first word, so the first tick has a reading; none gives
``fault = "stale"``. After that ``read_counts`` never waits. No new conversion yet (DOUT
high) keeps the last value; ``stale_limit`` polls in a row without one (a
dead chip or a broken DOUT wire reads high) return NaN with
``fault = "stale"``. A word at either end of the 24-bit range means the
bridge input is out of range (an open load cell wire) and gives NaN with
``fault = "saturated"``. The next good word clears the fault.
"""

from shared.compat import const

_SAT_HI = const(0x7FFFFF)
_SAT_LO = const(-0x800000)
_NAN = float("nan")

# gain -> total clock pulses per read (selects input and gain of the next conversion)
PULSES = {128: 25, 64: 27, 32: 26}


class HX711:
    def __init__(self, dout, sck, gain=128, offset_counts=0, scale_n_per_count=1.0, area_cm2=1.0, stale_limit=5, irq_off=None, irq_on=None, wait_ms=None):
        if gain not in PULSES:
            raise ValueError("gain: one of 128, 64 (channel A) or 32 (channel B)")
        if scale_n_per_count == 0 or scale_n_per_count != scale_n_per_count:
            raise ValueError("scale_n_per_count: must be a non-zero number")
        if not area_cm2 > 0:
            raise ValueError("area_cm2: must be > 0")
        self._dout = dout
        self._sck = sck
        self._pulses = PULSES[gain]
        self.offset_counts = offset_counts
        self.scale_n_per_count = scale_n_per_count
        self.area_cm2 = area_cm2
        self.stale_limit = stale_limit
        self._irq_off = irq_off
        self._irq_on = irq_on
        self.counts = None  # last good word
        self._misses = 0
        self.fault = None
        sck.value(0)  # a high clock for > 60 us would power the chip down
        # The first conversion after power-up uses channel A gain 128; one
        # read now makes every later conversion use the configured gain.
        self._shift()
        # Then wait (boot only) for a word at that gain, so the first control
        # tick has a reading: up to 0.5 s, five conversions at 10 SPS.
        for _ in range(100):
            v = self._shift()
            if v is not None:
                self._accept(v)
                break
            if wait_ms:
                wait_ms(5)
        else:
            self.fault = "stale"

    def _shift(self):
        """Clock one word out if DOUT says it is ready; the word, or None."""
        dout = self._dout
        if dout.value():
            return None
        sck = self._sck
        state = self._irq_off() if self._irq_off else None
        v = 0
        for _ in range(24):
            sck.value(1)
            sck.value(0)
            v = (v << 1) | dout.value()
        for _ in range(self._pulses - 24):
            sck.value(1)
            sck.value(0)
        if self._irq_on:
            self._irq_on(state)
        if v & 0x800000:
            v -= 0x1000000
        return v

    def read_counts(self):
        """Latest signed word; the previous one if none is ready; None on a fault."""
        v = self._shift()
        if v is None:
            self._misses += 1
            if self._misses >= self.stale_limit:
                self.fault = "stale"
            if self.fault is None and self.counts is not None:
                return self.counts
            if self.fault is None:
                self.fault = "stale"  # nothing read since power-up
            return None
        self._misses = 0
        return self._accept(v)

    def _accept(self, v):
        if v >= _SAT_HI or v <= _SAT_LO:
            self.fault = "saturated"
            return None
        self.fault = None
        self.counts = v
        return v

    def read_force_n(self):
        c = self.read_counts()
        if c is None:
            return _NAN
        return (c - self.offset_counts) * self.scale_n_per_count

    def read_pressure_mpa(self):
        return self.read_force_n() / (100.0 * self.area_cm2)

    def tare_counts(self, n=10, wait_ms=None):
        """Mean of ``n`` words with the fixture unloaded (calibration bench only: it waits).

        ``wait_ms(ms)`` sleeps between polls (time.sleep_ms on a board).
        """
        total = 0
        got = 0
        polls = 0
        while got < n:
            v = self._shift()
            polls += 1
            if v is not None:
                total += v
                got += 1
            elif wait_ms:
                wait_ms(5)
            if polls > 1000 * n:
                raise RuntimeError("HX711: no conversion ready; check DOUT/PD_SCK wiring")
        return total // n
