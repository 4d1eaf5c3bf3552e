"""Benchmark of the control tick, runnable on a board or the unix port.

    micropython -c "import firmware.bench as b; b.main(10000)"

Measures ``BMS.step`` alone (measure, estimate, safety, charge, act;
publishing excluded) against ``SyntheticBoard``: a stand-in at the
hardware boundary whose readings come from this file's own numbers (a
resistive cell charging and discharging between two voltages), so the
charger walks through its states. Prints one JSON line:
tick_us_median, tick_us_p99, alloc_bytes_per_tick_median (with the GC off:
what one tick allocates; MicroPython boxes floats), peak_heap_bytes
(largest gc.mem_alloc() seen at a tick boundary), heap_growth_bytes_10k_ticks
(after gc, over the measured ticks: a leak shows here).
"""

import array
import gc
import json
import time



class SyntheticBoard:
    """Readings from a simple resistive cell: V = OCV(q) + R I."""

    def __init__(self):
        self.q_ah = 0.0
        self.i_a = 0.0
        self.v = 3.3
        self.t_s = 0.0
        self.closed = False

    def read_voltage_v(self):
        return self.v

    def read_current_a(self):
        return self.i_a if self.closed else 0.0

    def read_temperature_c(self):
        return 25.0

    def read_pressure_mpa(self):
        return 1.0 + 0.01 * self.q_ah / 0.02

    def time_s(self):
        return self.t_s

    def set_current_a(self, a):
        self.i_a = a

    def set_contactor(self, closed):
        self.closed = closed

    def advance(self, dt_s):
        i = self.i_a if self.closed else 0.0
        self.q_ah += i * dt_s / 3600.0
        if self.q_ah < 0.0:
            self.q_ah = 0.0
        x = self.q_ah / 0.02
        # Plateau, a steep end of charge, and the anode-less collapse when
        # the plated Li is gone: the charger walks through all its states.
        ocv = 3.3 + 0.1 * x
        if x > 0.95:
            ocv += 4.0 * (x - 0.95)
        if x < 0.01:
            ocv = 0.3 + 300.0 * x
        self.v = ocv + 1.6 * i
        self.t_s += dt_s


class _NullNet:
    def publish(self, topic, payload, retain, priority):
        return True


_BUCKET_US = 2
_BUCKETS = 2048  # 0 .. 4 ms in 2 us steps; slower ticks land in the last


def _quantile_us(hist, n, q):
    want = int(n * q)
    seen = 0
    for k in range(len(hist)):
        seen += hist[k]
        if seen > want:
            return (k + 0.5) * _BUCKET_US
    return len(hist) * _BUCKET_US


def _median(arr, n):
    """Upper median of arr[:n] (non-negative ints) without copying it: a
    sorted copy would need more heap than the run it measures."""
    lo = 0
    hi = 0
    for k in range(n):
        if arr[k] > hi:
            hi = arr[k]
    want = n // 2 + 1  # how many must be <= the answer
    while lo < hi:
        mid = (lo + hi) // 2
        c = 0
        for k in range(n):
            if arr[k] <= mid:
                c += 1
        if c >= want:
            hi = mid
        else:
            lo = mid + 1
    return lo


def main(n_ticks=10000, mode="adaptive"):
    # Fixed-size histograms, allocated first (contiguous blocks are easiest
    # to find in a fresh heap) and before the baseline, so they are not
    # counted as growth; a growing list would itself dominate the run.
    hist_us = array.array("I", bytes(4 * _BUCKETS))
    # The firmware's collection policy (main.py): a collection may then fall
    # inside a timed tick, as it does on the board, and shows in the p99.
    from firmware.main import GC_THRESHOLD_BYTES

    gc.threshold(GC_THRESHOLD_BYTES)
    every = n_ticks // 1000 if n_ticks > 10000 else 10  # at most ~1000 allocation samples
    allocs = array.array("I", bytes(4 * (n_ticks // every + 1)))
    # The config module is boot-only on the board (main.py drops it before the
    # BMS runs); here too, so the heap measured is the running firmware's.
    from firmware.config import defaults

    cfg = defaults()
    del defaults
    from shared.compat import forget

    forget(("firmware.config", "shared.keyfile"))
    cfg["mode"] = mode
    cfg["charge_current_a"] = 0.004
    cfg["discharge_current_a"] = 0.02
    cfg["formation_current_a"] = 0.0025
    cfg["i_max_a"] = 0.025
    cfg["r_nominal_ohm"] = 1.6
    cfg["rest_s"] = 60
    from firmware.app import BMS  # after the config is gone, as on the board

    board = SyntheticBoard()
    bms = BMS(board, cfg, _NullNet())
    now = 0
    bms.start(now)
    period = cfg["control_period_ms"]
    for _ in range(1000):  # warm-up: first allocations, states visited
        bms.step(now)
        bms.report(now)
        board.advance(period / 1000.0)
        now += period
    gc.collect()
    heap0 = gc.mem_alloc()
    peak = heap0
    n_alloc = 0
    for k in range(n_ticks):
        if k % every == 0:
            gc.collect()  # room for one tick with the collector off
            gc.disable()
            a0 = gc.mem_alloc()
            t0 = time.ticks_us()  # type: ignore[attr-defined]
            bms.step(now)
            t1 = time.ticks_us()  # type: ignore[attr-defined]
            allocs[n_alloc] = gc.mem_alloc() - a0
            n_alloc += 1
            gc.enable()
        else:
            t0 = time.ticks_us()  # type: ignore[attr-defined]
            bms.step(now)
            t1 = time.ticks_us()  # type: ignore[attr-defined]
        b = time.ticks_diff(t1, t0) // _BUCKET_US  # type: ignore[attr-defined]
        hist_us[b if b < _BUCKETS else _BUCKETS - 1] += 1
        a = gc.mem_alloc()
        if a > peak:
            peak = a
        bms.report(now)  # publishing: outside the timed tick
        board.advance(period / 1000.0)
        now += period
    gc.collect()
    growth = gc.mem_alloc() - heap0
    out = {
        "ticks": n_ticks,
        "mode": mode,
        "tick_us_median": _quantile_us(hist_us, n_ticks, 0.5),
        "tick_us_p99": _quantile_us(hist_us, n_ticks, 0.99),
        "alloc_bytes_per_tick_median": _median(allocs, n_alloc),
        "peak_heap_bytes": peak,
        "heap_growth_bytes_10k_ticks": growth * 10000 // n_ticks,
        "heap_total_bytes": gc.mem_alloc() + gc.mem_free(),
        "cycles_done": bms.charger.cycles_done,
        "state": bms.charger.state,
    }
    print("PLATEWISE-BENCH " + json.dumps(out))
    return out
