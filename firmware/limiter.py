"""Plating-current limit: the nominal limit scaled down by impedance drift,
low (or high) temperature and stack pressure outside its window.

Why these three (docs/cell-physics.md):
- impedance drift: interfacial resistance grows with contact loss, voids
  and SEI (sec. 2, 4, 6); plating through a degraded interface is uneven,
  so the cell gets a gentler current until it recovers (sec. 7: "dynamic
  protocols that adjust based on the cell's state of health");
- temperature: low temperature makes plating uneven, islands instead of
  films (sec. 5);
- stack pressure: below the window, contact loss and voids; above it,
  heterogeneous plating and dead Li, and fracture in solid electrolytes
  (sec. 4).

Each effect is a piecewise-linear table of (input, factor) from the config
(limits as data: ``derate_drift``, ``derate_cold_c``, ``derate_hot_c``,
``derate_p_low_mpa``, ``derate_p_high_mpa``). The factors multiply.

Against oscillation: a new target is taken only when it differs from the
current one by more than ``limit_hysteresis`` (a fraction of nominal);
the limit falls to a lower target at once (protecting the cell cannot
wait) and rises toward a higher one at ``limit_slew_per_s`` (a fraction of
nominal per second). A drift factor is only updated while the impedance
estimate is confident; otherwise the last one holds (a throttle is not
released because the estimate got noisy; the application lets a *rising*
drift through before the fit is confident: protecting cannot wait).

Every new target sets ``event`` = (code, text, target_a, nominal_a) for the
application to publish; ``update`` itself never allocates beyond that.

Safety warnings (safety.py, severity ``warning``) come in through
``warn(dt_s, warnings)`` every tick, in both modes: while any is raised,
``f_warn`` falls at once to ``warn_charge_factor``; once none is, it rises
back at the same slew as the limit, so a warning that clears does not hand
the full current back in one step. The application multiplies any charge
setpoint by ``f_warn``: the warning acts in every charging phase (CC, CV,
formation) and also in ``cccv`` mode, where ``update`` is not run (a plain
charger for A/B, but not one without safety). The supervisor publishes the
warning itself.
"""

from shared.mathx import interp


class PlatingLimiter:
    def __init__(self, cfg):
        self.nominal_a = cfg["charge_current_a"]
        self._drift_t = cfg["derate_drift"]
        self._cold_t = cfg["derate_cold_c"]
        self._hot_t = cfg["derate_hot_c"]
        self._plow_t = cfg["derate_p_low_mpa"]
        self._phigh_t = cfg["derate_p_high_mpa"]
        self.hyst = cfg["limit_hysteresis"]
        self._slew_per_s = cfg["limit_slew_per_s"]  # fraction of nominal per second
        self.slew_a_per_s = self._slew_per_s * self.nominal_a
        self.limit_a = self.nominal_a
        self.target_a = self.nominal_a
        self.f_drift = 1.0
        self.drift_seen = 1.0  # the drift ratio behind f_drift
        self.f_env = 1.0  # temperature and pressure only (used in formation too)
        self.event = None
        self._warn_f = cfg["warn_charge_factor"]
        self.f_warn = 1.0  # the safety warnings' factor on the charge current

    def set_nominal(self, nominal_a):
        """A new nominal plating current (a set_limits command): the target
        follows at once with the factors in force, the slew scales with it."""
        self.nominal_a = nominal_a
        self.target_a = nominal_a * self.f_drift * self.f_env
        self.slew_a_per_s = self._slew_per_s * nominal_a

    def update(self, dt_s, drift_ratio, drift_confident, temperature_c, pressure_mpa):
        if drift_confident:
            self.f_drift = interp(self._drift_t, drift_ratio)
            self.drift_seen = drift_ratio
        f_cold = interp(self._cold_t, temperature_c)
        f_hot = interp(self._hot_t, temperature_c)
        f_pl = interp(self._plow_t, pressure_mpa)
        f_ph = interp(self._phigh_t, pressure_mpa)
        self.f_env = f_cold * f_hot * f_pl * f_ph
        target = self.nominal_a * self.f_drift * self.f_env
        if target > self.nominal_a * (1.0 - 0.5 * self.hyst):
            # Close to nominal is nominal (not a near miss that sticks). Half
            # the band, so a snap can never itself cross the hysteresis.
            target = self.nominal_a
        if target > self.target_a + self.hyst * self.nominal_a or target < self.target_a - self.hyst * self.nominal_a:
            # The smallest factor names the reason.
            reason = "drift"
            f = self.f_drift
            if f_cold < f:
                reason, f = "cold", f_cold
            if f_hot < f:
                reason, f = "hot", f_hot
            if f_pl < f:
                reason, f = "pressure_low", f_pl
            if f_ph < f:
                reason, f = "pressure_high", f_ph
            if f >= 1.0:
                reason = "nominal"
            code = "THROTTLE" if target < self.target_a else "RELEASE"
            self.event = (
                code,
                "plating limit target %.3g A -> %.3g A (%s): drift x%.3f, T %.1f C, P %.3f MPa"
                % (self.target_a, target, reason, drift_ratio, temperature_c, pressure_mpa),
                target,
                self.nominal_a,
            )
            self.target_a = target
        if self.limit_a > self.target_a:
            self.limit_a = self.target_a
        elif self.limit_a < self.target_a:
            up = self.limit_a + self.slew_a_per_s * dt_s
            self.limit_a = up if up < self.target_a else self.target_a
        return self.limit_a

    def warn(self, dt_s, warnings):
        """``warnings``: the supervisor's raised warnings this tick (0: none)."""
        factor = self._warn_f if warnings else 1.0
        f = self.f_warn
        if factor < f:
            self.f_warn = factor
        elif factor > f:
            f += self._slew_per_s * dt_s
            self.f_warn = f if f < factor else factor
