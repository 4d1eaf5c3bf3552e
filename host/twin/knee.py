"""The knee of the fade curve: when capacity loss starts to accelerate.

Why a knee (cell-physics sec. 2, 6, 12): the inventory filter's fade curve
``c - a ln(n + n0) - b n`` can only slow down (self-limiting SEI) or run
straight (dead Li). Real cells bend the other way near the end of life:
uneven plating through a degraded interface makes more dead Li per cycle,
and growing interfacial resistance cuts the usable capacity, each feeding
the other. A forecast that cannot bend predicts end of life too late, and
its interval is too narrow because it ignores that the model form itself
is in doubt.

Detection (this module, pure numpy): the measured fade (cycle number n,
counted discharge Ah) is fitted with two model forms on the part of the
history after the early fast fade:

- a straight line q = alpha + beta n;
- a bent line (Bacon-Watts with a sharp joint, a continuous two-segment
  regression): q = alpha + beta n + gamma max(n - tau, 0), the breakpoint
  tau chosen by likelihood (least squares over a grid of cycles).

Both are fitted after a robust gate: cycles further than ``outlier_mads``
robust std from the straight line are single-cycle outliers (real cyclers
have +/-10 % ones) and are left out. Real fade residuals are not white:
rests between sessions lift the capacity for tens of cycles. So every
statistic is corrected for the residuals' lag-1 autocorrelation rho
(variance inflation (1 + rho) / (1 - rho), fewer effective cycles). The
knee is *detected* when the bend is downward (gamma < 0), the later slope
is at least ``slope_ratio`` times the earlier one, and the bent line beats
the straight one by an F test on the effective cycles at ``p_max``.

Forecast: either form gives the cycle its line crosses a threshold, with a
90 % interval from its parameter covariance (inflated as above). The
inventory filter widens its own interval by these (model-form
uncertainty, ``InventoryFilter.predict_eol``).

Tuning is data (``KNEE_TUNING``, one reason each).
"""

import math

import numpy as np

from .tuning import overridden

KNEE_TUNING = {
    "min_cycles": (30, "fewer cycles cannot tell a bend from the scatter (two segments of at least 10 cycles and a gate)"),
    "skip_frac": (0.25, "the first quarter of the history holds the early fast fade (formation, SEI: a slowing bend, not the knee); CALCE CS2_35: fast fade to ~cycle 100 of 546"),
    "min_side_frac": (0.1, "each segment holds at least this fraction of the window, so one session's bump is no knee"),
    "min_side_cycles": (10, "and at least this many cycles"),
    "grid_points": (60, "breakpoints tried per fit: the knee's position to ~1/60 of the window"),
    "outlier_mads": (5.0, "a cycle this many robust std off the straight line is a single-cycle outlier (cycler glitch), not fade"),
    "slope_ratio": (2.0, "a knee at least doubles the fade rate; a smaller bend is within the scatter of a real cell's straight fade"),
    "p_max": (0.01, "F test of the bent against the straight line (effective cycles, 2 extra parameters: slope change and breakpoint)"),
    "rho_max": (0.95, "cap of the residuals' autocorrelation: beyond it the effective count is too small to say anything"),
}


def knee_tuning(overrides=None):
    values = overridden(KNEE_TUNING, overrides, "knee tuning", minimum=0)
    for k in ("min_cycles", "min_side_cycles", "grid_points"):
        if int(values[k]) != values[k] or values[k] < 1:
            raise ValueError("knee tuning: " + k + " must be an integer >= 1, got " + repr(values[k]))
        values[k] = int(values[k])
    if not 0 < values["p_max"] <= 1:
        raise ValueError("knee tuning: p_max must be in (0, 1], got " + repr(values["p_max"]))
    if not values["rho_max"] < 1:
        raise ValueError("knee tuning: rho_max must be < 1, got " + repr(values["rho_max"]))
    if not (values["skip_frac"] < 1 and values["min_side_frac"] < 0.5):
        raise ValueError("knee tuning: skip_frac must be < 1 and min_side_frac < 0.5")
    return values


def _lstsq(X, y):
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    r = y - X @ beta
    return beta, float(r @ r), r


def _rho(r):
    """Lag-1 autocorrelation of residuals (0 for white noise)."""
    if r.size < 3 or not np.any(r):
        return 0.0
    return float(np.clip(np.dot(r[1:], r[:-1]) / np.dot(r, r), 0.0, 1.0))


class FadeFit:
    """Result of ``fit_fade``: both model forms on one window of the history."""

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def line_at(self, cycles, bent):
        """(mean, std) of the fitted trend at ``cycles`` (array) for one form."""
        k = np.asarray(cycles, dtype=float)
        if bent:
            X = np.stack([np.ones_like(k), k - self.n_ref, np.maximum(k - self.knee_cycle, 0.0)], axis=1)
            b, cov = self.bent_beta, self.bent_cov
        else:
            X = np.stack([np.ones_like(k), k - self.n_ref], axis=1)
            b, cov = self.line_beta, self.line_cov
        mean = X @ b
        var = np.einsum("ki,ij,kj->k", X, cov, X)
        return mean, np.sqrt(np.maximum(var, 0.0))


def fit_fade(cycles, capacity_ah, tuning=None):
    """Fit the straight and the bent line to the fade; a ``FadeFit`` or None (too few cycles).

    ``cycles`` increasing cycle numbers, ``capacity_ah`` the counted
    discharge of each. Fields: detected (bool), knee_cycle (the breakpoint
    of the bent line, whether detected or not), slope_before / slope_after
    (Ah per cycle), p_value, rho, n_used, n_outliers, and what ``line_at``
    needs.
    """
    t = knee_tuning(tuning)
    n = np.asarray(cycles, dtype=float)
    q = np.asarray(capacity_ah, dtype=float)
    if n.size < t["min_cycles"]:
        return None
    start = n[0] + t["skip_frac"] * (n[-1] - n[0])
    return _fit_window(n[n >= start], q[n >= start], t)


def _fit_window(n, q, t):
    if n.size < t["min_cycles"]:
        return None
    n_ref = float(n[-1])  # centre the design at the last cycle: the forecast starts there
    X1 = np.stack([np.ones_like(n), n - n_ref], axis=1)
    b1, _, r1 = _lstsq(X1, q)
    mad = float(np.median(np.abs(r1 - np.median(r1)))) * 1.4826
    good = np.abs(r1) <= t["outlier_mads"] * max(mad, 1e-12)
    n_out = int(np.count_nonzero(~good))
    n, q = n[good], q[good]
    N = n.size
    if N < t["min_cycles"]:
        return None
    X1 = np.stack([np.ones_like(n), n - n_ref], axis=1)
    b1, sse1, r1 = _lstsq(X1, q)
    s2_1 = sse1 / max(N - 2, 1)
    # breakpoints: a grid over the window leaving enough cycles on each side
    side = max(int(t["min_side_cycles"]), int(math.ceil(t["min_side_frac"] * N)))
    if N < 2 * side + 1:
        return None
    # every breakpoint at once through the normal equations (3 x 3 each): a
    # fit per cycle stays cheap on a long history
    idx = np.unique(np.linspace(side, N - side - 1, int(t["grid_points"])).astype(int))
    taus = n[idx]
    x = n - n_ref
    Z = np.maximum(n[None, :] - taus[:, None], 0.0)  # (G, N)
    G = taus.size
    A = np.empty((G, 3, 3))
    A[:, 0, 0] = N
    A[:, 0, 1] = A[:, 1, 0] = x.sum()
    A[:, 1, 1] = x @ x
    A[:, 0, 2] = A[:, 2, 0] = Z.sum(axis=1)
    A[:, 1, 2] = A[:, 2, 1] = Z @ x
    A[:, 2, 2] = np.einsum("gn,gn->g", Z, Z)
    rhs = np.stack([np.full(G, q.sum()), np.full(G, x @ q), Z @ q], axis=1)
    betas = np.linalg.solve(A, rhs[:, :, None])[:, :, 0]
    sses = q @ q - np.einsum("gi,gi->g", betas, rhs)
    g = int(np.argmin(sses))
    tau = float(taus[g])
    X2 = np.column_stack([X1, Z[g]])
    b2, sse2, r2 = _lstsq(X2, q)  # the chosen one again, accurately
    # autocorrelation from the bent fit's residuals: those of the straight
    # line would count the bend itself as correlated noise
    rho = min(_rho(r2), t["rho_max"])
    inflate = (1.0 + rho) / (1.0 - rho)
    n_eff = max(N / inflate, 5.0)
    cov1 = s2_1 * inflate * np.linalg.inv(X1.T @ X1)
    s2_2 = sse2 / max(N - 4, 1)
    cov2 = s2_2 * inflate * np.linalg.inv(X2.T @ X2)
    # F test of the bend (2 extra parameters: gamma and tau), the residual
    # variance inflated for autocorrelation and the dof counted in effective cycles
    F = ((sse1 - sse2) / 2.0) / (s2_2 * inflate) if sse2 > 0 else math.inf
    p = _f_sf(F, 2.0, max(n_eff - 4.0, 1.0))
    before, after = float(b2[1]), float(b2[1] + b2[2])
    # a rise before the breakpoint is a rest's recovery, not a slow fade
    detected = bool(b2[2] < 0.0 and before < 0.0 and -after >= t["slope_ratio"] * max(-before, 0.0) and p <= t["p_max"])
    return FadeFit(
        detected=detected,
        bends_down=bool(b2[2] < 0.0 and after < 0.0),
        knee_cycle=tau,
        slope_before=before,
        slope_after=after,
        p_value=p,
        rho=rho,
        n_used=N,
        n_eff=n_eff,
        sse_line=sse1,
        sse_bent=sse2,
        cycles_used=n,
        capacity_used_ah=q,
        n_outliers=n_out,
        n_ref=n_ref,
        window_start=float(n[0]),
        line_beta=b1,
        line_cov=cov1,
        bent_beta=b2,
        bent_cov=cov2,
    )


def _f_sf(F, d1, d2):
    """P(F(d1, d2) > F), the F distribution's survival function (scipy's, imported late: host only)."""
    if not math.isfinite(F):
        return 0.0
    from scipy.stats import f as f_dist

    return float(f_dist.sf(max(F, 0.0), d1, d2))
