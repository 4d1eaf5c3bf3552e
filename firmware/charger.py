"""Charger state machine: CC-CV charge, rest, CC discharge, rest, repeat.

IDLE -> REST (start-up) -> FORMATION | CHARGE_CC -> CHARGE_CV -> REST ->
DISCHARGE -> REST -> ...

Modes (config ``mode``):
- ``cccv``: plain CC-CV at ``charge_current_a``; kept for A/B comparison.
- ``adaptive``: the first ``formation_cycles`` cycles charge (FORMATION)
  and discharge at ``formation_current_a``, optionally pulsed
  (``formation_pulse_on_s``/``off_s``), because the first plating on bare Cu
  sets the Li morphology for life and the best rate depends on the
  electrolyte (cell-physics sec. 3). After formation, CHARGE_CC plates at
  min(charge_current_a, the limiter's limit) (limiter.py). In both FORMATION
  and CHARGE_CC, every ``pulse_period_s`` one tick is a rest interruption:
  the current step it makes is the impedance estimator's measurement
  (impedance.py). The temperature and pressure factor of the limiter
  (``f_env``) scales the formation current too.
Any state -> FAULT (the application calls ``fault()`` when the supervisor
trips); FAULT -> IDLE only through ``clear_fault()``. DONE after
``max_cycles`` complete cycles.

``step(now_ms, meas, r_ohm)`` is called once per control tick and returns
the current setpoint in amps (+ charges, - discharges). The charger only
decides; the application applies the setpoint. A transition sets
``transition`` to (old state, new state, reason) for the application to
publish as an event, and ``cycle_done`` when a discharge has ended.
"""

from shared.compat import const, ticks_add, ticks_diff
from shared.wire import CHARGE_CC, CHARGE_CV, DISCHARGE, DONE, FAULT, FORMATION, IDLE, REST  # the telemetry's state names

# CV loop gain: the current correction is this fraction of the one that would
# remove the whole voltage error through the estimated resistance. Below 1 so
# an over-estimated resistance cannot make the loop oscillate.
_CV_GAIN = const(0.5)
# Above CV by more than this, the P loop is not keeping up: back off fast.
_CV_OVERSHOOT_V = const(0.02)


class Charger:
    def __init__(self, cfg):
        self.charge_current_a = cfg["charge_current_a"]
        self.charge_voltage_v = cfg["charge_voltage_v"]
        self.cv_cutoff_a = cfg["cv_cutoff_a"]
        self.discharge_current_a = cfg["discharge_current_a"]
        self.discharge_cutoff_v = cfg["discharge_cutoff_v"]
        self.rest_ms = cfg["rest_s"] * 1000
        self.startup_rest_ms = cfg["startup_rest_s"] * 1000
        self._rest_now_ms = self.rest_ms
        self.max_cycles = cfg["max_cycles"]
        self.r_nominal_ohm = cfg["r_nominal_ohm"]
        self.adaptive = cfg["mode"] == "adaptive"
        self.formation_cycles = cfg["formation_cycles"] if self.adaptive else 0
        self.formation_current_a = cfg["formation_current_a"]
        self.f_on_ms = cfg["formation_pulse_on_s"] * 1000
        self.f_off_ms = cfg["formation_pulse_off_s"] * 1000
        self.pulse_period_ms = cfg["pulse_period_s"] * 1000 if self.adaptive else 0
        self._last_pulse_ms = 0
        self.settle_ms = cfg["pulse_settle_s"] * 1000
        self.pulse_v_margin_v = cfg["pulse_v_margin_v"]
        self._pulse_requested = False
        self.in_pulse = False
        self._cmd_pulse_a = 0.0
        self._cmd_pulse_ms = 0
        self._cmd_pulse_end_ms = None
        self._cc_cap_a = self.charge_current_a
        self.state = IDLE
        self.setpoint_a = 0.0
        self.cycles_done = 0
        self.transition = None
        self.cycle_done = False
        self._since_ms = 0
        self._after_discharge = False

    def _go(self, now_ms, new, reason):
        self.transition = (self.state, new, reason)
        self.state = new
        self._since_ms = now_ms

    def start(self, now_ms):
        # Start with a short rest, contactor open: the measurement layer
        # zeroes the current channel, so the first charge is counted right.
        if self.state in (IDLE, DONE):
            self._after_discharge = True
            self._rest_now_ms = self.startup_rest_ms
            self._go(now_ms, REST, "start: zeroing current sensor")

    def stop(self, now_ms):
        if self.state != FAULT:
            self.setpoint_a = 0.0
            self._go(now_ms, IDLE, "stop")

    def fault(self, now_ms, code):
        self.setpoint_a = 0.0
        if self.state != FAULT:
            self._go(now_ms, FAULT, code)

    def in_formation(self):
        """The cycle now running (or next to run) is a formation cycle."""
        return self.cycles_done < self.formation_cycles

    def impedance_quiet(self, now_ms, voltage_v):
        """True when a current step is not a clean resistance sample:
        - the first ``pulse_settle_s`` of a charge phase: the nucleation
          overpotential of the first plating (cell-physics sec. 3) and the
          relaxation from rest are in the voltage;
        - within ``pulse_v_margin_v`` of the CV voltage and in CV: the
          cathode's steep delithiation end adds its OCV slope to dV/dI."""
        s = self.state
        if s == CHARGE_CV:
            return True
        if s == FORMATION or s == CHARGE_CC:
            if voltage_v > self.charge_voltage_v - self.pulse_v_margin_v:
                return True
            return ticks_diff(now_ms, self._since_ms) < self.settle_ms
        return False

    def request_pulse(self, amplitude_a=None, duration_ms=0):
        """A commanded impedance pulse. Without arguments: one rest
        interruption at the next constant-current tick. With them: for
        ``duration_ms`` from the next CC charge or discharge tick, the
        current's magnitude is lowered by ``amplitude_a`` (not below 0); the
        steps at its start and end are the estimator's samples. A pulse
        asked for outside those phases starts when one begins."""
        if amplitude_a is None or duration_ms <= 0:
            self._pulse_requested = True
            return
        self._cmd_pulse_a = amplitude_a
        self._cmd_pulse_ms = duration_ms
        self._cmd_pulse_end_ms = None

    def _cmd_pulse(self, now_ms, i):
        """``i`` lowered in magnitude by an active commanded pulse."""
        if self._cmd_pulse_a <= 0.0:
            return i
        if self._cmd_pulse_end_ms is None:
            self._cmd_pulse_end_ms = ticks_add(now_ms, self._cmd_pulse_ms)
        if ticks_diff(now_ms, self._cmd_pulse_end_ms) >= 0:
            self._cmd_pulse_a = 0.0
            return i
        m = (i if i > 0.0 else -i) - self._cmd_pulse_a
        if m < 0.0:
            m = 0.0
        return m if i > 0.0 else -m

    def _pulse_due(self, now_ms):
        if self._pulse_requested or (self.pulse_period_ms and ticks_diff(now_ms, self._last_pulse_ms) >= self.pulse_period_ms):
            self._pulse_requested = False
            self._last_pulse_ms = now_ms
            return True
        return False

    def clear_fault(self, now_ms):
        if self.state == FAULT:
            self._go(now_ms, IDLE, "fault cleared")

    def step(self, now_ms, meas, r_ohm, limit_a, f_env):
        """One tick: returns the setpoint (A). ``limit_a``: the plating limit
        now; ``f_env``: its temperature and pressure factor."""
        self.transition = None
        self.cycle_done = False
        s = self.state
        v = meas.voltage_v
        if s == CHARGE_CC or s == FORMATION:
            if s == FORMATION:
                i = self.formation_current_a * f_env
                if self.f_on_ms and ticks_diff(now_ms, self._since_ms) % (self.f_on_ms + self.f_off_ms) >= self.f_on_ms:
                    i = 0.0  # pulsed formation: the off part of the period
            elif self.adaptive:
                i = limit_a if limit_a < self.charge_current_a else self.charge_current_a
            else:
                i = self.charge_current_a
            self._cc_cap_a = i if i > 0.0 else self._cc_cap_a
            # The voltage is judged on ticks with current: a rest tick's
            # reading says nothing about the charge voltage.
            was_pulse = self.in_pulse
            self.in_pulse = self._pulse_due(now_ms) and not was_pulse
            if self.in_pulse:
                i = 0.0
            if self._cmd_pulse_a > 0.0:
                i = self._cmd_pulse(now_ms, i)
                was_pulse = True  # no CV decision on a lowered current
            self.setpoint_a = i
            if v >= self.charge_voltage_v and not was_pulse and meas.current_a > 0.0:
                self._go(now_ms, CHARGE_CV, "charge voltage reached")
        elif s == CHARGE_CV:
            # Hold V at the CV voltage: correct the current by the voltage
            # error over the resistance estimate (a P loop, gain < 1).
            r = r_ohm if r_ohm > 0.0 else self.r_nominal_ohm
            i = self.setpoint_a - _CV_GAIN * (v - self.charge_voltage_v) / r
            if v > self.charge_voltage_v + _CV_OVERSHOOT_V:
                # The resistance estimate is too high to hold V: halve the
                # current each tick rather than ride up to the OV limit.
                i = 0.5 * i
            if i > self._cc_cap_a:
                i = self._cc_cap_a
            if i < 0.0:
                i = 0.0
            self.setpoint_a = i
            if i <= self.cv_cutoff_a:
                self.setpoint_a = 0.0
                self._after_discharge = False
                self._go(now_ms, REST, "charge complete")
        elif s == REST:
            self.setpoint_a = 0.0
            if ticks_diff(now_ms, self._since_ms) >= self._rest_now_ms:
                self._rest_now_ms = self.rest_ms
                if self._after_discharge:
                    if self.max_cycles and self.cycles_done >= self.max_cycles:
                        self._go(now_ms, DONE, "cycle limit reached")
                    elif self.in_formation():
                        self._last_pulse_ms = now_ms
                        self._go(now_ms, FORMATION, "formation cycle %d" % (self.cycles_done + 1))
                    else:
                        self._last_pulse_ms = now_ms
                        why = "formation complete" if self.formation_cycles and self.cycles_done == self.formation_cycles else "rest is over"
                        self._go(now_ms, CHARGE_CC, why)
                else:
                    self._go(now_ms, DISCHARGE, "rest is over")
        elif s == DISCHARGE:
            if self.in_formation():
                self.setpoint_a = -self.formation_current_a
            else:
                self.setpoint_a = -self.discharge_current_a
            if self._cmd_pulse_a > 0.0:
                self.setpoint_a = self._cmd_pulse(now_ms, self.setpoint_a)
            if v <= self.discharge_cutoff_v:
                self.setpoint_a = 0.0
                self.cycles_done += 1
                self.cycle_done = True
                self._after_discharge = True
                self._go(now_ms, REST, "discharge cut-off reached")
        else:  # IDLE, FAULT, DONE
            self.setpoint_a = 0.0
        return self.setpoint_a
