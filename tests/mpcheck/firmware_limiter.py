"""Self-check of firmware.limiter, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from firmware.limiter import PlatingLimiter


def run():
    from firmware.config import defaults

    cfg = defaults()
    cfg["charge_current_a"] = 1.0
    lim = PlatingLimiter(cfg)
    assert lim.update(1.0, 1.0, True, 25.0, 1.0) == 1.0 and lim.event is None
    a = lim.update(1.0, 1.5, True, 25.0, 1.0)  # drift: drops at once
    ev = lim.event
    assert a < 0.9 and ev is not None and ev[0] == "THROTTLE"
    lim.event = None
    lim.update(1.0, 1.52, True, 25.0, 1.0)  # a wobble inside the hysteresis: no new target
    assert lim.event is None
    lim.update(1.0, 1.0, False, 25.0, 1.0)  # not confident: the throttle holds
    assert lim.limit_a == a
    b = lim.update(1.0, 1.0, True, 25.0, 1.0)  # recovered: rises at the slew rate
    ev = lim.event
    assert ev is not None and ev[0] == "RELEASE" and a < b < 1.0
    c = lim.update(1.0, 4.0, True, -10.0, 1.0)  # cold and drifted: the factors multiply
    assert c < 0.2
    return True
