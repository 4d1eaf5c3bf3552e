"""NTC thermistor in a resistor divider on an ADC input.

Topology (``ntc_to_gnd``): Vref -- R_fixed -- node -- NTC -- GND, so
ratio = V_node / Vref = R_ntc / (R_fixed + R_ntc).
Topology (``ntc_to_vref``): Vref -- NTC -- node -- R_fixed -- GND, so
ratio = R_fixed / (R_fixed + R_ntc).

Models: Beta, 1/T = 1/T0 + ln(R/R0) / B; or Steinhart-Hart,
1/T = A + B ln R + C (ln R)**3 (T in kelvin).

The ratio comes from one of two ADC reads, chosen by the board:
- ``supply_uv == 0``: ratiometric ``read_u16() / 65535`` (rp2: the ADC
  reference is the same 3V3 rail that feeds the divider, so the rail's
  tolerance cancels);
- ``supply_uv > 0``: ``read_uv() / supply_uv`` (ESP32: its ADC measures
  against an internal reference, so the divider supply must be known).

Open/short detection looks at the raw code, whatever the topology: an input
stuck within ``rail_margin`` of either ADC rail is a broken wire or a shorted
sensor (a healthy divider never gets there in the operating window).
Failure behaviour: such a reading, or a temperature outside -55..150 C,
returns NaN and sets ``fault`` to "open", "short" or "range"; the next good
reading clears it. The safety supervisor trips on the NaN.
"""

import math

from shared.mathx import ZERO_C_K
_NAN = float("nan")
_T_MIN_C = -55.0
_T_MAX_C = 150.0

TOPOLOGIES = ("ntc_to_gnd", "ntc_to_vref")


class NTC:
    def __init__(self, adc, r_fixed_ohm, topology="ntc_to_gnd", beta_k=3950.0, r0_ohm=10000.0, t0_c=25.0, sh_abc=None, samples=8, rail_margin=0.01, supply_uv=0):
        if topology not in TOPOLOGIES:
            raise ValueError("topology: one of " + str(TOPOLOGIES))
        if not r_fixed_ohm > 0:
            raise ValueError("r_fixed_ohm: must be > 0")
        if sh_abc is None and not (beta_k > 0 and r0_ohm > 0):
            raise ValueError("beta_k/r0_ohm: must be > 0")
        if not 1 <= samples <= 256:
            raise ValueError("samples: 1..256")
        if not 0 < rail_margin < 0.5:
            raise ValueError("rail_margin: in (0, 0.5)")
        self._adc = adc
        self.r_fixed_ohm = float(r_fixed_ohm)
        self._to_gnd = topology == "ntc_to_gnd"
        self._inv_beta = 1.0 / beta_k if beta_k else 0.0
        self._ln_r0 = math.log(r0_ohm)
        self._inv_t0 = 1.0 / (t0_c + ZERO_C_K)
        self._sh = sh_abc  # (A, B, C) or None for the Beta model
        self.samples = samples
        self._rail_lo = int(rail_margin * 65535)
        self._rail_hi = 65535 - self._rail_lo
        self._supply_uv = supply_uv
        self.fault = None
        self.resistance_ohm = _NAN

    def temperature_from_ohm(self, r_ohm):
        ln_r = math.log(r_ohm)
        sh = self._sh
        if sh is None:
            inv_t = self._inv_t0 + (ln_r - self._ln_r0) * self._inv_beta
        else:
            inv_t = sh[0] + sh[1] * ln_r + sh[2] * ln_r * ln_r * ln_r
        return 1.0 / inv_t - ZERO_C_K

    def _fail(self, why):
        self.fault = why
        self.resistance_ohm = _NAN
        return _NAN

    def read_temperature_c(self):
        adc = self._adc
        n = self.samples
        total = 0
        for _ in range(n):
            total += adc.read_u16()
        raw = total // n
        # Which rail means what depends on where the NTC sits.
        if raw >= self._rail_hi:
            return self._fail("open" if self._to_gnd else "short")
        if raw <= self._rail_lo:
            return self._fail("short" if self._to_gnd else "open")
        if self._supply_uv:
            uv = 0
            for _ in range(n):
                uv += adc.read_uv()
            ratio = uv / (n * self._supply_uv)
        else:
            ratio = total / (n * 65535.0)
        if not 0.0 < ratio < 1.0:
            return self._fail("open" if (ratio >= 1.0) == self._to_gnd else "short")
        if self._to_gnd:
            r = self.r_fixed_ohm * ratio / (1.0 - ratio)
        else:
            r = self.r_fixed_ohm * (1.0 - ratio) / ratio
        t = self.temperature_from_ohm(r)
        if not _T_MIN_C <= t <= _T_MAX_C:
            return self._fail("range")
        self.fault = None
        self.resistance_ohm = r
        return t
