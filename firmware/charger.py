"""Charger state machine: CC-CV charge, rest, CC discharge, rest, repeat.

IDLE -> CHARGE_CC -> CHARGE_CV -> REST -> DISCHARGE -> REST -> CHARGE_CC ...
Any state -> FAULT (the application calls ``fault()`` when the supervisor
trips); FAULT -> IDLE only through ``clear_fault()``. DONE after
``max_cycles`` complete cycles.

``step(now_ms, meas, r_ohm)`` is called once per control tick and returns
the current setpoint in amps (+ charges, - discharges). The charger only
decides; the application applies the setpoint. A transition sets
``transition`` to (old state, new state, reason) for the application to
publish as an event, and ``cycle_done`` when a discharge has ended.
"""

from shared.compat import ticks_diff

IDLE = "IDLE"
CHARGE_CC = "CHARGE_CC"
CHARGE_CV = "CHARGE_CV"
REST = "REST"
DISCHARGE = "DISCHARGE"
FAULT = "FAULT"
DONE = "DONE"

# CV loop gain: the current correction is this fraction of the one that would
# remove the whole voltage error through the estimated resistance. Below 1 so
# an over-estimated resistance cannot make the loop oscillate.
_CV_GAIN = 0.5
# Above CV by more than this, the P loop is not keeping up: back off fast.
_CV_OVERSHOOT_V = 0.02


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

    def clear_fault(self, now_ms):
        if self.state == FAULT:
            self._go(now_ms, IDLE, "fault cleared")

    def step(self, now_ms, meas, r_ohm):
        self.transition = None
        self.cycle_done = False
        s = self.state
        v = meas.voltage_v
        if s == CHARGE_CC:
            self.setpoint_a = self.charge_current_a
            if v >= self.charge_voltage_v:
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
            if i > self.charge_current_a:
                i = self.charge_current_a
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
                    else:
                        self._go(now_ms, CHARGE_CC, "rest over")
                else:
                    self._go(now_ms, DISCHARGE, "rest over")
        elif s == DISCHARGE:
            self.setpoint_a = -self.discharge_current_a
            if v <= self.discharge_cutoff_v:
                self.setpoint_a = 0.0
                self.cycles_done += 1
                self.cycle_done = True
                self._after_discharge = True
                self._go(now_ms, REST, "discharge cut-off reached")
        else:  # IDLE, FAULT, DONE
            self.setpoint_a = 0.0
        return self.setpoint_a


def _self_check():
    from firmware.config import defaults

    class _M:
        voltage_v = 3.3

    cfg = defaults()
    cfg["rest_s"] = 0
    c = Charger(cfg)
    m = _M()
    cfg["startup_rest_s"] = 0
    c = Charger(cfg)
    c.start(0)
    assert c.state == REST and c.step(0, m, 0.1) == 0.0
    assert c.step(0, m, 0.1) == cfg["charge_current_a"]
    m.voltage_v = 3.66
    c.step(1000, m, 0.1)
    assert c.state == CHARGE_CV
    m.voltage_v = 3.70  # well above CV: current falls to zero, charge ends
    c.step(2000, m, 0.1)
    assert c.state == REST and c.setpoint_a == 0.0
    c.step(3000, m, 0.1)
    assert c.state == DISCHARGE
    m.voltage_v = 2.4
    c.step(4000, m, 0.1)
    c.step(4000, m, 0.1)
    assert c.cycles_done == 1
    return True
