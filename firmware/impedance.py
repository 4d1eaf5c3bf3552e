"""Online impedance estimate from current steps: R = dV/dI.

Every time the current changes by more than ``min_step_a`` between two
consecutive ticks (the charger starts, stops, or switches to discharge),
the instantaneous voltage change over the current change is the cell's
series resistance (the OCV and the slow RC parts barely move in one tick).
Each such measurement is blended into ``r_ohm`` with weight ``alpha``.

Anode-less trap: a cell with no plated Li (fresh, or fully discharged)
rests far below its working voltage, and the first charge tick jumps to the
plating voltage (CELL_FACTS sec. 1, 3). That jump is the negative electrode
appearing, not a resistance, so a step where either side of it is below
``floor_v`` (the discharge cut-off) is ignored.

Failure behaviour: steps smaller than ``min_step_a`` are ignored (noise
would dominate); a non-positive or non-finite result is discarded.
"""

from shared.compat import is_finite


class StepImpedance:
    def __init__(self, min_step_a, floor_v, alpha=0.3):
        self.min_step_a = min_step_a
        self.floor_v = floor_v
        self.alpha = alpha
        self.r_ohm = 0.0  # 0 until the first step is seen
        self.samples = 0
        self._v = 0.0
        self._i = 0.0
        self._have = False

    def update(self, voltage_v, current_a):
        if not (is_finite(voltage_v) and is_finite(current_a)):
            self._have = False
            return
        if self._have:
            di = current_a - self._i
            low = voltage_v < self.floor_v or self._v < self.floor_v
            if (di > self.min_step_a or di < -self.min_step_a) and not low:
                r = (voltage_v - self._v) / di
                if r > 0.0 and is_finite(r):
                    if self.samples == 0:
                        self.r_ohm = r
                    else:
                        self.r_ohm += self.alpha * (r - self.r_ohm)
                    self.samples += 1
        self._v = voltage_v
        self._i = current_a
        self._have = True


def _self_check():
    z = StepImpedance(0.001, 2.5)
    z.update(0.3, 0.0)  # no plated Li yet
    z.update(3.40, 0.01)  # plating starts: not a resistance
    assert z.samples == 0
    z.update(3.35, 0.0)  # charge stops: 50 mV over 10 mA is 5 ohm
    assert z.samples == 1 and abs(z.r_ohm - 5.0) < 1e-9
    z.update(3.3505, 0.0005)  # below the minimum step: ignored
    assert z.samples == 1
    return True
