"""What a board's ADCs read from a cell: voltage, current, temperature, pressure.

Each channel has a fixed offset and gain error (drawn once per seed, uniform
within the preset's +/- limits, like a part's datasheet spread), Gaussian
noise per read, and quantisation to the ADC step. Faults can be injected per
channel at any simulated time:

- ``stuck``: keeps returning one value (``value=``, default the last reading)
- ``open``: broken wire; reads ``value=`` (default: V 0.0, I 0.0, T -40 degC
  as an open NTC reads cold, P 0.0)
- ``noisy``: noise times ``factor=`` (default 20)
- ``drift``: offset grows at ``rate_per_s=`` (unit of the channel per second)
  from the injection time (the cell's ``time_s``)
- ``clear``: back to normal

Deterministic for a seed: one ``random.Random(seed)`` feeds everything.
"""

import random

CHANNELS = ("v", "i", "t", "p")
SENSOR_FAULTS = ("stuck", "open", "noisy", "drift", "clear")
_OPEN_VALUE = {"v": 0.0, "i": 0.0, "t": -40.0, "p": 0.0}
_KEYS = {
    "v": ("sensor_v_offset_v", "sensor_v_gain_error", "sensor_v_noise_v", "sensor_v_lsb_v"),
    "i": ("sensor_i_offset_a", "sensor_i_gain_error", "sensor_i_noise_a", "sensor_i_lsb_a"),
    "t": ("sensor_t_offset_c", "sensor_t_gain_error", "sensor_t_noise_c", "sensor_t_lsb_c"),
    "p": ("sensor_p_offset_mpa", "sensor_p_gain_error", "sensor_p_noise_mpa", "sensor_p_lsb_mpa"),
}


class _Channel:
    __slots__ = ("offset", "gain", "noise", "lsb", "fault", "fault_value", "noise_factor", "drift_rate", "drift_t0", "last")

    def __init__(self, rng, offset_max, gain_max, noise, lsb):
        self.offset = rng.uniform(-offset_max, offset_max)
        self.gain = 1.0 + rng.uniform(-gain_max, gain_max)
        self.noise = noise
        self.lsb = lsb
        self.fault = None
        self.fault_value = 0.0
        self.noise_factor = 1.0
        self.drift_rate = 0.0
        self.drift_t0 = 0.0
        self.last = 0.0


class Sensors:
    """Sensor front-end for one cell; ``read(cell, current_a) -> (v, i, t, p)``."""

    def __init__(self, params, seed=0):
        self._rng = random.Random(seed)
        self.channels = {}
        for ch in CHANNELS:
            off, gain, noise, lsb = (params[k] for k in _KEYS[ch])
            self.channels[ch] = _Channel(self._rng, off, gain, noise, lsb)
        self._time_s = 0.0

    def _read(self, ch, true_value):
        c = self.channels[ch]
        fault = c.fault
        if fault == "stuck" or fault == "open":
            return c.fault_value
        x = true_value * c.gain + c.offset
        if fault == "drift":
            x += c.drift_rate * (self._time_s - c.drift_t0)
        if c.noise > 0.0:
            x += self._rng.gauss(0.0, c.noise * c.noise_factor)
        if c.lsb > 0.0:
            x = round(x / c.lsb) * c.lsb
        c.last = x
        return x

    def read(self, cell, current_a):
        """Read the cell's terminal voltage, the given current, temperature and pressure."""
        self._time_s = cell.time_s
        return (
            self._read("v", cell.voltage_v),
            self._read("i", current_a),
            self._read("t", cell.temperature_c),
            self._read("p", cell.pressure_mpa),
        )

    def inject(self, channel, fault, **kw):
        """Inject a sensor fault on channel 'v' | 'i' | 't' | 'p' (see module doc)."""
        if channel not in self.channels:
            raise ValueError("unknown channel %r (have %s)" % (channel, ", ".join(CHANNELS)))
        c = self.channels[channel]
        if fault == "stuck":
            c.fault_value = kw.get("value", c.last)
        elif fault == "open":
            c.fault_value = kw.get("value", _OPEN_VALUE[channel])
        elif fault == "noisy":
            c.noise_factor = kw.get("factor", 20.0)
        elif fault == "drift":
            c.drift_rate = kw["rate_per_s"]
            c.drift_t0 = kw.get("time_s", self._time_s)
        elif fault == "clear":
            c.noise_factor = 1.0
            c.drift_rate = 0.0
            fault = None
        else:
            raise ValueError("unknown sensor fault %r (have %s)" % (fault, ", ".join(SENSOR_FAULTS)))
        c.fault = fault
