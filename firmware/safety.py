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

Beyond the per-channel limits (all thresholds are config, i.e. data):
- ``P_RATE``: stack pressure changing faster than ``p_rate_max_mpa_s``
  over ``p_rate_window_s`` (a fixture letting go, or a cell swelling
  abnormally; cell-physics sec. 4). A fixed ring of readings, no allocation.
- ``SOFT_SHORT``: at rest (contactor open), after ``rest_settle_s`` of
  relaxation, the voltage falls faster than ``rest_decay_max_v_h``
  between consecutive ``rest_window_s`` windows (a leakage path draining
  the plated Li; cell-physics sec. 6: self-discharge is the first sign of a
  soft short).
- ``CE_ANOMALY`` (``check_cycle``, once per cycle): CE above
  ``ce_max`` (charge came out that never went in: a measurement fault or a
  short bypassing the counter), or a drop of more than ``ce_drop_max``
  from the previous regular cycle (a leak eating the charge; sec. 6).
- Plausibility: a reading at a rail (``SENSOR_RANGE`` table: an open or
  shorted NTC reads the rail; a broken divider reads 0) or a voltage
  frozen to the bit for ``stuck_ticks`` while current flows
  (``SENSOR_voltage_v_STUCK``).
"""

from shared.compat import const, is_finite

# (code, measurement attribute, "max"|"min", config key of the limit,
#  debounce ticks, only while discharging)
# Under-voltage is a fault only under discharge: an anode-less cell with no
# plated Li (fresh, or fully discharged) rests near 0 V by nature
# (cell-physics sec. 1), and charging it from there is the normal start. What
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

_CHANNELS = const(("voltage_v", "current_a", "temperature_c", "pressure_mpa"))

# Physically implausible readings: the rails of the front ends (channel, lo, hi).
SENSOR_RANGE = (
    ("voltage_v", -0.5, 6.0),
    ("temperature_c", -39.5, 125.0),
    ("pressure_mpa", -0.5, 200.0),
)


class Supervisor:
    def __init__(self, cfg):
        self._limit = [float(cfg[row[3]]) for row in LIMITS]
        # Over-current in discharge uses the same magnitude as charge.
        self._i_max_a = float(cfg["i_max_a"])
        # "Discharging" means a real load current, not sensor noise at rest.
        self._i_discharging_a = 0.02 * self._i_max_a
        self._count = [0] * len(LIMITS)
        self._count_oc_dis = 0
        # Pressure-rate ring: one reading per tick over the window.
        n = cfg["p_rate_window_s"] * 1000 // cfg["control_period_ms"]
        self._p_ring = [0.0] * (n if n > 1 else 2)
        self._p_k = 0
        self._p_n = 0
        self._p_rate_max = cfg["p_rate_max_mpa_s"]
        self._p_window_s = len(self._p_ring) * cfg["control_period_ms"] / 1000.0
        # Rest monitor.
        self._rest_settle_s = cfg["rest_settle_s"]
        self._rest_window_s = cfg["rest_window_s"]
        self._rest_decay_max = cfg["rest_decay_max_v_h"]
        self._rest_s = 0.0
        self._win_sum = 0.0
        self._win_n = 0
        self._win_prev = -1.0
        self.rest_decay_v_h = 0.0
        # CE history.
        self._ce_max = cfg["ce_max"]
        self._ce_drop_max = cfg["ce_drop_max"]
        self._ce_prev = -1.0
        # Stuck voltage.
        self._stuck_ticks = cfg["stuck_ticks"]
        self._v_last = 0.0
        self._v_same = 0
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
        for ch, lo, hi in SENSOR_RANGE:
            v = getattr(meas, ch)
            if v < lo or v > hi:
                return self._trip("SENSOR_RANGE_" + ch, v, lo if v < lo else hi)
        code = self._check_stuck(meas)
        if code is None:
            code = self._check_pressure_rate(meas)
        if code is None:
            code = self._check_rest(meas)
        if code is not None:
            return code
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

    def _check_stuck(self, meas):
        v = meas.voltage_v
        if v == self._v_last and (meas.current_a > self._i_discharging_a or meas.current_a < -self._i_discharging_a):
            self._v_same += 1
            if self._v_same >= self._stuck_ticks:
                return self._trip("SENSOR_voltage_v_STUCK", v, float(self._stuck_ticks))
        else:
            self._v_same = 0
        self._v_last = v
        return None

    def _check_pressure_rate(self, meas):
        ring = self._p_ring
        n = len(ring)
        p = meas.pressure_mpa
        oldest = ring[self._p_k]  # the reading one window ago, once the ring is full
        ring[self._p_k] = p
        self._p_k = (self._p_k + 1) % n
        if self._p_n < n:
            self._p_n += 1
            return None
        rate = (p - oldest) / self._p_window_s
        if rate > self._p_rate_max or rate < -self._p_rate_max:
            return self._trip("P_RATE", rate, self._p_rate_max if rate > 0 else -self._p_rate_max)
        return None

    def _check_rest(self, meas):
        # Rest: no current through the cell (contactor open or setpoint 0).
        i = meas.current_a
        if i > self._i_discharging_a or i < -self._i_discharging_a:
            self._rest_s = 0.0
            self._win_n = 0
            self._win_sum = 0.0
            self._win_prev = -1.0
            return None
        self._rest_s += meas.dt_s
        if self._rest_s < self._rest_settle_s:
            return None
        self._win_sum += meas.voltage_v
        self._win_n += 1
        if self._win_n * meas.dt_s < self._rest_window_s:
            return None
        mean = self._win_sum / self._win_n
        self._win_sum = 0.0
        self._win_n = 0
        prev = self._win_prev
        self._win_prev = mean
        if prev < 0.0:
            return None
        self.rest_decay_v_h = (prev - mean) * 3600.0 / self._rest_window_s
        if self.rest_decay_v_h > self._rest_decay_max:
            return self._trip("SOFT_SHORT", self.rest_decay_v_h, self._rest_decay_max)
        return None

    def check_cycle(self, ce, regular):
        """Once per completed cycle; ``regular`` False for formation cycles
        (their CE is SEI formation, not a sign of a short)."""
        if self.fault is not None:
            return None
        if ce > self._ce_max:
            return self._trip("CE_ANOMALY", ce, self._ce_max)
        if regular:
            prev = self._ce_prev
            self._ce_prev = ce
            if prev > 0.0 and prev - ce > self._ce_drop_max:
                return self._trip("CE_ANOMALY", ce, prev - self._ce_drop_max)
        return None

    def latch(self, code):
        """Latch a fault known from elsewhere (persisted before a reboot)."""
        if self.fault is None:
            self._trip(code, 0.0, 0.0)

    def _trip(self, code, value, limit):
        self.fault = code
        self.fault_value = value
        self.fault_limit = limit
        return code

    def condition_present(self, meas):
        """Is the latched fault's condition still there now?

        Faults judged over time (rates, rest decay, CE, stuck) cannot be
        re-measured in one reading: they count as gone once the readings
        are back in range; a person decided to clear them."""
        if self.fault is None:
            return False
        for ch, lo, hi in SENSOR_RANGE:
            if self.fault == "SENSOR_RANGE_" + ch:
                v = getattr(meas, ch)
                return v < lo or v > hi
        for i in range(len(LIMITS)):
            if LIMITS[i][0] == self.fault:
                return self._violated(i, meas)[0]
        if self.fault == "OC_DIS":
            return -meas.current_a > self._i_max_a
        for ch in _CHANNELS:
            if self.fault == "SENSOR_" + ch:
                return not is_finite(getattr(meas, ch))
        return False

    def clear(self, meas):
        """Clear the latch if its condition is gone; return True if cleared."""
        if self.fault is None or self.condition_present(meas):
            return False
        self.fault = None
        for i in range(len(self._count)):
            self._count[i] = 0
        self._count_oc_dis = 0
        return True
