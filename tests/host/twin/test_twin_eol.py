"""The EOL interval under model-form uncertainty (host/twin/eol.py)."""

import math

import pytest

from platewise.host.twin import eol


def test_union_spans_every_credible_form_and_the_lead_form_gives_the_point():
    curve, line = (400.0, 350.0, 480.0), (600.0, 500.0, 900.0)
    assert eol.combine([curve, line]) == (400.0, 350.0, 900.0)
    # a form the data reject (weight below MIN_WEIGHT of the total) does not widen it
    assert eol.combine([curve, line], [0.97, 0.03]) == (400.0, 350.0, 480.0)
    # the lead form rejected: the point is the mixture's median of what is left
    assert eol.combine([curve, line], [0.01, 0.99]) == pytest.approx((600.0, 500.0, 900.0))
    # any credible form without an upper crossing leaves the interval open above
    assert eol.combine([curve, (600.0, 500.0, None)])[2] is None
    assert eol.combine([None, None]) == (None, None, None)


def test_mixture_median_of_two_forms_lies_between_them_by_their_weights():
    a, b = (100.0, 80.0, 120.0), (200.0, 180.0, 220.0)
    assert eol.mixture_median([a, b]) == pytest.approx(150.0, abs=1.0)
    assert eol.mixture_median([a]) == pytest.approx(100.0, abs=1e-6)
    assert eol.mixture_median([a, b], [3.0, 1.0]) < 120.0
    # the 5 % and 95 % points of one form are where its two-piece normal says
    assert eol._cdf(a, 80.0) == pytest.approx(0.05, abs=1e-6) and eol._cdf(a, 120.0) == pytest.approx(0.95, abs=1e-6)
    assert eol.mixture_median([(None, 500.0, None)]) is None  # never crosses within the horizon


def test_bic_weights_prefer_the_form_that_fits_and_count_parameters():
    # equal fit: the simpler form wins by exp(ln(n_eff) / 2) per parameter
    w = eol.bic_weights([(1.0, 3, 100.0), (1.0, 2, 100.0)])
    assert w[1] / w[0] == pytest.approx(math.sqrt(100.0))
    # a 10 % smaller residual sum over 100 effective cycles beats one extra parameter
    w = eol.bic_weights([(0.9, 3, 100.0), (1.0, 2, 100.0)])
    assert w[0] > 0.9
    # over 5 effective cycles (autocorrelated residuals) it does not
    w = eol.bic_weights([(0.9, 3, 5.0), (1.0, 2, 5.0)])
    assert 0.2 < w[0] < 0.5
    assert eol.bic_weights([(None, 3, 10.0), (1.0, 2, 10.0)]) == [0.0, 1.0]


def test_a_credible_straight_line_bounds_the_end_from_above():
    curve, line = (400.0, 350.0, None), (600.0, 500.0, 900.0)  # the curve alone never closes above
    assert eol.combine([curve, line]) == (400.0, 350.0, None)
    assert eol.combine([curve, line], [0.3, 0.7], bound_above=1) == (400.0, 350.0, 900.0)
    # not once the data reject the line (the fade still slows: the early fade is not over)
    assert eol.combine([curve, line], [0.99, 0.01], bound_above=1) == (400.0, 350.0, None)
    # the bound never cuts below the point
    assert eol.combine([(950.0, 700.0, None), line], [0.5, 0.5], bound_above=1) == (950.0, 500.0, 950.0)
