"""Safety supervisor: detection and decision, as data. It never actuates.

Every condition is one row of the safety table (firmware/safetytable.py):
its code, its detector, the reading it judges, its limit (a config key:
limits are data), its debounce in ms and its severity.
``Supervisor.check(meas)`` walks the rows in one loop every tick, before
the charger acts; ``check_cycle`` judges the rows made once per cycle.
The application opens the contactor (only it touches actuators) in the
same tick when ``check`` returns a code.

Severity, and with it how a row clears:
- ``fault``: latches: ``fault`` holds its code, value and limit until
  ``clear()``, which is refused while the detector still sees the
  condition in the present reading (``condition_present``).
- ``fault_operator``: latches likewise, but was judged over time (a rate,
  a rest decay, a CE, a frozen reading), so one reading cannot show it
  gone: ``clear()`` clears it, a person decided.
- ``warning``: a limit is near. It never latches: while one is raised,
  ``warnings`` is not 0 and the plating limiter derates the charge current
  (limiter.py ``warn``, applied by the application); it clears by itself
  once its condition has been gone for ``_WARN_CLEAR_MS``, so a reading
  hovering at the threshold does not toggle it. A raise or a clear sets
  ``event`` = (code, text, value, limit) for the application to publish.

Debounce: a row counts once its detector has seen the condition persist
for ``debounce_ms``, on every reading from the first until at least that
much later (converted once to 1 + ceil(debounce_ms / control_period_ms)
readings in a row; 0: the first reading): one noisy sample is not a fault
at any control period, a real one persists.

``check`` allocates one float per tick (the pressure difference over the
window; at rest the rest monitor's sums add a few): the rows are resolved
into arrays at construction, and a code is sliced from their codes only
when it is reported.
"""

from array import array

from shared.compat import const, forget

# Detectors, numbered in the order of safetytable._DETECTORS.
_ABOVE = const(0)  # the reading above the limit
_BELOW = const(1)  # below the limit
_BELOW_LOADED = const(2)  # below the limit while a load draws current
_NOT_FINITE = const(3)  # NaN or infinite: an open channel is never taken as healthy
_OFF_RAILS = const(4)  # outside the band (lo, hi) of the front end's rails
_FROZEN = const(5)  # identical to the bit for `limit` readings while current flows
_P_RATE = const(6)  # changing faster than the limit (per s) over p_rate_window_s
_REST_DECAY = const(7)  # at rest, falling faster than the limit (V/h)
_CE_SHIFT = const(8)  # per cycle (check_cycle): CE above the limit, or dropping
_BELOW_CHARGING = const(9)  # below the limit while a charge current flows

# Severities, numbered in the order of safetytable._SEVERITIES.
_FAULT = const(0)
_FAULT_OPERATOR = const(1)
_WARNING = const(2)

_I = const(1)  # the current's place in _vals (readings in safetytable's order: V I T P)

# A row's kind, one byte: detector | reading << 4 | severity << 6.
_DET_MASK = const(15)
_READING_SHIFT = const(4)
_SEVERITY_SHIFT = const(6)

# A warning stays raised until its condition has been gone this long.
_WARN_CLEAR_MS = const(60000)

_INF = const(1e999)  # the literal is infinity
_NEG_INF = const(-1e999)


class Supervisor:
    def __init__(self, cfg):
        from firmware.safetytable import resolve

        # Per row: kind, limit (a float, or a band), debounce in ticks; the
        # codes, one a line. The table's module leaves the heap again.
        self._codes, self._kind, self._limit, self._need = resolve(cfg)
        resolve = None
        forget(("firmware.safetytable",))
        n = len(self._kind)
        self._count = array("i", bytes(4 * n))  # ticks seen in a row (a raised warning: ticks gone, below 0)
        period_ms = cfg["control_period_ms"]
        # Pressure-rate ring: one reading per tick over the window.
        k = cfg["p_rate_window_s"] * 1000 // period_ms
        self._p_ring = [0.0] * (k if k > 1 else 2)
        self._p_k = 0
        self._p_n = 0
        self._p_window_s = len(self._p_ring) * period_ms / 1000.0
        for i in range(n):
            if self._kind[i] & _DET_MASK == _P_RATE:
                # Judged as a band of the difference over the window (no
                # division per tick), reported as the rate limit.
                m = self._limit[i]
                d = m * self._p_window_s
                self._limit[i] = (-d, d, m)
        self._vals = [0.0] * 4  # this tick's readings: V I T P
        self._warn_clear_n = (_WARN_CLEAR_MS + period_ms - 1) // period_ms
        self.warnings = 0  # bit i: row i is a raised warning
        self.event = None
        # "Current flows" means a real current, not sensor noise at rest.
        self._i_charging_a = 0.02 * cfg["i_max_a"]
        self._i_discharging_a = -self._i_charging_a
        # Rest monitor.
        self._rest_settle_s = cfg["rest_settle_s"]
        self._rest_window_s = cfg["rest_window_s"]
        self._rest_s = 0.0
        self._win_sum = 0.0
        self._win_n = 0
        self._win_prev = -1.0
        self._ce_drop_max = cfg["ce_drop_max"]
        self._ce_prev = -1.0
        self._v_last = 0.0
        self._v_same = 0
        self.fault = None  # latched code, or None
        self._row = -1  # its row, or -1
        self.fault_value = 0.0
        self.fault_limit = 0.0

    def check(self, meas):
        """Return the code of a fault latched in this tick, or None."""
        if self.fault is not None:
            return None
        r = self._vals
        r[0] = meas.voltage_v
        r[1] = meas.current_a
        r[2] = meas.temperature_c
        r[3] = meas.pressure_mpa
        kind = self._kind
        limit = self._limit
        count = self._count
        need = self._need
        for i in range(len(kind)):
            k = kind[i]
            det = k & _DET_MASK
            if det == _CE_SHIFT:
                continue  # judged per cycle
            # The comparisons of _violated, inline: a call per row would
            # double the time of this loop.
            v = r[(k >> _READING_SHIFT) & 3]
            lim = limit[i]
            if det == _ABOVE:
                bad = v > lim
            elif det == _BELOW:
                bad = v < lim
            elif det == _BELOW_LOADED:
                bad = v < lim and not r[_I] > self._i_discharging_a  # a NaN current is no proof of rest
            elif det == _BELOW_CHARGING:
                # Once counting, a rest tick (a formation or impedance pulse)
                # with the voltage still below counts too: it must not restart
                # the count; only the voltage rising, or a discharge, does.
                i_a = r[_I]
                bad = v < lim and (i_a > self._i_charging_a or (count[i] > 0 and not i_a < self._i_discharging_a))
            elif det == _NOT_FINITE:
                bad = not _NEG_INF < v < _INF  # NaN fails both
                v = 0.0  # a non-finite value is neither reported nor persisted as read
            elif det == _OFF_RAILS:
                bad = v < lim[0] or v > lim[1]
            elif det == _FROZEN:
                bad = self._check_stuck(v, lim)
            elif det == _P_RATE:
                v = self._check_pressure_rate(v, lim)  # the rate outside the band, else 0
                bad = v != 0.0
            else:  # _REST_DECAY
                v = self._check_rest(meas, lim)  # the decay above the limit, else 0
                bad = v != 0.0
            if bad:
                n = count[i]
                n = n + 1 if n > 0 else 1  # (a raised warning's count below 0 restarts)
                if n >= need[i]:
                    if k >> _SEVERITY_SHIFT != _WARNING:
                        if det == _OFF_RAILS:
                            lim = lim[0] if v < lim[0] else lim[1]
                        elif det == _P_RATE:
                            lim = lim[2] if v > 0.0 else -lim[2]
                        return self._trip(i, v, lim)
                    n = need[i]  # a raised warning holds its count here
                    if not self.warnings & (1 << i):
                        self._warn(i, v)
                count[i] = n
            elif count[i]:
                if k >> _SEVERITY_SHIFT == _WARNING and self.warnings & (1 << i):
                    # Raised: count the ticks since the condition went, below 0.
                    n = count[i]
                    n = n - 1 if n < 0 else -1
                    if -n >= self._warn_clear_n:
                        n = 0
                        self._warn(i, v)
                    count[i] = n
                else:
                    count[i] = 0
        return None

    def _violated(self, i, meas):
        """Does row ``i``'s single-reading detector see its condition now?"""
        r = self._vals
        r[0] = meas.voltage_v
        r[1] = meas.current_a
        r[2] = meas.temperature_c
        r[3] = meas.pressure_mpa
        k = self._kind[i]
        det = k & _DET_MASK
        v = r[(k >> _READING_SHIFT) & 3]
        lim = self._limit[i]
        if det == _ABOVE:
            return v > lim
        if det == _BELOW:
            return v < lim
        if det == _BELOW_LOADED:
            return v < lim and not r[_I] > self._i_discharging_a
        if det == _BELOW_CHARGING:
            return v < lim and r[_I] > self._i_charging_a
        if det == _NOT_FINITE:
            return not _NEG_INF < v < _INF
        if det == _OFF_RAILS:
            return v < lim[0] or v > lim[1]
        return False  # judged over time: one reading cannot show it

    def _warn(self, i, value):
        """Raise warning ``i``, or clear it if raised: the limiter derates
        while any is raised; the event says so."""
        bit = 1 << i
        self.warnings ^= bit
        if self.warnings & bit:
            text = "safety warning: charge current derated until it clears"
        else:
            text = "safety warning cleared: its charge derating ends"
        self.event = (self._code(i), text, value, self._limit[i])

    def _check_stuck(self, v, limit):
        i = self._vals[_I]
        if v == self._v_last and (i > self._i_charging_a or i < self._i_discharging_a):
            self._v_same += 1
            return self._v_same >= limit
        self._v_same = 0
        self._v_last = v
        return False

    def _check_pressure_rate(self, v, limit):
        """The pressure rate (MPa/s) when its difference over the window is
        outside the band ``limit`` (lo, hi, the rate limit), else 0.0 (which
        the band holds)."""
        ring = self._p_ring
        k = self._p_k
        oldest = ring[k]  # the reading one window ago, once the ring is full
        ring[k] = v
        k += 1
        self._p_k = k if k < len(ring) else 0
        if self._p_n < len(ring):
            self._p_n += 1
            return 0.0
        d = v - oldest
        if limit[0] <= d <= limit[1]:
            return 0.0
        return d / self._p_window_s

    def _check_rest(self, meas, limit):
        """The rest voltage's fall (V/h) when a window ends above ``limit``
        (which is above 0), else 0.0."""
        # Rest: no current through the cell (contactor open or setpoint 0).
        i = meas.current_a
        if i > self._i_charging_a or i < self._i_discharging_a:
            self._rest_s = 0.0
            self._win_n = 0
            self._win_sum = 0.0
            self._win_prev = -1.0
            return 0.0
        self._rest_s += meas.dt_s
        if self._rest_s < self._rest_settle_s:
            return 0.0
        self._win_sum += meas.voltage_v
        self._win_n += 1
        if self._win_n * meas.dt_s < self._rest_window_s:
            return 0.0
        # A window ends: its mean against the previous window's.
        mean = self._win_sum / self._win_n
        self._win_sum = 0.0
        self._win_n = 0
        prev = self._win_prev
        self._win_prev = mean
        if prev < 0.0:
            return 0.0
        decay = (prev - mean) * 3600.0 / self._rest_window_s
        return decay if decay > limit else 0.0

    def check_cycle(self, ce, regular):
        """Once per completed cycle; ``regular`` False for formation cycles
        (their CE is SEI formation, not a sign of a short)."""
        if self.fault is not None:
            return None
        kind = self._kind
        for i in range(len(kind)):
            if kind[i] & _DET_MASK != _CE_SHIFT:
                continue
            ce_max = self._limit[i]
            if ce > ce_max:
                return self._trip(i, ce, ce_max)
            if regular:
                prev = self._ce_prev
                self._ce_prev = ce
                if prev > 0.0 and prev - ce > self._ce_drop_max:
                    return self._trip(i, ce, prev - self._ce_drop_max)
        return None

    def latch(self, code):
        """Latch a fault known from elsewhere (persisted before a reboot):
        its row, if one has it (a code of another firmware has none)."""
        if self.fault is None:
            self.fault = code
            self._row = -1
            for i in range(len(self._kind)):
                if self._code(i) == code:
                    self._row = i
            self.fault_value = 0.0
            self.fault_limit = 0.0

    def _code(self, i):
        """The code of row ``i``, sliced from the codes (only when reported)."""
        t = self._codes
        j = 0
        while i > 0:
            j = t.find("\n", j) + 1
            i -= 1
        k = t.find("\n", j)
        return t[j:k] if k >= 0 else t[j:]

    def _trip(self, i, value, limit):
        self._row = i
        self.fault = self._code(i)
        self.fault_value = value
        self.fault_limit = limit
        return self.fault

    def condition_present(self, meas):
        """Is the latched fault's condition still there now? Only a
        ``fault`` row can say: its detector judges one reading."""
        i = self._row
        if self.fault is None or i < 0 or self._kind[i] >> _SEVERITY_SHIFT != _FAULT:
            return False
        return self._violated(i, meas)

    def clear(self, meas):
        """Clear the latch if its condition is gone; return True if cleared."""
        if self.fault is None or self.condition_present(meas):
            return False
        self.fault = None
        self._row = -1
        # Streaks frozen by the latch start again; warnings keep theirs
        # (they never latched, and a raised one must still be able to clear).
        kind = self._kind
        count = self._count
        for i in range(len(kind)):
            if kind[i] >> _SEVERITY_SHIFT != _WARNING:
                count[i] = 0
        return True
