"""Self-check of firmware.safety, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

import gc

from firmware.safety import Supervisor


class _M:
    voltage_v = 3.3
    current_a = 0.0
    temperature_c = 25.0
    pressure_mpa = 1.0
    dt_s = 1.0


def _ticks_to_trip(s, m, most):
    """Ticks until check() returns a code (the code, the ticks), or (None, most)."""
    for k in range(1, most + 1):
        code = s.check(m)
        if code is not None:
            return code, k
    return None, most


def _basics(cfg):
    s = Supervisor(cfg)
    m = _M()
    assert s.check(m) is None
    m.voltage_v = 4.5
    assert s.check(m) is None  # debounce: one tick is not a fault
    assert s.check(m) == "OV" and s.fault == "OV"
    assert s.fault_value == 4.5 and s.fault_limit == cfg["v_max_v"]
    assert not s.clear(m)  # condition still present
    m.voltage_v = 3.3
    assert s.clear(m) and s.fault is None
    m.voltage_v = 0.3  # no plated Li, at rest: normal for an anode-less cell
    assert s.check(m) is None and s.check(m) is None and s.check(m) is None
    m.current_a = -0.001  # sensor noise at rest is not a load
    assert s.check(m) is None and s.check(m) is None and s.check(m) is None
    m.current_a = -0.01  # but under load it is a fault
    s.check(m)
    s.check(m)
    assert s.check(m) == "UV"
    m.current_a = 0.0
    m.voltage_v = 3.3
    assert s.clear(m)
    # Charging from 0.3 V is the normal start if the voltage jumps up on the
    # first tick; a charge current with the voltage held below the cut-off
    # (a hard short) trips UV_CHG after 120 s: the 121st reading at 1 s,
    # rest ticks (pulses) included in the count.
    i_chg = 0.5 * cfg["i_max_a"]
    m.voltage_v = 0.3
    m.current_a = i_chg
    for _ in range(60):
        assert s.check(m) is None
    m.voltage_v = 3.3
    for _ in range(10):
        assert s.check(m) is None
    m.voltage_v = 0.16
    for k in range(100):
        m.current_a = 0.0 if k % 15 == 14 else i_chg
        assert s.check(m) is None
    m.current_a = i_chg
    got, k = _ticks_to_trip(s, m, 30)
    assert got == "UV_CHG" and k == 21 and s.fault_limit == cfg["v_min_v"] and s.fault_value == 0.16, (got, k)
    assert not s.clear(m)  # still charging into it
    m.current_a = 0.0  # at rest the reading cannot show it: the clear is taken
    assert s.clear(m)
    m.voltage_v = 3.3
    m.temperature_c = float("nan")
    assert s.check(m) == "SENSOR_temperature_c"
    assert s.fault_value == 0.0 and s.fault_limit == 0.0  # NaN is neither reported nor persisted
    m.temperature_c = 25.0
    assert s.clear(m)
    m.temperature_c = -40.0  # an open NTC reads the cold rail
    assert s.check(m) == "SENSOR_RANGE_temperature_c" and s.fault_limit == -39.5
    m.temperature_c = 25.0
    assert s.clear(m)
    # CE: a drop of 5 points between regular cycles is a short's sign.
    assert s.check_cycle(0.99, True) is None and s.check_cycle(0.94, True) == "CE_ANOMALY"
    assert s.fault_limit == 0.99 - cfg["ce_drop_max"]
    assert s.clear(m)  # judged over a cycle: an operator's clear clears it
    assert s.check_cycle(1.01, False) == "CE_ANOMALY" and s.fault_limit == cfg["ce_max"]


def _single_reading_faults(cfg):
    """Each single-reading fault: its debounce in ticks, its value and limit,
    and a clear refused while the reading shows it, accepted once gone."""
    i_max = cfg["i_max_a"]
    # (code, attribute, bad value, ticks to trip, reported limit)
    cases = (
        ("OV", "voltage_v", 3.9, 2, cfg["v_max_v"]),
        ("OC_CHG", "current_a", 1.5 * i_max, 2, i_max),
        ("OC_DIS", "current_a", -1.5 * i_max, 2, -i_max),
        ("OT", "temperature_c", 61.0, 2, cfg["t_max_c"]),
        ("UT", "temperature_c", -11.0, 2, cfg["t_min_c"]),
        ("P_HIGH", "pressure_mpa", 5.5, 3, cfg["p_max_mpa"]),
        ("P_LOW", "pressure_mpa", -0.2, 3, cfg["p_min_mpa"]),
        ("SENSOR_RANGE_voltage_v", "voltage_v", 6.5, 1, 6.0),
        ("SENSOR_RANGE_pressure_mpa", "pressure_mpa", 250.0, 1, 200.0),
        ("SENSOR_RANGE_temperature_c", "temperature_c", 130.0, 1, 125.0),
        ("SENSOR_voltage_v", "voltage_v", float("inf"), 1, 0.0),
        ("SENSOR_current_a", "current_a", float("nan"), 1, 0.0),
        ("SENSOR_pressure_mpa", "pressure_mpa", float("-inf"), 1, 0.0),
    )
    for code, attr, bad, ticks, limit in cases:
        s = Supervisor(cfg)
        m = _M()
        assert s.check(m) is None
        setattr(m, attr, bad)
        got, k = _ticks_to_trip(s, m, 10)
        assert got == code and k == ticks, (code, got, k)
        assert s.fault_limit == limit, (code, s.fault_limit)
        finite = bad - bad == 0.0
        assert s.fault_value == (bad if finite else 0.0), (code, s.fault_value)
        assert s.condition_present(m) and not s.clear(m), code
        setattr(m, attr, getattr(_M, attr))
        assert not s.condition_present(m) and s.clear(m), code
        # Restored from flash after a reboot: the same row judges the clear.
        s.latch(code)
        setattr(m, attr, bad)
        assert s.fault == code and not s.clear(m), code
        setattr(m, attr, getattr(_M, attr))
        assert s.clear(m), code
    s = Supervisor(cfg)
    s.latch("NO_SUCH_CODE")  # another firmware's code: no row, an operator's clear clears it
    assert s.fault == "NO_SUCH_CODE" and s.clear(_M())


def _debounce_in_ms(cfg):
    cfg = dict(cfg)
    # OV's 1000 ms: the first reading and every one until 1 s later, so 3 at
    # 500 ms; UV's 2000 ms: 5 readings.
    cfg["control_period_ms"] = 500
    s = Supervisor(cfg)
    m = _M()
    m.voltage_v = 3.9
    assert _ticks_to_trip(s, m, 10) == ("OV", 3)
    s = Supervisor(cfg)
    m = _M()
    m.voltage_v = 1.5
    m.current_a = -0.01
    assert _ticks_to_trip(s, m, 10) == ("UV", 5)
    # A reading back in range restarts the count.
    s = Supervisor(cfg)
    m = _M()
    for k in range(2):
        m.voltage_v = 3.9
        assert s.check(m) is None
    m.voltage_v = 3.3
    assert s.check(m) is None
    m.voltage_v = 3.9
    assert _ticks_to_trip(s, m, 10) == ("OV", 3)
    # However long the period, a debounced row needs two readings: one noisy
    # sample is never a fault.
    for period_ms in (2000, 5000, 60000):
        cfg["control_period_ms"] = period_ms
        s = Supervisor(cfg)
        m = _M()
        m.voltage_v = 3.9
        assert _ticks_to_trip(s, m, 10) == ("OV", 2), period_ms


def _judged_over_time(cfg):
    # A voltage frozen to the bit under current: stuck after stuck_ticks readings.
    s = Supervisor(cfg)
    m = _M()
    m.current_a = 0.01
    assert _ticks_to_trip(s, m, 1000) == ("SENSOR_voltage_v_STUCK", cfg["stuck_ticks"] + 1)
    assert s.fault_limit == cfg["stuck_ticks"] and not s.condition_present(m) and s.clear(m)
    # Stack pressure stepping by 1 MPa: 0.1 MPa/s over the 10 s window.
    for step, limit in ((1.0, 0.02), (-0.5, -0.02)):
        s = Supervisor(cfg)
        m = _M()
        for k in range(12):
            assert s.check(m) is None
        m.pressure_mpa = 1.0 + step
        got, k = _ticks_to_trip(s, m, 20)
        assert got == "P_RATE" and k == 1, (got, k)
        w = cfg["p_rate_window_s"]
        assert abs(s.fault_value - step / w) < 1e-12 and s.fault_limit == limit
        assert s.clear(m)  # judged over time: an operator's clear clears it
    # A pressure changing at the limit's rate is no fault.
    s = Supervisor(cfg)
    m = _M()
    for k in range(100):
        m.pressure_mpa = 1.0 + 0.019 * k
        assert s.check(m) is None
    # At rest a soft short drains 0.05 V/h: caught at the end of the second
    # window after the settle time (the 300th reading, then 2 x 600).
    s = Supervisor(cfg)
    m = _M()
    t = 0
    code = None
    while code is None and t < 3000:
        t += 1
        m.voltage_v = 3.40 - 0.05 * t / 3600.0
        code = s.check(m)
    assert code == "SOFT_SHORT" and t == 1499, (code, t)
    assert abs(s.fault_value - 0.05) < 1e-3 and s.fault_limit == cfg["rest_decay_max_v_h"]
    # Self-discharge below the limit is no fault.
    s = Supervisor(cfg)
    m = _M()
    for t in range(1, 3000):
        m.voltage_v = 3.40 - 0.01 * t / 3600.0
        assert s.check(m) is None


def _warning(cfg):
    """OT_WARN (t_warn_c, 55 C): raised after 5 s above, never latched, the
    limiter is told; cleared after 60 s below."""
    s = Supervisor(cfg)
    m = _M()
    m.current_a = 0.01
    m.temperature_c = 56.0
    for k in range(4):
        m.voltage_v = 3.3 + 0.001 * k
        assert s.check(m) is None and s.warnings == 0 and s.event is None
    assert s.check(m) is None and s.warnings != 0 and s.fault is None
    code, text, value, limit = s.event
    assert code == "OT_WARN" and "derated" in text and value == 56.0 and limit == cfg["t_warn_c"]
    s.event = None
    # Hovering at the threshold does not toggle it: 59 s below, one reading above.
    for k in range(200):
        m.voltage_v = 3.3 + 0.001 * (k % 7)
        m.temperature_c = 56.0 if k % 59 == 58 else 54.0
        assert s.check(m) is None and s.warnings != 0 and s.event is None
    m.temperature_c = 50.0
    ticks = 0
    while s.warnings:
        ticks += 1
        m.voltage_v = 3.3 + 0.001 * (ticks % 7)
        assert s.check(m) is None
    code, text, value, limit = s.event
    assert code == "OT_WARN" and "cleared" in text and value == 50.0
    # 60 s gone in all: the loop above ended 23 ticks after its last reading above.
    assert ticks == 37, ticks
    # A warning never stops the fault behind it.
    s = Supervisor(cfg)
    m = _M()
    m.temperature_c = 61.0
    assert _ticks_to_trip(s, m, 10) == ("OT", 2)


def _no_allocation(cfg):
    """check() per tick while charging: only the pressure difference's float."""
    s = Supervisor(cfg)
    m = _M()
    m.current_a = 0.004
    volts = [3.3 + 0.0001 * k for k in range(8)]
    for k in range(50):
        m.voltage_v = volts[k & 7]
        assert s.check(m) is None
    used = 1 << 30
    for k in range(5):
        m.voltage_v = volts[k & 7]
        gc.collect()
        gc.disable()
        a0 = gc.mem_alloc()
        s.check(m)
        a1 = gc.mem_alloc()
        gc.enable()
        used = min(used, a1 - a0)
    assert used <= 32, used  # one boxed float (32 bytes on this 64-bit port)


def run():
    from firmware.config import defaults

    cfg = defaults()
    _basics(cfg)
    _single_reading_faults(cfg)
    _debounce_in_ms(cfg)
    _judged_over_time(cfg)
    _warning(cfg)
    _no_allocation(cfg)
    return True
