"""Estimators of the digital twin: the lithium inventory of an anode-less cell.

``InventoryFilter`` is a two-state linear Kalman filter (filterpy's
``KalmanFilter``) fed once per cycle from the ``cycle`` summary message.

Physics (shared/CELL_FACTS.md sec. 1-2): all cyclable Li starts in the
cathode. The charge extracts it and plates it on the bare collector; the
discharge strips back what is still connected; what the cycle lost (SEI,
dead Li) is gone for good because there is no reservoir. So for cycle n,
with I_n the inventory before it and L_n its loss:

    charge_ah_n    = I_n            (a full charge extracts the whole inventory)
    discharge_ah_n = I_n - L_n = I_{n+1}

The state after cycle n is x = [I_{n+1}, L_n]: ``inventory_ah`` is what the
next charge can extract, ``loss_ah_per_cycle`` the current loss rate (after
formation, loss is nearly linear dead-Li growth, sec. 3.2.1, hence a
constant-rate model with a random walk on the rate).

Tuning (Q, R, initial P, gate) is data: ``DEFAULT_TUNING``, one line of
rationale per value, overridable from JSON (``tuning_from_json``). Noise
values are fractions of the first charge, so one tuning fits a 20 mAh coin
cell and a 5 Ah pouch.

Failure behaviour: a bad tuning raises ``ValueError`` naming the field at
construction. A cycle message never raises here: an older or repeated cycle
number is ignored ("stale"), a first cycle with no charge is ignored
("skipped"), a cycle whose innovation is beyond the chi-square gate (partial
cycle, counting glitch) is not applied ("gated"), and after
``gate_reinit_after`` consecutive gated cycles the filter restarts from the
data because the cell really changed. ``update_cycle`` returns which of
these happened so the caller can count it.
"""

import json
import math

import numpy as np
from filterpy.kalman import KalmanFilter

# name -> (value, why). Values relative to the first charge are marked _rel.
DEFAULT_TUNING = {
    "sigma_charge_rel": (0.002, "coulomb-counting error of one charge: shunt gain + ADC offset integrated over a cycle, ~0.2 % of capacity"),
    "sigma_discharge_rel": (0.002, "same counting chain as the charge, so the same error"),
    "sigma_floor_ah": (1e-7, "ADC resolution floor so R stays invertible for tiny cells"),
    "q_inventory_rel": (0.0005, "per-cycle inventory change the model does not explain (utilisation varying with temperature, Li reconnecting)"),
    "q_loss_rel": (0.0002, "per-cycle drift of the loss rate: SEI-to-dead-Li transition and accelerating fade before failure"),
    "p0_loss_rel": (0.01, "the first cycle's loss is SEI formation, a poor prior for the steady per-cycle loss (CELL_FACTS sec. 2)"),
    "formation_loss_r_scale": (100.0, "a formation cycle's loss is mostly SEI, so it says little about the steady loss rate"),
    "gate_chi2": (13.8, "chi-square 99.9 % for 2 dof: innovations beyond it are non-physical (partial cycle, glitch)"),
    "gate_reinit_after": (3, "that many gated cycles in a row means the cell changed (e.g. swapped), not a glitch: restart"),
    "max_predict_cycles": (1000, "a longer hole in the cycle numbers is a different run: restart rather than extrapolate"),
    "eol_min_loss_sigmas": (2.0, "predict end of life only when the loss rate is this many std above zero"),
}

_POSITIVE = ("sigma_charge_rel", "sigma_discharge_rel", "sigma_floor_ah", "gate_chi2", "formation_loss_r_scale")
_NON_NEGATIVE = ("q_inventory_rel", "q_loss_rel", "p0_loss_rel", "eol_min_loss_sigmas")
_COUNTS = ("gate_reinit_after", "max_predict_cycles")


def tuning_values(overrides=None):
    """Return {name: value} of the defaults with ``overrides`` applied, validated.

    ``overrides`` maps names to values (or to {"value": v, "why": ...}).
    Raises ValueError naming the field for an unknown name or a bad value.
    """
    values = {name: vw[0] for name, vw in DEFAULT_TUNING.items()}
    for name, raw in (overrides or {}).items():
        if name not in DEFAULT_TUNING:
            raise ValueError("tuning: unknown field " + repr(name))
        value = raw["value"] if isinstance(raw, dict) else raw
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError("tuning: " + name + " must be a finite number, got " + repr(value))
        values[name] = value
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


# Outcomes of update_cycle.
INIT = "init"
UPDATE = "update"
GATED = "gated"
STALE = "stale"
SKIPPED = "skipped"


class InventoryFilter:
    """Kalman filter on x = [inventory_ah, loss_ah_per_cycle], one step per cycle."""

    def __init__(self, tuning=None):
        self.tuning = tuning_values(tuning)
        kf = KalmanFilter(dim_x=2, dim_z=2)
        # F: the next cycle removes the current loss from the inventory; the
        # loss rate carries over (nearly linear dead-Li growth).
        kf.F = np.array([[1.0, -1.0], [0.0, 1.0]])
        # H: z = [discharge_ah, charge_ah - discharge_ah] observes the state
        # directly: the discharge returns what is left, the difference is
        # what this cycle lost.
        kf.H = np.eye(2)
        self.kf = kf
        self.initial_ah = None  # the first charge: the cell's initial inventory
        self.last_cycle = None  # cycle number of the last applied message
        self.updates = 0  # cycles applied (init included)
        self.gated = 0  # cycles refused by the innovation gate
        self.restarts = 0  # re-initialisations after a hole or gated streak
        self._gated_run = 0
        self.last_mahalanobis = None

    # -- state ---------------------------------------------------------------

    @property
    def initialised(self):
        return self.initial_ah is not None

    @property
    def x(self):
        """State column [[inventory_ah], [loss_ah_per_cycle]] (a copy), None before the first cycle."""
        return self.kf.x.copy() if self.initialised else None

    @property
    def P(self):
        """State covariance, Ah^2 (a copy), None before the first cycle."""
        return self.kf.P.copy() if self.initialised else None

    @property
    def inventory_ah(self):
        return float(self.kf.x[0, 0]) if self.initialised else None

    @property
    def inventory_std_ah(self):
        return math.sqrt(max(float(self.kf.P[0, 0]), 0.0)) if self.initialised else None

    @property
    def loss_ah_per_cycle(self):
        return float(self.kf.x[1, 0]) if self.initialised else None

    @property
    def loss_std_ah_per_cycle(self):
        return math.sqrt(max(float(self.kf.P[1, 1]), 0.0)) if self.initialised else None

    # -- steps ---------------------------------------------------------------

    def _measurement(self, msg):
        charge_ah = float(msg["charge_ah"])
        discharge_ah = float(msg["discharge_ah"])
        # z2 = charge - discharge shares the discharge's counting error, so
        # the two components of z are anti-correlated: R says so instead of
        # pretending they are independent.
        var_c = self._sigma_c_ah**2
        var_d = self._sigma_d_ah**2
        R = np.array([[var_d, -var_d], [-var_d, var_c + var_d]])
        if msg.get("formation"):
            R[1, 1] *= self.tuning["formation_loss_r_scale"]
        z = np.array([[discharge_ah], [charge_ah - discharge_ah]])
        return z, R

    def _init(self, msg, cycle):
        t = self.tuning
        self.initial_ah = float(msg["charge_ah"])
        floor = t["sigma_floor_ah"]
        self._sigma_c_ah = max(t["sigma_charge_rel"] * self.initial_ah, floor)
        self._sigma_d_ah = max(t["sigma_discharge_rel"] * self.initial_ah, floor)
        # Q: diagonal random walk, scaled to this cell's size.
        self.kf.Q = np.diag([(t["q_inventory_rel"] * self.initial_ah) ** 2, (t["q_loss_rel"] * self.initial_ah) ** 2])
        z, R = self._measurement(msg)
        self.kf.R = R
        # The first cycle is observed directly: x = z, P = R, except that its
        # loss is formation-dominated, so the loss prior is widened.
        self.kf.x = z.copy()
        P = R.copy()
        P[1, 1] += (t["p0_loss_rel"] * self.initial_ah) ** 2
        self.kf.P = P
        self.kf.x_post = self.kf.x.copy()
        self.kf.P_post = self.kf.P.copy()
        self.last_cycle = cycle
        self.updates += 1
        self._gated_run = 0
        self.last_mahalanobis = 0.0
        return INIT

    def update_cycle(self, msg):
        """Apply one validated ``cycle`` message; return INIT/UPDATE/GATED/STALE/SKIPPED."""
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
            return self.update_cycle(msg) if float(msg["charge_ah"]) > 0.0 else SKIPPED
        z, R = self._measurement(msg)
        # Predict across every cycle since the last one (missing summaries
        # still lost lithium): x = F x, P = F P F' + Q, per cycle.
        x_save, P_save = self.kf.x.copy(), self.kf.P.copy()
        for _ in range(steps):
            self.kf.predict()
        # Gate on the Mahalanobis distance of the innovation y = z - H x
        # with S = H P H' + R before letting it move the state.
        y = z - self.kf.H @ self.kf.x
        S = self.kf.H @ self.kf.P @ self.kf.H.T + R
        d2 = (y.T @ np.linalg.solve(S, y)).item()
        self.last_mahalanobis = math.sqrt(max(d2, 0.0))
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
        self.kf.update(z, R=R)
        self.last_cycle = cycle
        self.updates += 1
        self._gated_run = 0
        return UPDATE

    def predict_eol_cycle(self, initial_ah=None, retention=0.8):
        """Cycle number at which inventory_ah reaches retention * initial_ah, or None.

        Linear extrapolation of the current loss rate (first version; no
        interval yet). ``initial_ah`` defaults to the first charge. None if
        the filter is not initialised or the loss rate is not significantly
        above zero. If the threshold is already crossed, the last cycle.
        """
        inventory_ah, loss = self.inventory_ah, self.loss_ah_per_cycle
        loss_std, last_cycle = self.loss_std_ah_per_cycle, self.last_cycle
        if inventory_ah is None or loss is None or loss_std is None or last_cycle is None:
            return None  # not initialised
        if initial_ah is None:
            initial_ah = self.initial_ah
        if initial_ah is None or not (initial_ah > 0 and 0 < retention < 1):
            return None
        remaining_ah = inventory_ah - retention * initial_ah
        if remaining_ah <= 0:
            return last_cycle
        if loss <= 0 or loss <= self.tuning["eol_min_loss_sigmas"] * loss_std:
            return None
        return last_cycle + int(math.ceil(remaining_ah / loss))
