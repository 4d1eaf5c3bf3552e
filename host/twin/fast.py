"""Fast filter of the twin: an EKF (filterpy's ``ExtendedKalmanFilter``) on
the sample stream, on an equivalent-circuit model of an anode-less cell.

State x = [plated_ah, v_rc_v, r0_ohm, p_base_mpa]:
- ``plated_ah``: Li plated on the collector (what the next discharge can
  strip); state of charge = plated / inventory.
- ``v_rc_v``: voltage over the RC element (r1, tau1 from the cell's parameters).
- ``r0_ohm``: series resistance at the present temperature (random walk).
- ``p_base_mpa``: stack pressure with no plated Li (fixture preload plus the
  irreversible swelling of SEI and dead Li; a slow random walk).

Predict over dt with current I (A, + charging):
    plated' = plated + I dt / 3600;  v_rc' = v_rc e + r1 I (1 - e), e = exp(-dt/tau1)
(F and B of filterpy; coulomb counting is the model).

Observe z = [voltage_v, pressure_mpa] (cell-physics sec. 1, 4):
    V = OCV_cathode(y) - V_cu exp(-plated_areal / knee) + v_rc + r0 I
        y = 1 - (inventory - plated) / capacity  (delithiated fraction of the cathode)
    P = p_base + k_p plated,  k_p = stiffness x 4.85 um per mAh/cm2 x areal / (1 - porosity)
The voltage pins plated Li hard where the curve is steep (the anode-less
collapse at plated = 0, the end of charge) and weakly on a flat LFP
plateau; pressure is the second, independent observation of plated Li
(swelling), so coulomb-counting drift between those points is corrected.

Parameters come as a flat dict with the preset's field names
(``cell_model(params)``); tuning (Q, R) is ``FAST_TUNING``, data with reasons.

Failure behaviour: missing parameters raise ``ValueError`` naming the field
at construction; a non-finite or non-increasing sample time is skipped and
counted (``skipped``); an innovation beyond the gate is not applied
(``gated``) and the state is only predicted.
"""

import math

import numpy as np
from filterpy.kalman import ExtendedKalmanFilter

FAST_TUNING = {
    "sigma_v_v": (0.03, "voltage noise (0.5 mV) + offset (2 mV) + model error: no nucleation overpotential or hysteresis, one RC, linear charge transfer (backtest on the emulator: a 90 % interval needs ~30 mV), V"),
    "sigma_p_mpa": (0.03, "pressure sensor noise (0.02 MPa) plus swelling the model does not see (porosity changes)"),
    "q_plated_rel_per_h": (0.01, "per hour, fraction of capacity: counting error (gain 0.5 % at C/5) plus the Li lost within the cycle (SEI on charge, dead Li on discharge) the model does not book"),
    "q_r0_rel_per_h": (0.02, "resistance change per hour the model does not explain (temperature, contact), fraction of r0"),
    "q_p_base_mpa_per_h": (0.005, "slow drift of the unloaded stack pressure (temperature, irreversible swelling)"),
    "p0_plated_rel": (0.05, "prior std of plated Li at the first sample, fraction of capacity (unless the cell is known empty)"),
    "p0_r0_rel": (0.3, "prior std of r0, fraction of the preset's value"),
    "p0_p_base_mpa": (0.3, "prior std of the unloaded stack pressure (sensor offset, fixture)"),
    "q_v_rc_v_per_h": (1e-4, "the RC voltage follows the current by the model; only r1 and tau1 errors move it, V"),
    "gate_chi2": (18.4, "chi-square 99.99 % for 2 dof: a sample beyond it is a glitch"),
    "empty_margin_v": (0.1, "a voltage this far below the cathode's lowest OCV means the plated Li is gone (the collapse, cell-physics sec. 1)"),
    "empty_sigma_rel": (0.002, "std of 'plated = 0' at the collapse, fraction of capacity (the cut-off leaves a sliver)"),
}

_REQUIRED = ("area_cm2", "loading_mah_cm2", "cathode_ocv_table", "collector_potential_v", "negative_knee_mah_cm2",
             "r_ohm_ohm_cm2", "r_ct_ohm_cm2", "r_int_ohm_cm2", "r1_ohm_cm2", "tau1_s", "stack_pressure_mpa",
             "fixture_stiffness_mpa_per_um", "li_thickness_um_per_mah_cm2", "porosity_min", "initial_lithiation")  # fmt: skip


def cell_model(params):
    """The numbers the EKF needs, from a flat preset dict; ValueError names a missing field."""
    for k in _REQUIRED:
        if k not in params:
            raise ValueError("fast filter: cell parameter %s is missing" % k)
    area = float(params["area_cm2"])
    cap = area * float(params["loading_mah_cm2"]) / 1000.0
    table = np.array(params["cathode_ocv_table"], dtype=float)
    areal = 1000.0 / area  # Ah -> mAh/cm2
    return {
        "capacity_ah": cap,
        "inventory_ah": cap * float(params["initial_lithiation"]),
        "ocv_y": table[:, 0],
        "ocv_v": table[:, 1],
        "cu_v": float(params["collector_potential_v"]),
        "knee_ah": float(params["negative_knee_mah_cm2"]) / areal,
        "r0_ohm": (params["r_ohm_ohm_cm2"] + params["r_ct_ohm_cm2"] + params["r_int_ohm_cm2"]) / area,
        "r1_ohm": float(params["r1_ohm_cm2"]) / area,
        "tau1_s": float(params["tau1_s"]),
        "p0_mpa": float(params["stack_pressure_mpa"]),
        "k_p_mpa_per_ah": float(params["fixture_stiffness_mpa_per_um"]) * float(params["li_thickness_um_per_mah_cm2"]) * areal
        / (1.0 - float(params["porosity_min"])),
    }


class FastFilter:
    """EKF on the sample stream of one cell. ``step(t_s, voltage_v, current_a, pressure_mpa=None)``."""

    def __init__(self, params, tuning=None, plated_ah=0.0):
        self.m = m = cell_model(params)
        t = self.t = {k: v for k, (v, _) in FAST_TUNING.items()}
        t.update(tuning or {})
        ekf = ExtendedKalmanFilter(dim_x=4, dim_z=2)
        ekf.x = np.array([[plated_ah], [0.0], [m["r0_ohm"]], [m["p0_mpa"]]])
        cap = m["capacity_ah"]
        ekf.P = np.diag([(t["p0_plated_rel"] * cap) ** 2, 0.01**2, (t["p0_r0_rel"] * m["r0_ohm"]) ** 2, t["p0_p_base_mpa"] ** 2])
        self.ekf = ekf
        self.inventory_ah = m["inventory_ah"]  # the slow filter may keep this up to date
        self.last_t_s = None
        self.last_current_a = 0.0
        self.skipped = 0
        self.gated = 0
        self.updates = 0
        self.empties = 0  # collapse pseudo-measurements applied
        self._v_empty = float(np.min(m["ocv_v"])) - t["empty_margin_v"]
        self._H_EMPTY = np.array([[1.0, 0.0, 0.0, 0.0]])

    # -- model -------------------------------------------------------------------

    def _y(self, plated):
        m = self.m
        return min(max(1.0 - (self.inventory_ah - plated) / m["capacity_ah"], 0.0), 1.0)

    def _ocv(self, plated):
        m = self.m
        y = self._y(plated)
        v = float(np.interp(y, m["ocv_y"], m["ocv_v"]))
        k = max(plated, 0.0) / m["knee_ah"]
        return v - (m["cu_v"] * math.exp(-k) if k < 40 else 0.0)

    def _docv(self, plated):
        m = self.m
        y = self._y(plated)
        i = int(np.clip(np.searchsorted(m["ocv_y"], y) - 1, 0, len(m["ocv_y"]) - 2))
        slope = (m["ocv_v"][i + 1] - m["ocv_v"][i]) / (m["ocv_y"][i + 1] - m["ocv_y"][i])
        k = max(plated, 0.0) / m["knee_ah"]
        return slope / m["capacity_ah"] + (m["cu_v"] * math.exp(-k) / m["knee_ah"] if k < 40 else 0.0)

    def _hx(self, x, current_a, use_p):
        plated, v_rc, r0, p_base = (float(v) for v in x[:, 0])
        v = self._ocv(plated) + v_rc + r0 * current_a
        p = p_base + self.m["k_p_mpa_per_ah"] * max(plated, 0.0)
        return np.array([[v], [p if use_p else 0.0]])

    def _H(self, x, current_a, use_p):
        plated = float(x[0, 0])
        H = np.zeros((2, 4))
        H[0, 0] = self._docv(plated)
        H[0, 1] = 1.0
        H[0, 2] = current_a
        if use_p:
            H[1, 0] = self.m["k_p_mpa_per_ah"] if plated > 0 else 0.0
            H[1, 3] = 1.0
        return H

    # -- step ----------------------------------------------------------------------

    def step(self, t_s, voltage_v, current_a, pressure_mpa=None):
        """One sample: predict from the last sample's time with this sample's current, then update."""
        if not (math.isfinite(t_s) and math.isfinite(voltage_v) and math.isfinite(current_a)):
            self.skipped += 1
            return False
        if self.last_t_s is None:
            self.last_t_s = t_s
            return False
        dt = t_s - self.last_t_s
        if not dt > 0:
            self.skipped += 1
            return False
        self.last_t_s = t_s
        m, t, ekf = self.m, self.t, self.ekf
        e = math.exp(-dt / m["tau1_s"])
        # F, B: the current flowed over the interval (what a cycler logs)
        ekf.F = np.diag([1.0, e, 1.0, 1.0])
        ekf.B = np.array([[dt / 3600.0], [m["r1_ohm"] * (1.0 - e)], [0.0], [0.0]])
        h = dt / 3600.0
        ekf.Q = np.diag(
            [
                (t["q_plated_rel_per_h"] * m["capacity_ah"]) ** 2 * h,
                (t["q_v_rc_v_per_h"]) ** 2 * h,
                (t["q_r0_rel_per_h"] * m["r0_ohm"]) ** 2 * h,
                t["q_p_base_mpa_per_h"] ** 2 * h,
            ]
        )
        ekf.predict(u=np.array([[current_a]]))
        if voltage_v < self._v_empty and current_a <= 0.0:
            # The anode-less collapse (or the rest after it): the negative has
            # jumped to the collector's potential, so plated Li is ~0. The
            # collapse is a step far sharper than any linearisation, so it is
            # applied as a direct pseudo-measurement of plated = 0.
            ekf.update(np.array([[0.0]]), lambda x, *a: self._H_EMPTY, lambda x, *a: x[:1], R=np.array([[(t["empty_sigma_rel"] * m["capacity_ah"]) ** 2]]))
            self.empties += 1
            self.updates += 1
            return True
        use_p = pressure_mpa is not None and math.isfinite(pressure_mpa)
        z = np.array([[voltage_v], [pressure_mpa if use_p else 0.0]])
        R = np.diag([t["sigma_v_v"] ** 2, t["sigma_p_mpa"] ** 2 if use_p else 1.0])
        H = self._H(ekf.x, current_a, use_p)
        y = z - self._hx(ekf.x, current_a, use_p)
        S = H @ ekf.P @ H.T + R
        if (y.T @ np.linalg.solve(S, y)).item() > t["gate_chi2"]:
            self.gated += 1
            return False
        ekf.update(z, lambda x, *a: self._H(x, current_a, use_p), lambda x, *a: self._hx(x, current_a, use_p), R=R)
        # plated Li cannot be negative: clip (the collapse says empty)
        if ekf.x[0, 0] < 0.0:
            ekf.x[0, 0] = 0.0
        self.updates += 1
        return True

    @property
    def plated_ah(self):
        return float(self.ekf.x[0, 0])

    @property
    def plated_std_ah(self):
        return math.sqrt(max(float(self.ekf.P[0, 0]), 0.0))

    @property
    def r0_ohm(self):
        return float(self.ekf.x[2, 0])

    @property
    def r0_std_ohm(self):
        return math.sqrt(max(float(self.ekf.P[2, 2]), 0.0))

    @property
    def soc(self):
        return self.plated_ah / self.inventory_ah if self.inventory_ah > 0 else None
