"""The end-of-life interval under model-form uncertainty.

Each model form of the fade gives the cycle its forecast crosses the EOL
threshold as (pred, lo, hi): the median crossing and a 90 % interval from
its own parameter covariance (``crossing_cycles``). No single form
is known to be right (cell-physics sec. 2, 12):

- the fade curve c - a ln(n + n0) - b n (the inventory filter) knows the
  early, self-limiting SEI fade but cannot bend downwards;
- the straight line on the history after the early fade (``knee.fit_fade``)
  is the no-knee form: a knee only accelerates the fade, so once the early
  fade is over its crossing bounds the end of life from above. Whether it is
  over is the data's call: while the line is credible against the curved
  forms on the window (``bound_above``), the window shows no slowing fade and
  the line's upper bound is the interval's; once they reject it (the fade
  still slows, as on every emulated cell) the union's is;
- the bent line (Bacon-Watts, ``knee.fit_fade``) is the knee form: the
  fastest fade the history supports, it bounds the end of life from below
  while its bend is downward.

``combine`` treats the forms as a mixture. Their weights come from the
data (``bic_weights``: each form fitted by least squares on the knee fit's
window, the cycles counted as effective ones because rest bumps make real
residuals correlated), from equal prior weights. The interval is the union
of the 90 % intervals of every form the data do not reject (weight at least
``MIN_WEIGHT``): it covers the truth at least as often as the form that is
right. The point is the lead form's crossing (the fade curve before the
knee, the bent line after), or the weighted mixture's median if the data
reject the lead, each form's crossing taken as a two-piece normal (median
pred, 5 % at lo, 95 % at hi; an unbounded hi puts that share of the form
beyond every cycle).

Failure behaviour: a form that gives no crossing at all (pred None) still
counts with its bounds; with no form or no median the result holds None
where it has no value. Nothing here raises on a forecast's numbers.
"""

import math

import numpy as np

Z90 = 1.6448536269514722  # two-sided 90 % interval of a normal: +/- this many std


def crossing_cycles(mean, std, threshold, cycles, falling=True):
    """(pred, lo, hi): cycle numbers at which a forecast crosses ``threshold``.

    ``mean[i]``, ``std[i]`` forecast the quantity at cycle ``cycles[i]``
    (increasing). pred: the mean crosses (linear interpolation between
    cycles); lo: the crossing becomes 5 % likely (mean - 1.645 std crosses a
    falling threshold); hi: 95 % likely. None when not within the forecast.
    For a rising quantity pass ``falling=False``.
    """
    sign = 1.0 if falling else -1.0
    out = []
    for shift in (0.0, -Z90, Z90):
        curve = sign * (mean + sign * shift * std - threshold)
        past = np.nonzero(curve < 0.0)[0]
        if past.size == 0:
            out.append(None)
            continue
        k = int(past[0])
        if k == 0 or curve[k - 1] == curve[k]:
            out.append(float(cycles[k]))
        else:
            frac = curve[k - 1] / (curve[k - 1] - curve[k])
            out.append(float(cycles[k - 1] + frac * (cycles[k] - cycles[k - 1])))
    return out[0], out[1], out[2]


def _cdf(form, cycle):
    """P(crossing <= cycle) of one form, a two-piece normal through (lo, pred, hi)."""
    pred, lo, hi = form
    if pred is None:
        # no median within the horizon: at most 5 % of it before lo, nothing known after
        return 0.0 if lo is None or cycle < lo else 0.05
    if cycle <= pred:
        if lo is None or lo >= pred:
            return 0.5 if cycle == pred else 0.0
        return 0.5 * math.erfc(-(cycle - pred) / (pred - lo) * Z90 / math.sqrt(2.0))
    if hi is None:
        return 0.5  # the upper half of the form lies beyond the horizon
    if hi <= pred:
        return 1.0
    return 0.5 * math.erfc(-(cycle - pred) / (hi - pred) * Z90 / math.sqrt(2.0))


def mixture_median(forms, weights=None):
    """The cycle at which the equal-weight (or ``weights``) mixture of the forms is 50 % likely to have crossed, None if beyond all."""
    forms = list(forms)
    if not forms:
        return None
    w = weights or [1.0] * len(forms)
    total = float(sum(w))
    points = [v for f in forms for v in f if v is not None]
    if not points:
        return None
    lo, hi = min(points), max(points)

    def share(c):
        return sum(wi * _cdf(f, c) for wi, f in zip(w, forms)) / total

    if share(hi) < 0.5:
        return None
    if share(lo) >= 0.5:
        return lo
    for _ in range(60):  # bisection to far below a cycle
        mid = 0.5 * (lo + hi)
        if share(mid) >= 0.5:
            hi = mid
        else:
            lo = mid
    return hi


def union(forms):
    """(lo, hi) spanning every form's 90 % interval; hi None when any form's is unbounded."""
    los = [f[1] for f in forms if f[1] is not None]
    his = [f[2] for f in forms]
    lo = min(los) if los else None
    hi = None if not his or any(h is None for h in his) else max(his)
    return lo, hi


MIN_WEIGHT = 0.05  # a form the data make 19 times less likely than the others does not widen the interval


def bic_weights(fits):
    """Posterior weights of model forms from [(sse, n_params, n_eff)] on the same window (n_eff effective cycles).

    BIC = n_eff ln(sse / n_eff) + p ln(n_eff) (a Gaussian likelihood with the
    residual variance profiled out, the cycles counted as effective ones
    because real residuals are autocorrelated); weights exp(-BIC / 2),
    normalised, from equal prior weights. A form without a fit (sse None) gets 0.
    """
    bics = []
    for fit in fits:
        sse, p, n_eff = fit
        bics.append(None if sse is None else n_eff * math.log(max(sse, 1e-300) / n_eff) + p * math.log(n_eff))
    best = min(b for b in bics if b is not None) if any(b is not None for b in bics) else None
    if best is None:
        return [0.0] * len(fits)
    raw = [0.0 if b is None else math.exp(-0.5 * (b - best)) for b in bics]
    total = sum(raw)
    return [r / total for r in raw]


def combine(forms, weights=None, bound_above=None):
    """(pred, lo, hi) of the forms together: the weighted mixture's median inside the union of
    the 90 % intervals of every form with at least ``MIN_WEIGHT`` (``weights`` default: equal)."""
    weights = [1.0] * len(forms) if weights is None else list(weights)
    kept = [(f, w) for f, w in zip(forms, weights) if f is not None and w > 0.0]
    total = sum(w for _f, w in kept)
    kept = [(f, w) for f, w in kept if w >= MIN_WEIGHT * total]
    if not kept:
        return None, None, None
    lo, hi = union([f for f, _w in kept])
    if bound_above is not None and any(f is forms[bound_above] for f, _w in kept) and forms[bound_above][2] is not None:
        # the straight line after the early fade, still credible against the curved forms: the
        # fade no longer slows, and a knee only brings the end earlier, so its upper bound holds
        hi = forms[bound_above][2]
    # the first form is the one the caller trusts for the point (the fade curve before the
    # knee, the bent line after); if the data reject it or it never crosses, the mixture's median
    lead = forms[0]
    if kept[0][0] is lead and lead[0] is not None:
        pred = lead[0]
    else:
        pred = mixture_median([f for f, _w in kept], [w for _f, w in kept])
    if pred is None:
        # beyond the horizon by the mixture: the first form (in the caller's order) that crosses still says when
        pred = next((f[0] for f, _w in kept if f[0] is not None), None)
    if pred is None:
        return None, lo, hi
    lo = pred if lo is None else min(lo, pred)
    hi = hi if hi is None else max(hi, pred)
    return pred, lo, hi


def eol_of_forms(fit, curve, cycles, counted_ah, n0):
    """(pred, lo, hi) from the fade curve's crossing ``curve`` (or None) and the forms of ``fit`` (a knee.FadeFit).

    ``cycles`` the forecast grid from now, ``counted_ah`` the threshold on the
    counted discharge the fits are made on, ``n0`` the curve's log offset.
    The fade curve cannot bend downwards and a straight line through the
    history cannot slow down; neither is known to be the right form, so both
    count, and the bent line too while it bends downwards (the knee form).
    Once the knee is detected the bent line replaces the fade curve (which it
    beat on the data) and the straight line keeps the interval honest about
    the bend's size.
    """
    line = crossing_cycles(*fit.line_at(cycles, bent=False), counted_ah, cycles)
    bent = crossing_cycles(*fit.line_at(cycles, bent=True), counted_ah, cycles) if fit.bends_down or fit.detected else None
    if bent is not None and line[2] is not None and (bent[2] is None or bent[2] > line[2]):
        # a knee makes the end earlier, never later than the straight line's: the knee
        # form's slow side (a short, uncertain last segment) is the straight line's
        bent = (bent[0], bent[1], line[2])
    forms = [bent, line] if fit.detected else [curve, line, bent]
    return combine(forms, form_weights(fit, forms, n0), bound_above=1)


def form_weights(fit, forms, n0):
    """BIC weights of [curve or bent, line, bent or None] on the knee fit's window (``bic_weights``).

    The fade curve's form is fitted to that window by least squares, so the
    forms compete on equal terms (its forecast stays the inventory filter's).
    """
    k = fit.cycles_used
    curve_sse = None
    if not fit.detected and forms[0] is not None:
        A = np.stack([np.ones_like(k), -np.log(k + n0), -(k - k[-1])], axis=1)
        beta, *_ = np.linalg.lstsq(A, fit.capacity_used_ah, rcond=None)
        curve_sse = float(np.sum((fit.capacity_used_ah - A @ beta) ** 2))
    first = (fit.sse_bent, 4) if fit.detected else (curve_sse, 3)
    third = (fit.sse_bent if len(forms) > 2 and forms[2] is not None else None, 4)
    fits = [first, (fit.sse_line, 2), third]
    return bic_weights([(sse, p, fit.n_eff) for sse, p in fits])[: len(forms)]
