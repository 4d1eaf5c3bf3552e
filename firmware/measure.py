"""Measurement: the latest readings, coulomb counting and per-cycle totals.

``Measurement.update(board, now_ms)`` reads the board's four channels and
integrates current over the tick with wrap-safe tick arithmetic. Nothing
here allocates per tick: all state is plain float attributes.

Current-channel auto-zero: while the contactor is open the true current is
exactly zero, so whatever the channel reads then is its offset. It is
averaged into ``current_offset_a`` and subtracted from every reading. An
uncorrected offset of 0.25 % of the charge current shifts CE by about that
much, which would hide the 0.1 % CE differences that matter here
(cell-physics sec. 2).

Oversampling happens where it means something, in the drivers: the
INA228/INA226 average in hardware (``averages`` in board.json, up to 1024
conversions per reading), the NTC driver averages ``samples`` ADC reads per
reading, the HX711 delivers one word per conversion. Reading a power
monitor twice per tick would only return the same register.

Filtering: temperature and pressure also get a first-order low-pass
(``temperature_filt_c``, ``pressure_filt_mpa``; time constant
``filter_tau_s``, from ``meas_filter_tau_s``, tick-length aware). The
plating limiter derates on the filtered values, so sensor noise (an HX711
reads a few kPa of noise) cannot flip its tables from tick to tick; the
safety supervisor and the reports use the raw readings, so a real fault is
never delayed by the filter. Voltage and current are not filtered: CC-CV
control, impedance steps and coulomb counting need them as they are.

Failure behaviour: a non-finite reading is kept as read (the safety
supervisor judges plausibility); coulomb counting skips a tick whose reading
is not finite, so one bad sample cannot poison the counters; the low-pass
keeps its last value through a non-finite reading (the supervisor has
already tripped on it) and restarts from the first finite one after it.
"""

import math

from shared.compat import const, is_finite, ticks_diff

_MS_PER_H = const(3600000.0)


class Measurement:
    def __init__(self, filter_tau_s=0.0):
        self.filter_tau_s = filter_tau_s  # low-pass on T and P; 0: none
        self.temperature_filt_c = 25.0
        self.pressure_filt_mpa = 0.0
        self._filt_started = False
        self._filt_dt_s = -1.0
        self._filt_gain = 0.0
        self.voltage_v = 0.0
        self.current_a = 0.0  # + charging (plating), - discharging
        self.temperature_c = 25.0
        self.pressure_mpa = 0.0
        self.t_s = 0.0  # board clock, seconds
        self.total_charge_ah = 0.0
        self.total_discharge_ah = 0.0
        self._last_ms = None
        self.dt_s = 0.0
        self.current_offset_a = 0.0
        self.zero_samples = 0
        self.cycle = CycleCounter()

    def update(self, board, now_ms, contactor_open):
        """Read all channels and integrate current since the last update.

        ``contactor_open``: the contactor was open over this tick, so the
        current reading is the channel's offset.
        """
        self.voltage_v = board.read_voltage_v()
        raw_a = board.read_current_a()
        if contactor_open and is_finite(raw_a):
            # Running mean over the first samples, then a slow average.
            self.zero_samples += 1
            w = 1.0 / self.zero_samples if self.zero_samples < 50 else 0.02
            self.current_offset_a += w * (raw_a - self.current_offset_a)
        self.current_a = raw_a - self.current_offset_a
        self.temperature_c = board.read_temperature_c()
        self.pressure_mpa = board.read_pressure_mpa()
        self.t_s = board.time_s()
        if self._last_ms is None:
            dt_ms = 0
        else:
            dt_ms = ticks_diff(now_ms, self._last_ms)
            if dt_ms < 0:
                dt_ms = 0
        self._last_ms = now_ms
        self.dt_s = dt_ms / 1000.0
        self._filter(self.dt_s)
        i = self.current_a
        if dt_ms and is_finite(i) and is_finite(self.voltage_v):
            # Rectangle rule on the current at the end of the tick: the board
            # held this setpoint over the tick, so this is the charge moved.
            ah = i * dt_ms / _MS_PER_H
            wh = ah * self.voltage_v
            if ah >= 0.0:
                self.total_charge_ah += ah
            else:
                self.total_discharge_ah -= ah
            self.cycle.add(ah, wh, self.temperature_c, self.pressure_mpa)


    def _filter(self, dt_s):
        t = self.temperature_c
        p = self.pressure_mpa
        if not (is_finite(t) and is_finite(p)):
            self._filt_started = False  # hold; restart from the next good reading
            return
        if not self._filt_started or self.filter_tau_s <= 0.0:
            self.temperature_filt_c = t
            self.pressure_filt_mpa = p
            self._filt_started = True
            return
        # dy/dt = (x - y) / tau, exact for a reading held over the tick:
        # y += (1 - exp(-dt/tau)) (x - y). The gain is recomputed only when
        # the tick length changes (it does not, on a steady loop).
        if dt_s != self._filt_dt_s:
            self._filt_dt_s = dt_s
            self._filt_gain = 1.0 - math.exp(-dt_s / self.filter_tau_s)
        a = self._filt_gain
        self.temperature_filt_c += a * (t - self.temperature_filt_c)
        self.pressure_filt_mpa += a * (p - self.pressure_filt_mpa)


class CycleCounter:
    """Charge and discharge of the current cycle; ``ce()`` is their ratio.

    ``partial``: the counters did not see this cycle from its start (the
    board booted into it, firmware/app.py), so its CE measures nothing and is
    not judged; the cycle summary says so, and the twin does not learn from
    it. It clears when the cycle ends."""

    def __init__(self):
        self.index = 1
        self.reset()

    def reset(self):
        self.partial = False
        self.charge_ah = 0.0
        self.discharge_ah = 0.0
        self.charge_wh = 0.0
        self.discharge_wh = 0.0
        self.t_min_c = 1e9
        self.t_max_c = -1e9
        self.p_min_mpa = 1e9
        self.p_max_mpa = -1e9

    def add(self, ah, wh, temperature_c, pressure_mpa):
        if ah >= 0.0:
            self.charge_ah += ah
            self.charge_wh += wh
        else:
            self.discharge_ah -= ah
            self.discharge_wh -= wh
        if temperature_c < self.t_min_c:
            self.t_min_c = temperature_c
        if temperature_c > self.t_max_c:
            self.t_max_c = temperature_c
        if pressure_mpa < self.p_min_mpa:
            self.p_min_mpa = pressure_mpa
        if pressure_mpa > self.p_max_mpa:
            self.p_max_mpa = pressure_mpa

    def ce(self):
        if self.charge_ah <= 0.0:
            return 0.0
        return self.discharge_ah / self.charge_ah
