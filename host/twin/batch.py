"""Batched inventory filter: the same Kalman filter as ``InventoryFilter``
for many cells at once, as numpy arrays (vectorised over cells).

State per cell i: x[i] (3,), P[i] (3, 3), Q[i], the counting std, the
first charge, the last cycle applied and the gated-run counter. ``update``
takes one cycle summary per cell (arrays; cells without news this round
are masked out) and does, for every cell at once, exactly what
``InventoryFilter.update_cycle`` does for one: skip, stale, init, restart
after a hole or a gated streak, predict (F = I, so P += steps Q), the
chi-square gate, and filterpy's Joseph-form update
(K = P H' S^-1, x += K y, P = (I - K H) P (I - K H)' + K R K').
tests/host/twin/test_twin_batch.py proves both agree to 1e-9 on the same
data, outcomes included.

Failure behaviour: shapes are checked at the call (``ValueError`` naming
the argument); a cell's numbers never affect another's.
"""

import math

import numpy as np

from .filters import FIRST_CYCLE_LOSS_R_SCALE, GATED, INIT, SKIPPED, STALE, UPDATE, tuning_values

NONE = ""  # no message for this cell this round
OUTCOMES = (NONE, INIT, UPDATE, GATED, STALE, SKIPPED)
_CODE = {o: k for k, o in enumerate(OUTCOMES)}


class BatchInventoryFilter:
    """``n_cells`` inventory filters in arrays; one tuning for all."""

    def __init__(self, n_cells, tuning=None):
        t = self.tuning = tuning_values(tuning)
        self.n = int(n_cells)
        n = self.n
        self.n0 = t["sei_log_offset_cycles"]
        self.x = np.zeros((n, 3))
        self.P = np.zeros((n, 3, 3))
        self.Q = np.zeros((n, 3, 3))
        self.sigma_c = np.zeros(n)
        self.sigma_d = np.zeros(n)
        self.initial_ah = np.full(n, np.nan)  # nan: not initialised
        self.last_cycle = np.zeros(n, dtype=np.int64)
        self.gated_run = np.zeros(n, dtype=np.int64)
        self.updates = np.zeros(n, dtype=np.int64)
        self.gated = np.zeros(n, dtype=np.int64)
        self.restarts = np.zeros(n, dtype=np.int64)
        self._eye = np.eye(3)

    @property
    def initialised(self):
        return ~np.isnan(self.initial_ah)

    # -- model pieces, vectorised -------------------------------------------------

    def _H(self, cycle):
        """(m, 2, 3) observation matrices for cycle numbers ``cycle`` (m,)."""
        nn = np.maximum(cycle, 1).astype(float)
        H = np.zeros((nn.size, 2, 3))
        H[:, 0, 0] = 1.0
        H[:, 0, 1] = -np.log(nn + self.n0)
        H[:, 0, 2] = -nn
        H[:, 1, 1] = np.log((nn + self.n0) / (nn - 1.0 + self.n0))
        H[:, 1, 2] = 1.0
        return H

    def _R(self, idx, cycle, formation):
        t = self.tuning
        vc = self.sigma_c[idx] ** 2
        vd = self.sigma_d[idx] ** 2
        R = np.empty((idx.size, 2, 2))
        R[:, 0, 0] = vd
        R[:, 0, 1] = -vd
        R[:, 1, 0] = -vd
        R[:, 1, 1] = vc + vd
        first = np.maximum(cycle, 1) == 1
        s = t["formation_loss_r_scale"]
        R[first, 0, 0] *= s
        R[first, 0, 1] *= math.sqrt(s)
        R[first, 1, 0] = R[first, 0, 1]
        R[first, 1, 1] *= FIRST_CYCLE_LOSS_R_SCALE
        later = ~first & formation
        R[later, 1, 1] *= s
        return R

    def _kalman_update(self, idx, z, H, R):
        """filterpy KalmanFilter.update for cells ``idx``: Joseph form."""
        x, P = self.x[idx], self.P[idx]
        y = z - np.einsum("mij,mj->mi", H, x)
        PHT = P @ H.transpose(0, 2, 1)
        S = H @ PHT + R
        K = PHT @ np.linalg.inv(S)
        self.x[idx] = x + np.einsum("mij,mj->mi", K, y)
        I_KH = self._eye - K @ H
        self.P[idx] = I_KH @ P @ I_KH.transpose(0, 2, 1) + K @ R @ K.transpose(0, 2, 1)

    def _init(self, idx, cycle, charge, z, formation):
        t = self.tuning
        floor = t["sigma_floor_ah"]
        i0 = charge
        self.initial_ah[idx] = i0
        self.sigma_c[idx] = np.maximum(t["sigma_charge_rel"] * i0, floor)
        self.sigma_d[idx] = np.maximum(t["sigma_discharge_rel"] * i0, floor)
        Q = np.zeros((idx.size, 3, 3))
        Q[:, 0, 0] = (t["q_inventory_rel"] * i0) ** 2
        Q[:, 1, 1] = (t["q_sei_rel"] * i0) ** 2
        Q[:, 2, 2] = (t["q_dead_rel"] * i0) ** 2
        self.Q[idx] = Q
        x = np.zeros((idx.size, 3))
        x[:, 0] = i0
        self.x[idx] = x
        P = np.zeros((idx.size, 3, 3))
        P[:, 0, 0] = (t["p0_inventory_rel"] * i0) ** 2
        P[:, 1, 1] = (t["p0_sei_rel"] * i0) ** 2
        P[:, 2, 2] = (t["p0_dead_rel"] * i0) ** 2
        self.P[idx] = P
        self._kalman_update(idx, z, self._H(cycle), self._R(idx, cycle, formation))
        self.last_cycle[idx] = cycle
        self.updates[idx] += 1
        self.gated_run[idx] = 0

    # -- one round ---------------------------------------------------------------

    def update(self, cycle, charge_ah, discharge_ah, formation=None, mask=None):
        """One cycle summary per cell (arrays of n_cells); returns an array of outcome strings."""
        n = self.n
        cycle = np.asarray(cycle, dtype=np.int64)
        charge = np.asarray(charge_ah, dtype=float)
        discharge = np.asarray(discharge_ah, dtype=float)
        formation = np.zeros(n, dtype=bool) if formation is None else np.asarray(formation, dtype=bool)
        mask = np.ones(n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        for name, a in (("cycle", cycle), ("charge_ah", charge), ("discharge_ah", discharge), ("formation", formation), ("mask", mask)):
            if a.shape != (n,):
                raise ValueError("%s must have shape (%d,), got %s" % (name, n, a.shape))
        t = self.tuning
        out = np.zeros(n, dtype=np.int64)
        z = np.stack([discharge, charge - discharge], axis=1)

        init_ok = self.initialised
        # a hole longer than max_predict_cycles restarts the cell
        hole = mask & init_ok & (cycle - self.last_cycle > t["max_predict_cycles"])
        self.restarts[hole] += 1
        self.initial_ah[hole] = np.nan
        init_ok = self.initialised

        fresh = mask & ~init_ok
        skip = fresh & ~(charge > 0.0)
        out[skip] = _CODE[SKIPPED]
        start = fresh & (charge > 0.0)
        idx = np.nonzero(start)[0]
        if idx.size:
            self._init(idx, cycle[idx], charge[idx], z[idx], formation[idx])
            out[idx] = _CODE[INIT]

        live = mask & init_ok
        stale = live & (cycle <= self.last_cycle)
        out[stale] = _CODE[STALE]
        go = np.nonzero(live & ~stale)[0]
        if go.size:
            c = cycle[go]
            steps = (c - self.last_cycle[go]).astype(float)
            # predict: F = I, so steps x (P = P + Q)
            Pp = self.P[go] + steps[:, None, None] * self.Q[go]
            xp = self.x[go]
            H = self._H(c)
            R = self._R(go, c, formation[go])
            y = z[go] - np.einsum("mij,mj->mi", H, xp)
            S = H @ Pp @ H.transpose(0, 2, 1) + R
            d2 = np.einsum("mi,mi->m", y, np.linalg.solve(S, y[:, :, None])[:, :, 0])
            gate = d2 > t["gate_chi2"]
            g = go[gate]
            self.gated[g] += 1
            self.gated_run[g] += 1
            reinit = g[self.gated_run[g] >= t["gate_reinit_after"]]
            held = g[self.gated_run[g] < t["gate_reinit_after"]]
            out[held] = _CODE[GATED]
            if reinit.size:
                self.restarts[reinit] += 1
                ok = reinit[charge[reinit] > 0.0]
                out[reinit] = _CODE[GATED]
                self.initial_ah[reinit] = np.nan
                if ok.size:
                    self._init(ok, cycle[ok], charge[ok], z[ok], formation[ok])
                    out[ok] = _CODE[INIT]
            acc = go[~gate]
            if acc.size:
                self.P[acc] = Pp[~gate]
                self._kalman_update(acc, z[acc], H[~gate], R[~gate])
                self.last_cycle[acc] = cycle[acc]
                self.updates[acc] += 1
                self.gated_run[acc] = 0
                out[acc] = _CODE[UPDATE]
        return np.array(OUTCOMES, dtype=object)[out]

    def inventory_ah(self):
        """Counted-inventory estimate plus the residue bias, per cell (nan if not initialised)."""
        nn = np.maximum(self.last_cycle, 1).astype(float)
        h = np.stack([np.ones_like(nn), -np.log(nn + self.n0), -nn], axis=1)
        return np.einsum("mi,mi->m", h, self.x) + self.tuning["bias_mean_rel"] * self.initial_ah
