"""Self-check of firmware.safety, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from firmware.safety import Supervisor


def run():
    from firmware.config import defaults

    class _M:
        voltage_v = 3.3
        current_a = 0.0
        temperature_c = 25.0
        pressure_mpa = 1.0
        dt_s = 1.0

    s = Supervisor(defaults())
    m = _M()
    assert s.check(m) is None
    m.voltage_v = 4.5
    assert s.check(m) is None  # debounce: one tick is not a fault
    assert s.check(m) == "OV" and s.fault == "OV"
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
    m.temperature_c = float("nan")
    assert s.check(m) == "SENSOR_temperature_c"
    m.temperature_c = 25.0
    assert s.clear(m)
    m.temperature_c = -40.0  # an open NTC reads the cold rail
    assert s.check(m) == "SENSOR_RANGE_temperature_c"
    m.temperature_c = 25.0
    assert s.clear(m)
    # CE: a drop of 5 points between regular cycles is a short's sign.
    assert s.check_cycle(0.99, True) is None and s.check_cycle(0.94, True) == "CE_ANOMALY"
    return True
