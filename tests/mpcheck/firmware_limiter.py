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
    _warnings(cfg)
    return True


def _warnings(cfg):
    """A safety warning: f_warn falls at once to warn_charge_factor (0.5) and
    comes back at the slew (0.005 of nominal per s): 100 s from 0.5 to 1."""
    lim = PlatingLimiter(cfg)
    assert lim.f_warn == 1.0
    lim.warn(1.0, 0)
    assert lim.f_warn == 1.0
    lim.warn(1.0, 1 << 18)  # any raised warning
    assert lim.f_warn == cfg["warn_charge_factor"] == 0.5
    lim.warn(1.0, 1 << 18)
    assert lim.f_warn == 0.5 and lim.event is None  # the supervisor reports warnings, not the limiter
    for k in range(10):
        lim.warn(1.0, 0)
    assert abs(lim.f_warn - 0.55) < 1e-9
    lim.warn(1.0, 1)  # raised again: down at once
    assert lim.f_warn == 0.5
    for k in range(99):
        lim.warn(1.0, 0)
    assert lim.f_warn < 1.0
    lim.warn(1.0, 0)
    assert lim.f_warn == 1.0  # ends exactly at 1
    lim.warn(1.0, 0)
    assert lim.f_warn == 1.0
    cfg = dict(cfg)
    cfg["warn_charge_factor"] = 0.0  # 0: the charge is held while a warning is raised
    lim = PlatingLimiter(cfg)
    lim.warn(1.0, 4)
    assert lim.f_warn == 0.0
