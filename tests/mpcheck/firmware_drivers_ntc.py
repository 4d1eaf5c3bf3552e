"""Self-check of firmware.drivers.ntc, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

import math
from firmware.drivers.ntc import NTC


def run():
    class _Mid:  # divider exactly at mid-scale: R_ntc = R_fixed = R0 -> t0
        def read_u16(self):
            return 32768

    t = NTC(_Mid(), 10000.0).read_temperature_c()
    assert abs(t - 25.0) < 0.01, t
    # Steinhart-Hart with B = 1/3950, A = 1/T0 - B ln R0, C = 0 is the Beta model.
    b = 1.0 / 3950.0
    sh = NTC(_Mid(), 10000.0, sh_abc=(1.0 / 298.15 - b * math.log(10000.0), b, 0.0))
    assert abs(sh.read_temperature_c() - 25.0) < 0.01
    return True
