"""Online impedance: the pulse method feeding a recursive least-squares fit.

Every tick, the change of voltage over the change of current since the last
tick is a sample of the cell's series resistance: within one tick the OCV
and the slow RC parts barely move, so dV = R dI. A sample counts only when
the current step is large enough for the voltage change to stand out of the
noise (``min_step_a``); the charger provides such steps on purpose (a short
rest interruption every ``pulse_period_s`` while charging at constant
current, see charger.py) and naturally (start, stop, CV taper, discharge).

The samples feed a scalar recursive least-squares estimate with forgetting
(filterpy's names: ``x`` the resistance at the reference temperature, ``P``
its variance factor):

    K = P dI / (lambda + dI P dI)
    x = x + K (dV_ref - dI x)
    P = (P - K dI P) / lambda

Weighting by dI^2 is what least squares does with a bigger step: it is a
cleaner measurement. ``lambda`` (forgetting) sets the memory to about
1/(1-lambda) samples, so a real drift is followed within a few pulses.

Temperature: resistance follows Arrhenius (cell-physics sec. 5, 9: the cell
model): R(T) = R_ref exp(Ea/R (1/T - 1/T_ref)), the inverse of the factor
``shared.mathx.arrhenius`` that the emulator and the twin use too. Each
sample is moved to the reference temperature before it enters the fit, so
``r_ref_ohm`` is the temperature-compensated resistance and ``r_ohm`` the
one at the present temperature (what the CV loop needs).

Baseline and drift: while ``learning`` (the formation cycles) the fit's
value is averaged into ``baseline_ohm``; after that ``drift_ratio`` =
r_ref / baseline, with ``drift_std`` from the fit's variance, and
``confident()`` says when it may be acted on.

Anode-less trap: a cell with no plated Li (fresh, or fully discharged)
rests far below its working voltage, and the first charge tick jumps to the
plating voltage (cell-physics sec. 1, 3). That jump is the negative electrode
appearing, not a resistance, so a step where either side is below
``floor_v`` (the discharge cut-off) is ignored.

Failure behaviour: non-finite readings and non-positive samples are
discarded; the estimate never becomes NaN.
"""

import math

from shared.compat import is_finite
from shared.mathx import arrhenius


class ImpedanceEstimator:
    def __init__(self, min_step_a, floor_v, r_nominal_ohm, forgetting=0.85, ea_j_mol=20000.0, t_ref_c=25.0):
        self.min_step_a = min_step_a
        self.floor_v = floor_v
        self.lam = forgetting
        self.ea_j_mol = ea_j_mol
        self.t_ref_c = t_ref_c
        self.x = r_nominal_ohm  # resistance at t_ref (ohm)
        self.P = 1.0 / (min_step_a * min_step_a)  # vague prior: the first samples dominate
        self.sigma2 = (0.1 * r_nominal_ohm * min_step_a) ** 2  # residual variance of dV (V^2)
        self.samples = 0
        self.r_ohm = 0.0  # at the present temperature; 0 until the first sample
        self.baseline_ohm = 0.0
        self._base_sum = 0.0
        self._base_n = 0
        self.learning = False
        self._arr = 1.0
        self._v = 0.0
        self._i = 0.0
        self._have = False

    def update(self, voltage_v, current_a, temperature_c, use=True):
        """One tick. ``use`` False: remember the reading but take no sample
        (the application knows when a step is not a resistance, e.g. the
        nucleation transient at the start of a charge)."""
        if not (is_finite(voltage_v) and is_finite(current_a) and is_finite(temperature_c)):
            self._have = False
            return False
        used = False
        if self._have and use:
            di = current_a - self._i
            low = voltage_v < self.floor_v or self._v < self.floor_v
            if (di > self.min_step_a or di < -self.min_step_a) and not low:
                dv = voltage_v - self._v
                r = dv / di
                if r > 0.0:
                    self._arr = 1.0 / arrhenius(self.ea_j_mol, temperature_c, self.t_ref_c)  # R(T) / R(T_ref)
                    self._fit(dv / self._arr, di)
                    used = True
        self._v = voltage_v
        self._i = current_a
        self._have = True
        if self.samples:
            self.r_ohm = self.x * self._arr
        return used

    def _fit(self, dv_ref, di):
        P = self.P
        innov = dv_ref - di * self.x
        if self.samples >= 4:
            # Robust: an innovation beyond 4 sigma is clipped (Huber-like),
            # so one odd step (a contactor bounce, a missed transient)
            # nudges the fit instead of throwing it.
            lim = 4.0 * math.sqrt(self.sigma2 * (1.0 + di * P * di))
            if innov > lim:
                innov = lim
            elif innov < -lim:
                innov = -lim
        if self.samples:
            # Residual variance, for the estimate's standard deviation.
            self.sigma2 += 0.1 * (innov * innov / (1.0 + di * P * di) - self.sigma2)
        K = P * di / (self.lam + di * P * di)
        self.x += K * innov
        self.P = (P - K * di * P) / self.lam
        self.samples += 1
        if self.learning:
            self._base_sum += self.x
            self._base_n += 1

    def start_learning(self):
        self.learning = True

    def stop_learning(self):
        """End of formation: the mean of the fit over it is the baseline."""
        self.learning = False
        if self._base_n:
            self.baseline_ohm = self._base_sum / self._base_n

    @property
    def r_ref_ohm(self):
        return self.x

    @property
    def r_std_ohm(self):
        return math.sqrt(self.P * self.sigma2) if self.P > 0.0 else 0.0

    @property
    def drift_ratio(self):
        if self.baseline_ohm <= 0.0:
            return 1.0
        return self.x / self.baseline_ohm

    @property
    def drift_std(self):
        if self.baseline_ohm <= 0.0:
            return 1.0
        return self.r_std_ohm / self.baseline_ohm

    def confident(self, max_std=0.05, min_samples=4):
        """Enough recent, consistent samples to act on the drift ratio."""
        return self.baseline_ohm > 0.0 and self.samples >= min_samples and self.drift_std <= max_std
