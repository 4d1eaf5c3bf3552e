"""Self-check of firmware.config, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from firmware.config import ConfigError, defaults, validate


def run():
    cfg = validate(defaults())
    assert cfg["control_period_ms"] == 1000
    bad = defaults()
    bad["charge_voltage_v"] = "4.2"
    try:
        validate(bad)
    except ConfigError as e:
        assert "charge_voltage_v" in str(e)
    else:
        raise AssertionError("accepted a string voltage")
    bad = defaults()
    bad["derate_cold_c"] = [[10.0, 0.5], [0.0, 1.0]]
    try:
        validate(bad)
    except ConfigError as e:
        assert "derate_cold_c" in str(e)
    else:
        raise AssertionError("accepted a decreasing table")
    # The HIL pacing limits belong to the virtual board (hil/virtual_board.py),
    # not the firmware: an old config that still carries one is told so.
    old = defaults()
    old["hil_backlog_max"] = 4
    try:
        validate(old)
    except ConfigError as e:
        assert str(e) == "unknown config field: hil_backlog_max", str(e)
    else:
        raise AssertionError("accepted hil_backlog_max")
    return True
