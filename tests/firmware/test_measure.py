"""firmware/measure.py under the real MicroPython unix port: the low-pass on
temperature and pressure (what the plating limiter derates on) against the
test's own numbers at the hardware boundary, and the raw readings kept for
the safety supervisor."""

from __future__ import annotations

import json
import math
import random

import pytest

SCRIPT = """
import json
from firmware.measure import Measurement

NAN = float("nan")

class Board:
    def __init__(self, rows):
        self.rows = rows
        self.k = 0
    def read_voltage_v(self):
        return 3.3
    def read_current_a(self):
        return 0.0
    def read_temperature_c(self):
        v = self.rows[self.k][0]
        return NAN if v is None else v
    def read_pressure_mpa(self):
        v = self.rows[self.k][1]
        return NAN if v is None else v
    def time_s(self):
        return float(self.k)

rows = json.loads(ROWS)
b = Board(rows)
m = Measurement(TAU)
for k in range(len(rows)):
    b.k = k
    m.update(b, k * DT_MS, True)
    print("ROW " + json.dumps([None if v != v else v for v in (m.temperature_c, m.pressure_mpa, m.temperature_filt_c, m.pressure_filt_mpa)]))
"""


def _run(mpy, rows, tau_s, dt_ms=1000):
    # NaN travels as null (JSON has no NaN); numbers as plain decimals.
    rows = [[None if v != v else round(v, 9) for v in r] for r in rows]
    code = SCRIPT.replace("ROWS", repr(json.dumps(rows)), 1).replace("TAU", repr(tau_s)).replace("DT_MS", str(dt_ms))
    r = mpy(code, heapsize="4M")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    out = [json.loads(ln[4:]) for ln in r.stdout.splitlines() if ln.startswith("ROW ")]
    assert len(out) == len(rows)
    return out


def _std(xs):
    mu = sum(xs) / len(xs)
    return math.sqrt(sum((x - mu) ** 2 for x in xs) / len(xs))


def test_low_pass_cuts_white_noise_by_the_first_order_factor(mpy):
    rng = random.Random(7)
    n = 4000
    rows = [[25.0 + rng.gauss(0, 0.5), 1.0 + rng.gauss(0, 0.05)] for _ in range(n)]
    out = _run(mpy, rows, 10.0)
    # Raw readings pass through untouched (the supervisor judges those).
    assert [o[0] for o in out] == pytest.approx([r[0] for r in rows], abs=1e-9)
    # First-order low-pass, gain a = 1 - exp(-dt/tau): white-noise variance
    # falls by a / (2 - a) (0.0499 at dt 1 s, tau 10 s: std x 0.223).
    a = 1.0 - math.exp(-0.1)
    want = math.sqrt(a / (2.0 - a))
    settled = out[100:]
    for col_raw, col_f in ((0, 2), (1, 3)):
        ratio = _std([o[col_f] for o in settled]) / _std([r[col_raw] for r in rows[100:]])
        assert ratio == pytest.approx(want, rel=0.15), ratio
        # No bias: the filtered mean is the raw mean.
        assert sum(o[col_f] for o in settled) / len(settled) == pytest.approx(
            sum(r[col_raw] for r in rows[100:]) / len(settled), abs=0.02
        )


def test_step_response_follows_the_time_constant_and_starts_on_the_first_reading(mpy):
    rows = [[20.0, 1.0]] * 10 + [[10.0, 3.0]] * 60
    out = _run(mpy, rows, 10.0)
    # The first reading starts the filter: no lag from its power-up default.
    assert out[0][2] == pytest.approx(20.0) and out[0][3] == pytest.approx(1.0)
    # One time constant after the step: 1 - 1/e of the way (exact discretisation).
    step_k = 10
    frac_t = (20.0 - out[step_k + 9][2]) / 10.0  # 10 samples of 1 s after the step
    frac_p = (out[step_k + 9][3] - 1.0) / 2.0
    assert frac_t == pytest.approx(1 - math.exp(-1.0), rel=1e-6)
    assert frac_p == pytest.approx(1 - math.exp(-1.0), rel=1e-6)
    # Five time constants: within 1 % of the new value.
    assert out[step_k + 49][2] == pytest.approx(10.0, abs=0.1)


def test_a_longer_tick_moves_the_filter_further(mpy):
    rows = [[20.0, 1.0]] + [[10.0, 1.0]] * 3
    out = _run(mpy, rows, 10.0, dt_ms=5000)
    assert (20.0 - out[1][2]) / 10.0 == pytest.approx(1 - math.exp(-0.5), rel=1e-6)


def test_a_non_finite_reading_holds_the_filter_and_reaches_the_supervisor_raw(mpy):
    rows = [[25.0, 1.0]] * 5 + [[float("nan"), 1.0]] + [[30.0, 1.0]] * 3
    out = _run(mpy, rows, 10.0)
    assert out[5][0] is None  # raw NaN: the supervisor's SENSOR_ fault sees it
    assert out[5][2] == pytest.approx(25.0)  # the filter held its last value
    # and restarted from the first good reading after it (no NaN inside).
    assert out[6][2] == pytest.approx(30.0) and all(o[2] is not None and math.isfinite(o[2]) for o in out)


def test_tau_zero_is_no_filter(mpy):
    rows = [[25.0, 1.0], [30.0, 2.0], [20.0, 0.5]]
    out = _run(mpy, rows, 0.0)
    assert [(o[2], o[3]) for o in out] == [(25.0, 1.0), (30.0, 2.0), (20.0, 0.5)]
