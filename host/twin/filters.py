"""Estimators of the digital twin: the lithium inventory of an anode-less cell.

``InventoryFilter`` is a three-state linear Kalman filter (filterpy's
``KalmanFilter``) fed once per cycle from the ``cycle`` summary message.

Physics (cell-physics sec. 1-2): all cyclable Li starts in the
cathode. The charge extracts it and plates it on the bare collector; the
discharge strips back what is still connected; what the cycle lost is gone
for good because there is no reservoir. As the board counts cycle n:

    charge_ah_n - discharge_ah_n = L_n      (the Li this cycle lost)
    discharge_ah_n               = I_n      (the inventory after it)

Where the loss goes (sec. 2; review 3.2.1): the first cycle's loss is dominated by
SEI formation; SEI growth then slows down because the SEI passivates
(a rate decaying with the SEI already formed, dS/dn ~ exp(-S/S0), integrates
to a logarithm of the cycle number); afterwards degradation is governed by
nearly linear dead-Li accumulation. So the fade curve is

    I_n = c - a ln(n + n0) - b n

with c the inventory after formation (Ah), a the SEI growth (Ah per e-fold
of cycles) and b the dead-Li loss (Ah per cycle). The filter's state is
x = [c, a, b]: constant parameters (F = identity) with small random walks
(Q) so that a changing cell is followed, and a time-varying H:

    z = [discharge_ah, charge_ah - discharge_ah]
    H_n = [[1, -ln(n + n0), -n], [0, ln((n + n0) / (n - 1 + n0)), 1]]

Everything reported is a linear function h . x of the state, so every
estimate carries its std sqrt(h P h'): inventory, loss rate
(a ln((n+1+n0)/(n+n0)) + b), its drift (~ -a / (n+n0)^2), and the split of
the loss (``loss_split``): SEI = (initial - c) + a ln(n + n0), dead Li = b n. What makes
the split observable is the *shape* of the fade: a self-limiting part
(SEI) and a linear part (dead Li) have different curvature, so after a
handful of cycles they separate; before that their std is large and says
so. The first cycle's loss is assigned to SEI (cell-physics sec. 2); its
dead-Li share (a few %) is the split's known bias.

Counted versus true inventory. The counts carry two systematic errors a
cycle summary can never reveal: the current channel's gain error (the same
factor on charge and discharge, so it cancels in CE but scales every Ah),
and the Li a CC-CV charge leaves in the cathode (the discharge returns only
what was extracted). They are a bias with a prior from the tuning, outside
the Kalman state because no observation touches it (carried in the state it
would stay at its prior): true inventory = counted + bias, with
var = h P h' + var(bias). That makes the reported std honest (its floor is
the calibration uncertainty) while P tracks the random part.

Failure prediction: ``predict_eol`` evaluates the fade curve ahead, with
its std, and returns the cycle at which the inventory crosses
``eol_retention`` x the initial inventory with a 90 % interval.
The fade curve cannot bend downwards, real cells do near the end
(cell-physics sec. 12): the filter keeps the measured fade and ``knee.fit_fade``
fits a straight and a bent line to it; ``eol.combine`` weighs the three
forms by the data and the 90 % interval is the union of the credible ones'
(model-form uncertainty); once the knee is detected the bent line
predicts (``knee_detected``, ``knee_cycle``).

Tuning (Q, R, priors, gate) is data: ``DEFAULT_TUNING``, one line of
rationale per value, overridable from JSON (``tuning_from_json``). Values
ending in _rel are fractions of the first charge, so one tuning fits a
20 mAh coin cell and a 5 Ah pouch.

Failure behaviour: a bad tuning raises ``ValueError`` naming the field at
construction. A cycle message never raises here: an older or repeated cycle
number is ignored ("stale"), a first cycle with no charge is ignored
("skipped"), a cycle whose innovation is beyond the chi-square gate (partial
cycle, counting glitch, a short) is not applied ("gated"), and after
``gate_reinit_after`` consecutive gated cycles the filter restarts from the
data because the cell really changed. ``update_cycle`` returns which of
these happened so the caller can count it. ``loss_cycles`` counts the
cell's own losses applied since the last start (not cycle 1's, not a
formation cycle's): until there are some, the loss prediction is the prior,
and the short detector does not score its innovation.
"""

import json
import math

import numpy as np
from filterpy.kalman import KalmanFilter

from platewise.shared.cellconst import EOL_RETENTION
from platewise.shared.mathx import arrhenius

from .eol import Z90, crossing_cycles, eol_of_forms
from .knee import fit_fade
from .tuning import overridden

# name -> (value, why). Values relative to the first charge are marked _rel.
DEFAULT_TUNING = {
    "sigma_charge_rel": (0.001, "random part of one charge count: integration noise and auto-zero residual (the systematic gain is gain_std_rel)"),
    "sigma_discharge_rel": (0.001, "same counting chain as the charge, so the same random error"),
    "sigma_floor_ah": (1e-7, "ADC resolution floor so R stays invertible for tiny cells"),
    "q_inventory_rel": (0.0003, "per-cycle random walk of c: inventory changes the fade curve does not explain (utilisation with temperature and rate)"),
    "q_sei_rel": (0.00002, "per-cycle random walk of the SEI growth a: electrolyte and temperature changes"),
    "q_dead_rel": (0.000005, "per-cycle random walk of the dead-Li rate b: porosity and pressure changing the dead-Li fraction"),
    "sei_log_offset_cycles": (1.0, "n0 of the SEI law S = a ln(n + n0): passivation starts from the formation cycle (backtest: 1 fits the presets best)"),
    "p0_inventory_rel": (0.1, "prior std of c before the first discharge: anything from no formation loss to 10 % (cell-physics sec. 2)"),
    "p0_sei_rel": (0.02, "prior std of a: SEI growth from nothing to a few % per e-fold of cycles"),
    "p0_dead_rel": (0.005, "prior std of b: CE from 100 % down to 99.5 % from dead Li (cell-physics sec. 2, Tables 3 and 5)"),
    "formation_loss_r_scale": (100.0, "a formation cycle's loss holds extra SEI the fade curve does not model, so it says little about a and b"),
    "bias_mean_rel": (0.0025, "Li a CC-CV charge leaves in the cathode, which the discharge never returns (emulator: 0.22-0.28 % of capacity)"),
    "bias_std_rel": (0.001, "spread of that residue with CV cut-off, rate and cathode"),
    "gain_std_rel": (0.0029, "current-channel gain error, uniform +/- 0.5 % (sensor_i_gain_error): std 0.5 %/sqrt(3); scales every Ah counted"),
    "forecast_model_rel": (0.06, "extrapolation error of the fade curve: this fraction of the loss still to come (backtest on the emulator presets: 3-10 % from a quarter of life on)"),
    "split_first_cycle_rel": (0.005, "dead Li of the first cycle, booked as SEI by the split (emulator: 0.3-0.6 % of the inventory)"),
    "gate_chi2": (13.8, "chi-square 99.9 % for 2 dof: innovations beyond it are non-physical (partial cycle, glitch, short)"),
    "gate_reinit_after": (3, "that many gated cycles in a row means the cell changed (e.g. swapped), not a glitch: restart"),
    "max_predict_cycles": (1000, "a longer hole in the cycle numbers is a different run: restart rather than extrapolate"),
    "eol_retention": (EOL_RETENTION, "end of life at 80 % of the initial inventory (cell-physics sec. 2, shared.cellconst)"),
    "eol_horizon_cycles": (5000, "no prediction beyond this many cycles ahead: the model says nothing that far out"),
    "eol_min_cycles": (3, "the fade curve has three parameters: no end-of-life prediction from fewer applied cycles"),
}

_POSITIVE = (
    "sigma_charge_rel",
    "sigma_discharge_rel",
    "sigma_floor_ah",
    "gate_chi2",
    "formation_loss_r_scale",
    "eol_retention",
    "p0_inventory_rel",
    "p0_sei_rel",
    "p0_dead_rel",
    "sei_log_offset_cycles",
)
_NON_NEGATIVE = ("split_first_cycle_rel", "forecast_model_rel", "q_inventory_rel", "q_sei_rel", "q_dead_rel", "bias_std_rel", "gain_std_rel")
_COUNTS = ("gate_reinit_after", "max_predict_cycles", "eol_horizon_cycles", "eol_min_cycles")


def tuning_values(overrides=None):
    """Return {name: value} of the defaults with ``overrides`` applied, validated.

    ``overrides`` maps names to values (or to {"value": v, "why": ...}).
    Raises ValueError naming the field for an unknown name or a bad value.
    """
    values = overridden(DEFAULT_TUNING, overrides, "tuning", unwrap=True)
    for name in _POSITIVE:
        if not values[name] > 0:
            raise ValueError("tuning: " + name + " must be > 0, got " + repr(values[name]))
    for name in _NON_NEGATIVE:
        if not values[name] >= 0:
            raise ValueError("tuning: " + name + " must be >= 0, got " + repr(values[name]))
    for name in _COUNTS:
        if int(values[name]) != values[name] or values[name] < 1:
            raise ValueError("tuning: " + name + " must be an integer >= 1, got " + repr(values[name]))
        values[name] = int(values[name])
    if not values["eol_retention"] < 1.0:
        raise ValueError("tuning: eol_retention must be < 1, got " + repr(values["eol_retention"]))
    return values


def tuning_from_json(text):
    """Parse a JSON object of overrides ({"name": value or {"value": v, "why": s}})."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("tuning: JSON must be an object")
    return tuning_values(data)


def tuning_as_json():
    """The defaults as JSON with their rationale, a starting point for a local file."""
    return json.dumps({k: {"value": v, "why": w} for k, (v, w) in DEFAULT_TUNING.items()}, indent=2)


FIRST_CYCLE_LOSS_R_SCALE = 1e6  # cycle 1's loss is formation, outside the fade curve: its row of z is ignored


def inventory_row(n, n0):
    """h with I_n = h . x (after cycle n >= 1; n0: ``sei_log_offset_cycles``)."""
    return np.array([1.0, -math.log(n + n0), -float(n)])


def loss_row(n, n0):
    """h with L_n = h . x (the loss of cycle n >= 1; cycle 1's is formation and ignored)."""
    return np.array([0.0, math.log((n + n0) / (n - 1.0 + n0)), 1.0])


def observation(n, n0):
    """H of cycle n: rows for z = [discharge_ah, charge_ah - discharge_ah]."""
    return np.stack([inventory_row(n, n0), loss_row(n, n0)])


def measurement(msg, sigma_c_ah, sigma_d_ah, formation_scale):
    """(z, R) of one cycle message: z = [discharge, charge - discharge] (Ah)."""
    charge_ah = float(msg["charge_ah"])
    discharge_ah = float(msg["discharge_ah"])
    # z2 = charge - discharge shares the discharge's counting error, so the
    # two components are anti-correlated: R says so instead of pretending
    # they are independent.
    var_c = sigma_c_ah**2
    var_d = sigma_d_ah**2
    R = np.array([[var_d, -var_d], [-var_d, var_c + var_d]])
    if max(int(msg["cycle"]), 1) == 1:
        # the first cycle is formation whatever the flag says: its inventory
        # sits off the fade curve (extra SEI) and its loss is outside it
        R[0, 0] *= formation_scale
        R[0, 1] *= math.sqrt(formation_scale)
        R[1, 0] = R[0, 1]
        R[1, 1] *= FIRST_CYCLE_LOSS_R_SCALE
    elif msg.get("formation"):
        # a later formation cycle still forms extra SEI: its loss is loose
        R[1, 1] *= formation_scale
    z = np.array([[discharge_ah], [charge_ah - discharge_ah]])
    return z, R


def _loss_learnt(msg):
    """Whether an applied cycle teaches the filter the cell's loss: not cycle 1
    and not a formation cycle, whose loss ``measurement`` loosens (extra SEI)."""
    return max(int(msg["cycle"]), 1) > 1 and not msg.get("formation")


# Outcomes of update_cycle.
INIT = "init"
UPDATE = "update"
GATED = "gated"
STALE = "stale"
SKIPPED = "skipped"


class InventoryFilter:
    """Kalman filter on the fade curve x = [c_ah, sei_ah_per_efold, dead_ah_per_cycle], one step per cycle."""

    def __init__(self, tuning=None, knee_tuning=None):
        self.tuning = tuning_values(tuning)
        self._n0 = self.tuning["sei_log_offset_cycles"]
        kf = KalmanFilter(dim_x=3, dim_z=2)
        kf.F = np.eye(3)  # the fade curve's parameters are constant (Q lets them drift)
        self.kf = kf
        self.initial_ah = None  # the first charge (counted): the initial inventory less the charge's residue
        self.first_cycle = None  # cycle number that initialised the filter
        self.last_cycle = None  # cycle number of the last applied message
        self.updates = 0  # cycles applied (init included)
        self.gated = 0  # cycles refused by the innovation gate
        self.restarts = 0  # re-initialisations after a hole or gated streak
        # The cell's initial inventory, the reference of retention and EOL:
        # set by the run's first initialisation, kept across a gated-streak
        # restart (the cell is the same, as for the fade history below) and
        # dropped with a hole in the cycle numbers (a different run).
        self._bol_inventory_ah = None
        self._gated_run = 0
        self.last_mahalanobis = None
        self.last_loss_z = None  # loss innovation in std of its prediction (short evidence)
        self.loss_cycles = 0  # applied cycles since the last (re)start whose loss the filter learnt from (not cycle 1, not formation)
        self.last_loss_excess_ah = None  # observed minus predicted loss of the last cycle offered
        # The measured fade (cycle, counted discharge) of every cycle offered,
        # gated ones included (the knee fit has its own robust gate), kept
        # across a gated-streak restart (the fade is still this cell's) and
        # dropped with a hole in the cycle numbers (a different run).
        self.fade_cycles = []
        self.fade_ah = []
        self._fade_fit = None  # knee.FadeFit of the history (see fade_fit)
        self._fade_fit_len = 0  # history length it was fitted on
        self.knee_tuning = knee_tuning

    # -- state ---------------------------------------------------------------

    @property
    def initialised(self):
        return self.initial_ah is not None

    @property
    def x(self):
        """State column [[c_ah], [sei_ah_per_efold], [dead_ah_per_cycle]] (a copy), None before the first cycle."""
        return self.kf.x.copy() if self.initialised else None

    @property
    def P(self):
        """State covariance, Ah^2 (a copy), None before the first cycle."""
        return self.kf.P.copy() if self.initialised else None

    def _n(self, cycle=None):
        return max(int(self.last_cycle if cycle is None else cycle), 1)

    def _linear(self, h):
        """(mean, std) of h . x."""
        return float(h @ self.kf.x[:, 0]), math.sqrt(max(float(h @ self.kf.P @ h), 0.0))

    @property
    def bias_ah(self):
        """Mean of true minus counted inventory (the charge's residue), Ah."""
        return self.tuning["bias_mean_rel"] * self.initial_ah if self.initialised else None

    def _bias_var_ah2(self, counted_ah):
        t = self.tuning
        return (t["bias_std_rel"] * self.initial_ah) ** 2 + (t["gain_std_rel"] * counted_ah) ** 2

    @property
    def counted_inventory_ah(self):
        return self._linear(inventory_row(self._n(), self._n0))[0] if self.initialised else None

    @property
    def inventory_ah(self):
        """Estimated true cyclable Li (cathode + plated) after the last cycle, Ah."""
        if not self.initialised:
            return None
        return self._linear(inventory_row(self._n(), self._n0))[0] + self.bias_ah

    @property
    def inventory_std_ah(self):
        if not self.initialised:
            return None
        counted, std = self._linear(inventory_row(self._n(), self._n0))
        return math.sqrt(std**2 + self._bias_var_ah2(counted))

    @property
    def initial_inventory_ah(self):
        """Estimated true initial inventory: the run's first charge plus the
        residue it left (kept across a gated-streak restart)."""
        if not self.initialised:
            return None
        return self._bol_inventory_ah if self._bol_inventory_ah is not None else self.initial_ah + self.bias_ah

    @property
    def loss_ah_per_cycle(self):
        """Expected loss of the next cycle, Ah."""
        return self._linear(loss_row(self._n() + 1, self._n0))[0] if self.initialised else None

    @property
    def loss_std_ah_per_cycle(self):
        return self._linear(loss_row(self._n() + 1, self._n0))[1] if self.initialised else None

    @property
    def loss_drift_ah_per_cycle2(self):
        """Change of the loss per cycle at the last cycle (the SEI part fading): L_{n+1} - L_n."""
        if not self.initialised:
            return None
        n = self._n()
        return float((loss_row(n + 1, self._n0) - loss_row(max(n, 1), self._n0)) @ self.kf.x[:, 0])

    def loss_split(self):
        """{"sei_ah", "sei_std_ah", "dead_ah", "dead_std_ah"}: cumulative loss by mechanism, or None.

        SEI = (initial - c) + a ln n (formation plus self-limiting growth),
        dead Li = b n (linear); see the module docstring for why this is
        observable and its known bias. The counting bias cancels: both are
        differences of counted inventories (the gain scales them by < 0.5 %).
        """
        if not self.initialised:
            return None
        n = self._n()
        sei, sei_std = self._linear(np.array([-1.0, math.log(n + self._n0), 0.0]))
        sei += self.initial_ah
        dead, dead_std = self._linear(np.array([0.0, 0.0, float(n)]))
        # the initial charge's own counting error adds to the SEI's std, and
        # the first cycle's dead Li, booked as SEI, to both
        t = self.tuning
        split_var = (t["split_first_cycle_rel"] * self.initial_ah) ** 2
        sei_std = math.sqrt(sei_std**2 + (t["sigma_charge_rel"] * self.initial_ah) ** 2 + split_var)
        dead_std = math.sqrt(dead_std**2 + split_var)
        return {"sei_ah": sei, "sei_std_ah": sei_std, "dead_ah": dead, "dead_std_ah": dead_std}

    # -- steps ---------------------------------------------------------------

    def _measurement(self, msg):
        return measurement(msg, self._sigma_c_ah, self._sigma_d_ah, self.tuning["formation_loss_r_scale"])

    def _init(self, msg, cycle):
        t = self.tuning
        i0 = float(msg["charge_ah"])
        self.initial_ah = i0
        if self._bol_inventory_ah is None:
            self._bol_inventory_ah = i0 + self.bias_ah
        floor = t["sigma_floor_ah"]
        self._sigma_c_ah = max(t["sigma_charge_rel"] * i0, floor)
        self._sigma_d_ah = max(t["sigma_discharge_rel"] * i0, floor)
        # Q: diagonal random walk of the parameters, scaled to this cell's size.
        self.kf.Q = np.diag([(t["q_inventory_rel"] * i0) ** 2, (t["q_sei_rel"] * i0) ** 2, (t["q_dead_rel"] * i0) ** 2])
        # Prior: c near the first charge, no SEI growth, no dead Li, all wide;
        # then the first cycle is an ordinary update.
        self.kf.x = np.array([[i0], [0.0], [0.0]])
        self.kf.P = np.diag([(t["p0_inventory_rel"] * i0) ** 2, (t["p0_sei_rel"] * i0) ** 2, (t["p0_dead_rel"] * i0) ** 2])
        self.first_cycle = cycle
        z, R = self._measurement(msg)
        self.kf.H = observation(max(cycle, 1), self._n0)
        self.kf.update(z, R=R)
        self.last_cycle = cycle
        self.updates += 1
        self.loss_cycles = int(_loss_learnt(msg))
        self._gated_run = 0
        self.last_mahalanobis = 0.0
        self.last_loss_z = 0.0
        self.last_loss_excess_ah = 0.0
        return INIT

    def update_cycle(self, msg):
        """Apply one validated ``cycle`` message; return INIT/UPDATE/GATED/STALE/SKIPPED."""
        outcome = self._update_cycle(msg)
        if outcome in (INIT, UPDATE, GATED):
            cycle = int(msg["cycle"])
            if self.fade_cycles and (cycle <= self.fade_cycles[-1] or cycle - self.fade_cycles[-1] > self.tuning["max_predict_cycles"]):
                self.fade_cycles, self.fade_ah = [], []
            self.fade_cycles.append(cycle)
            self.fade_ah.append(float(msg["discharge_ah"]))
            self._fade_fit_len = None  # refitted when asked (predict_eol, knee_*): a cycle update stays cheap
        return outcome

    @property
    def fade_fit(self):
        """``knee.FadeFit`` of the measured fade (fitted once per new cycle, when asked), None while too short."""
        if self._fade_fit_len != len(self.fade_cycles):
            self._fade_fit = fit_fade(self.fade_cycles, self.fade_ah, self.knee_tuning)
            self._fade_fit_len = len(self.fade_cycles)
        return self._fade_fit

    @property
    def knee_detected(self):
        """The fade has bent downwards (``knee.fit_fade``): False while too short to tell."""
        fit = self.fade_fit
        return bool(fit is not None and fit.detected)

    @property
    def knee_cycle(self):
        """Cycle at which the fade started to accelerate, None unless ``knee_detected``."""
        return self.fade_fit.knee_cycle if self.knee_detected else None

    def _update_cycle(self, msg):
        cycle = int(msg["cycle"])
        last_cycle = self.last_cycle
        if not self.initialised or last_cycle is None:
            if not float(msg["charge_ah"]) > 0.0:
                return SKIPPED  # nothing extracted: cannot size the cell from it
            return self._init(msg, cycle)
        if cycle <= last_cycle:
            # Repeated or out-of-order: a Kalman filter cannot go back in time,
            # and applying a cycle twice would count its loss twice.
            return STALE
        steps = cycle - last_cycle
        if steps > self.tuning["max_predict_cycles"]:
            self.restarts += 1
            self.initial_ah = None
            self._bol_inventory_ah = None
            return self._update_cycle(msg) if float(msg["charge_ah"]) > 0.0 else SKIPPED
        z, R = self._measurement(msg)
        H = observation(max(cycle, 1), self._n0)
        # Predict across every cycle since the last one (the parameters
        # random-walk once per cycle): x = F x, P = F P F' + Q, per cycle.
        x_save, P_save = self.kf.x.copy(), self.kf.P.copy()
        for _ in range(steps):
            self.kf.predict()
        # Gate on the Mahalanobis distance of the innovation y = z - H x
        # with S = H P H' + R before letting it move the state.
        y = z - H @ self.kf.x
        S = H @ self.kf.P @ H.T + R
        d2 = (y.T @ np.linalg.solve(S, y)).item()
        self.last_mahalanobis = math.sqrt(max(d2, 0.0))
        # The loss innovation alone, signed: a short leaks charge, so the
        # cycle loses more than predicted (evidence for the short detector).
        self.last_loss_excess_ah = float(y[1, 0])
        self.last_loss_z = float(y[1, 0]) / math.sqrt(float(S[1, 1]))
        if d2 > self.tuning["gate_chi2"]:
            self.gated += 1
            self._gated_run += 1
            if self._gated_run >= self.tuning["gate_reinit_after"]:
                self.restarts += 1
                self.initial_ah = None
                return self._init(msg, cycle) if float(msg["charge_ah"]) > 0.0 else GATED
            # Refused: keep the prior as it was, as if this cycle were not seen
            # (its cycle number is not consumed, the next one predicts across it).
            self.kf.x, self.kf.P = x_save, P_save
            return GATED
        # Update (filterpy uses the Joseph form, which keeps P symmetric and
        # positive even with the anti-correlated R).
        self.kf.H = H
        self.kf.update(z, R=R)
        self.last_cycle = cycle
        self.updates += 1
        self.loss_cycles += int(_loss_learnt(msg))
        self._gated_run = 0
        return UPDATE

    # -- prediction ------------------------------------------------------------

    def forecast(self, cycles):
        """(mean_ah, std_ah) of the true inventory after each of ``cycles`` (array, > last cycle).

        mean = h_k . x + bias; var = h_k P h_k' + the parameters' random walk
        between now and cycle k (m = k - last cycle steps: m Q mapped through
        h_k) + the count bias.
        """
        k = np.asarray(cycles, dtype=float)
        A = np.stack([np.ones_like(k), -np.log(k + self._n0), -k], axis=1)
        mean = A @ self.kf.x[:, 0]
        var = np.einsum("ki,ij,kj->k", A, self.kf.P, A)
        m = k - self._n()
        var += m * np.einsum("ki,ij,kj->k", A, self.kf.Q, A)
        t = self.tuning
        # the curve's shape is a model: its error grows with the loss it extrapolates
        now = float(inventory_row(self._n(), self._n0) @ self.kf.x[:, 0])
        var += (t["forecast_model_rel"] * (now - mean)) ** 2
        var += (t["bias_std_rel"] * self.initial_ah) ** 2 + (t["gain_std_rel"] * np.maximum(mean, 0.0)) ** 2
        return mean + self.bias_ah, np.sqrt(np.maximum(var, 0.0))

    def predict_eol(self, *, retention=None, initial_ah=None):
        """(pred, lo, hi): cycle at which the true inventory reaches ``retention`` of the initial one.

        lo and hi bound a 90 % interval (see ``crossing_cycles``). ``retention``
        defaults to the tuning's ``eol_retention``, ``initial_ah`` to the
        estimated true initial inventory (keyword-only, as in ``predict_eol_cycle``). Before
        ``eol_min_cycles`` applied cycles: (None, None, None); if the threshold is already crossed: the
        last cycle for all three; a value is None when it lies beyond
        ``eol_horizon_cycles``.
        """
        if not self.initialised or self.last_cycle is None:
            return None, None, None
        if retention is None:
            retention = self.tuning["eol_retention"]
        if initial_ah is None:
            initial_ah = self.initial_inventory_ah
        if not (initial_ah > 0 and 0 < retention < 1):
            return None, None, None
        threshold_ah = retention * initial_ah
        curve = self._predict_eol_curve(threshold_ah) if self.updates >= self.tuning["eol_min_cycles"] else None
        fit = self.fade_fit
        if curve is not None and curve[0] == curve[1] == curve[2] == float(self.last_cycle):
            return curve  # already below the threshold
        if fit is None:
            return curve or (None, None, None)
        # Model-form uncertainty (eol.py): the fade curve, the straight line
        # and the bent line, weighed by the data
        n = self._n()
        cycles = np.arange(n, n + self.tuning["eol_horizon_cycles"] + 1, dtype=float)
        counted_ah = threshold_ah - self.bias_ah  # the fits are on counted discharge
        return eol_of_forms(fit, curve, cycles, counted_ah, self._n0)

    def _predict_eol_curve(self, threshold_ah):
        """(pred, lo, hi) crossing of ``threshold_ah`` (true Ah) by the fade curve c - a ln(n + n0) - b n."""
        if self.inventory_ah <= threshold_ah:
            c = float(self.last_cycle)
            return c, c, c
        n = self._n()
        cycles = np.arange(n, n + self.tuning["eol_horizon_cycles"] + 1, dtype=float)
        mean, std = self.forecast(cycles[1:])
        # include the present (known) point so a crossing in the next cycle interpolates from it
        mean = np.concatenate([[self.inventory_ah], mean])
        std = np.concatenate([[self.inventory_std_ah], std])
        return crossing_cycles(mean, std, threshold_ah, cycles)

    def predict_eol_cycle(self, *, retention=None, initial_ah=None):
        """(pred, lo, hi) end-of-life *cycle numbers*: the first cycle after which the
        inventory is below the threshold, i.e. each crossing of ``predict_eol`` (same
        arguments) rounded up (the same definition as the cycler's eol_cycle). None
        where that gives None."""
        crossing = self.predict_eol(retention=retention, initial_ah=initial_ah)
        return tuple(None if c is None else float(math.ceil(c - 1e-9)) for c in crossing)


# -- resistance ------------------------------------------------------------------

RESISTANCE_TUNING = {
    "ea_kj_mol": (30.0, "effective activation energy of the series resistance: ohmic (12-20 kJ/mol) and charge transfer (50) weighted by the presets' shares"),
    "t_ref_c": (25.0, "resistances are reported at this temperature"),
    "sigma_r_rel": (0.015, "scatter of the board's impedance estimate per cycle (1 % in the emulator, more on a real shunt), fraction of the first value"),
    "q_r_rel": (0.002, "per-cycle random walk of the resistance itself: contact loss, fracture (cell-physics sec. 4, 6)"),
    "q_growth_rel": (0.0002, "per-cycle drift of the growth rate: SEI growth slows, contact loss can accelerate"),
    "p0_growth_rel": (0.01, "prior std of the growth per cycle: up to 1 % of the initial resistance per cycle"),
    "limit_factor": (2.0, "end of life by resistance: twice the first (temperature-compensated) resistance, configurable"),
    "gate_chi2": (10.8, "chi-square 99.9 % for 1 dof: a single absurd impedance estimate is refused"),
    "horizon_cycles": (5000, "no prediction beyond this many cycles ahead"),
}


def resistance_tuning(overrides=None):
    values = overridden(RESISTANCE_TUNING, overrides, "resistance tuning", minimum=0)
    if not values["limit_factor"] > 1.0:
        raise ValueError("resistance tuning: limit_factor must be > 1")
    return values


def arrhenius_to_ref(r_ohm, temperature_c, ea_kj_mol, t_ref_c=25.0):
    """The resistance measured at ``temperature_c`` expressed at ``t_ref_c`` (Arrhenius)."""
    return r_ohm * arrhenius(1e3 * ea_kj_mol, temperature_c, t_ref_c)


class ResistanceFilter:
    """Kalman filter on x = [r_ref_ohm, growth_ohm_per_cycle]: the series resistance at
    ``t_ref_c`` (temperature-compensated) and its growth per cycle (constant-velocity model).

    Observation: the cycle summary's ``r_ohm`` at the cycle's mean temperature
    ((t_min_c + t_max_c) / 2), compensated to t_ref_c; cycles with r_ohm = 0
    (no estimate yet) are skipped. Gated like the inventory filter.
    """

    def __init__(self, tuning=None):
        self.t = resistance_tuning(tuning)
        kf = KalmanFilter(dim_x=2, dim_z=1)
        kf.F = np.array([[1.0, 1.0], [0.0, 1.0]])  # R' = R + growth
        kf.H = np.array([[1.0, 0.0]])
        self.kf = kf
        self.initial_ohm = None
        self.last_cycle = None
        self.gated = 0

    @property
    def initialised(self):
        return self.initial_ohm is not None

    def update_cycle(self, msg):
        r = float(msg.get("r_ohm") or 0.0)
        if not r > 0.0:
            return SKIPPED
        temp_c = 0.5 * (float(msg.get("t_min_c", 25.0)) + float(msg.get("t_max_c", 25.0)))
        z = arrhenius_to_ref(r, temp_c, self.t["ea_kj_mol"], self.t["t_ref_c"])
        cycle = int(msg["cycle"])
        t = self.t
        if not self.initialised:
            self.initial_ohm = z
            self.kf.x = np.array([[z], [0.0]])
            self.kf.P = np.diag([(t["sigma_r_rel"] * z) ** 2, (t["p0_growth_rel"] * z) ** 2])
            self.kf.R = np.array([[(t["sigma_r_rel"] * z) ** 2]])
            self.kf.Q = np.diag([(t["q_r_rel"] * z) ** 2, (t["q_growth_rel"] * z) ** 2])
            self.last_cycle = cycle
            return INIT
        if cycle <= self.last_cycle:
            return STALE
        x_save, P_save = self.kf.x.copy(), self.kf.P.copy()
        for _ in range(min(cycle - self.last_cycle, 1000)):
            self.kf.predict()
        y = z - float(self.kf.x[0, 0])
        s = float(self.kf.P[0, 0] + self.kf.R[0, 0])
        if y * y / s > t["gate_chi2"]:
            self.kf.x, self.kf.P = x_save, P_save
            self.gated += 1
            return GATED
        self.kf.update(np.array([[z]]))
        self.last_cycle = cycle
        return UPDATE

    @property
    def r_ref_ohm(self):
        return float(self.kf.x[0, 0]) if self.initialised else None

    @property
    def r_ref_std_ohm(self):
        return math.sqrt(max(float(self.kf.P[0, 0]), 0.0)) if self.initialised else None

    @property
    def growth_ohm_per_cycle(self):
        return float(self.kf.x[1, 0]) if self.initialised else None

    def predict_limit(self, limit_ohm=None):
        """(pred, lo, hi) cycle at which the resistance reaches ``limit_ohm`` (default limit_factor x the first)."""
        if not self.initialised:
            return None, None, None
        if limit_ohm is None:
            limit_ohm = self.t["limit_factor"] * self.initial_ohm
        n = self.last_cycle
        if self.r_ref_ohm >= limit_ohm:
            return float(n), float(n), float(n)
        k = np.arange(0, int(self.t["horizon_cycles"]) + 1, dtype=float)
        x, P, Q = self.kf.x[:, 0], self.kf.P, self.kf.Q
        mean = x[0] + k * x[1]
        # var of [1, k] x plus the random walks accumulated over k steps (approximation, see InventoryFilter.forecast)
        var = P[0, 0] + 2 * k * P[0, 1] + k * k * P[1, 1] + k * Q[0, 0] + Q[1, 1] * k * (k + 1) * (2 * k + 1) / 6.0
        pred, lo, hi = crossing_cycles(mean, np.sqrt(np.maximum(var, 0.0)), limit_ohm, n + k, falling=False)
        return tuple(None if c is None else float(math.ceil(c - 1e-9)) for c in (pred, lo, hi))
