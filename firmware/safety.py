"""Safety supervisor: detection and decision, as data. It never actuates.

Every tick, before the charger acts, ``Supervisor.check(meas)`` compares each
channel against its limit in LIMITS. A limit must be violated on ``debounce``
consecutive ticks to trip (one noisy sample is not a fault; a real fault
persists). The first trip latches: ``fault`` holds its code, value and limit
until ``clear()`` is called, and ``clear()`` refuses while the condition is
still present. The application opens the contactor in the same tick (only
it touches actuators).

Non-finite readings (NaN from an open channel) trip the sensor fault
immediately: an unreadable sensor is never taken as healthy.
"""

from shared.compat import is_finite

# (code, measurement attribute, "max"|"min", config key of the limit,
#  debounce ticks, only while discharging)
# Under-voltage is a fault only under discharge: an anode-less cell with no
# plated Li (fresh, or fully discharged) rests near 0 V by nature
# (CELL_FACTS sec. 1), and charging it from there is the normal start. What
# harms it is the load driving it on past the cut-off.
LIMITS = (
    ("OV", "voltage_v", "max", "v_max_v", 2, False),
    ("UV", "voltage_v", "min", "v_min_v", 3, True),
    ("OC_CHG", "current_a", "max", "i_max_a", 2, False),
    ("OT", "temperature_c", "max", "t_max_c", 2, False),
    ("UT", "temperature_c", "min", "t_min_c", 2, False),
    ("P_HIGH", "pressure_mpa", "max", "p_max_mpa", 3, False),
    ("P_LOW", "pressure_mpa", "min", "p_min_mpa", 3, False),
)

_CHANNELS = ("voltage_v", "current_a", "temperature_c", "pressure_mpa")


class Supervisor:
    def __init__(self, cfg):
        self._limit = [float(cfg[row[3]]) for row in LIMITS]
        # Over-current in discharge uses the same magnitude as charge.
        self._i_max_a = float(cfg["i_max_a"])
        # "Discharging" means a real load current, not sensor noise at rest.
        self._i_discharging_a = 0.02 * self._i_max_a
        self._count = [0] * len(LIMITS)
        self._count_oc_dis = 0
        self.fault = None  # latched code, or None
        self.fault_value = 0.0
        self.fault_limit = 0.0

    def _violated(self, i, meas):
        value = getattr(meas, LIMITS[i][1])
        if LIMITS[i][5] and meas.current_a > -self._i_discharging_a:
            return False, value
        if LIMITS[i][2] == "max":
            return value > self._limit[i], value
        return value < self._limit[i], value

    def check(self, meas):
        """Return the code of a fault latched in this tick, or None."""
        if self.fault is not None:
            return None
        for ch in _CHANNELS:
            v = getattr(meas, ch)
            if not is_finite(v):
                return self._trip("SENSOR_" + ch, 0.0, 0.0)
        for i in range(len(LIMITS)):
            bad, value = self._violated(i, meas)
            if bad:
                self._count[i] += 1
                if self._count[i] >= LIMITS[i][4]:
                    return self._trip(LIMITS[i][0], value, self._limit[i])
            else:
                self._count[i] = 0
        if -meas.current_a > self._i_max_a:
            self._count_oc_dis += 1
            if self._count_oc_dis >= 2:
                return self._trip("OC_DIS", meas.current_a, -self._i_max_a)
        else:
            self._count_oc_dis = 0
        return None

    def _trip(self, code, value, limit):
        self.fault = code
        self.fault_value = value
        self.fault_limit = limit
        return code

    def condition_present(self, meas):
        """Is the latched fault's condition still there now?"""
        if self.fault is None:
            return False
        for i in range(len(LIMITS)):
            if LIMITS[i][0] == self.fault:
                return self._violated(i, meas)[0]
        if self.fault == "OC_DIS":
            return -meas.current_a > self._i_max_a
        for ch in _CHANNELS:
            if self.fault == "SENSOR_" + ch:
                return not is_finite(getattr(meas, ch))
        return True

    def clear(self, meas):
        """Clear the latch if its condition is gone; return True if cleared."""
        if self.fault is None or self.condition_present(meas):
            return False
        self.fault = None
        for i in range(len(self._count)):
            self._count[i] = 0
        self._count_oc_dis = 0
        return True


def _self_check():
    from firmware.config import defaults

    class _M:
        voltage_v = 3.3
        current_a = 0.0
        temperature_c = 25.0
        pressure_mpa = 1.0

    s = Supervisor(defaults())
    m = _M()
    assert s.check(m) is None
    m.voltage_v = 4.5
    assert s.check(m) is None  # debounce: one tick is not a fault
    assert s.check(m) == "OV" and s.fault == "OV"
    assert not s.clear(m)  # condition still present
    m.voltage_v = 3.3
    assert s.clear(m) and s.fault is None
    m.voltage_v = 0.3  # no plated Li, at rest: normal for an anode-less cell
    assert s.check(m) is None and s.check(m) is None and s.check(m) is None
    m.current_a = -0.001  # sensor noise at rest is not a load
    assert s.check(m) is None and s.check(m) is None and s.check(m) is None
    m.current_a = -0.01  # but under load it is a fault
    s.check(m)
    s.check(m)
    assert s.check(m) == "UV"
    m.current_a = 0.0
    m.voltage_v = 3.3
    assert s.clear(m)
    m.temperature_c = float("nan")
    assert s.check(m) == "SENSOR_temperature_c"
    return True
