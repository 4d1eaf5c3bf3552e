"""Step-rate benchmark of the scalar cell and the numpy batch."""

import time

from platewise.hil.cell.model import Cell, load_params


def _cycle_current(k, i_a):
    # 2000-step charge / 2000-step discharge pattern: exercises both branches
    return i_a if (k // 2000) % 2 == 0 else -i_a


def bench(preset="lfp-liquid", steps=100000, batch_n=1000, batch_steps=200):
    """{"steps_per_s_one_cell": f, "steps_per_s_batch_1000": f} (cell-steps per second)."""
    p = load_params(preset)
    cell = Cell(p)
    i_a = p["nominal_current_ma_cm2"] * p["area_cm2"] / 1000.0
    step = cell.step
    t0 = time.perf_counter()
    for k in range(steps):
        step(1.0, _cycle_current(k, i_a))
    one = steps / (time.perf_counter() - t0)
    out = {"steps_per_s_one_cell": one, "us_per_step_one_cell": 1e6 / one}
    try:
        from platewise.hil.cell.batch import CellBatch
    except ImportError:  # batch model not built yet
        return out
    import numpy as np

    b = CellBatch(p, batch_n)
    cur = np.full(batch_n, i_a)
    t0 = time.perf_counter()
    for k in range(batch_steps):
        b.step(1.0, cur if (k // 50) % 2 == 0 else -cur)
    out["steps_per_s_batch_1000"] = batch_n * batch_steps / (time.perf_counter() - t0)
    return out


if __name__ == "__main__":
    print(bench())
