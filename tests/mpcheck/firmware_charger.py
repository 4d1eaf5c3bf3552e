"""Self-check of firmware.charger, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from firmware.charger import CHARGE_CV, Charger, DISCHARGE, FORMATION, REST


def run():
    from firmware.config import defaults

    class _M:
        voltage_v = 3.3
        current_a = 0.0

    cfg = defaults()
    cfg["rest_s"] = 0
    c = Charger(cfg)
    m = _M()
    cfg["startup_rest_s"] = 0
    c = Charger(cfg)
    c.start(0)
    assert c.state == REST and c.step(0, m, 0.1, 1.0, 1.0) == 0.0
    assert c.step(0, m, 0.1, 1.0, 1.0) == cfg["charge_current_a"]
    m.voltage_v = 3.66
    m.current_a = 0.01
    c.step(1000, m, 0.1, 1.0, 1.0)
    assert c.state == CHARGE_CV
    m.voltage_v = 3.70  # well above CV: current falls to zero, charge ends
    c.step(2000, m, 0.1, 1.0, 1.0)
    assert c.state == REST and c.setpoint_a == 0.0
    c.step(3000, m, 0.1, 1.0, 1.0)
    assert c.state == DISCHARGE
    m.voltage_v = 2.4
    c.step(4000, m, 0.1, 1.0, 1.0)
    c.step(4000, m, 0.1, 1.0, 1.0)
    assert c.cycles_done == 1
    # Adaptive: formation first, at the formation current, with rest pulses.
    cfg["mode"] = "adaptive"
    cfg["formation_cycles"] = 1
    cfg["pulse_period_s"] = 5
    a = Charger(cfg)
    a.start(0)
    m.voltage_v = 3.3
    a.step(0, m, 0.1, 1.0, 1.0)
    assert a.state == FORMATION
    seen = [a.step(t * 1000, m, 0.1, 1.0, 1.0) for t in range(1, 12)]
    assert max(seen) == cfg["formation_current_a"] and seen.count(0.0) == 2  # pulses at 5 s and 10 s
    # A commanded pulse: 0.002 A lower for 3 s, then back.
    a.request_pulse(0.002, 3000)
    got = [a.step(t * 1000, m, 0.1, 1.0, 1.0) for t in range(12, 17)]
    f = cfg["formation_current_a"]
    assert [abs(x - (f - 0.002)) < 1e-12 for x in got] == [True, True, True, False, False], got
    return True
