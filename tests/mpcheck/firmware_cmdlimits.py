"""Self-check of firmware.cmdlimits, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from firmware.cmdlimits import check, resolve


def run():
    from firmware.config import defaults

    cfg = defaults()
    spec = resolve(cfg)
    n, durable, rows = spec["set_limits"]
    assert n == 1 and durable
    by_arg = {r[0]: r for r in rows}
    # Derived bounds: the configured operating point, and a quarter of the window.
    assert by_arg["charge_current_a"][3] == cfg["charge_current_a"]
    lo = cfg["charge_voltage_v"] + 0.25 * (cfg["discharge_cutoff_v"] - cfg["charge_voltage_v"])
    assert abs(by_arg["charge_voltage_v"][2] - lo) < 1e-9
    assert spec["stop"] == (0, False, ())
    assert check(cfg) is None
    cfg["cmd_pulse_min_ms"] = 20000
    assert check(cfg) == "cmd_pulse_max_ms: below cmd_pulse_min_ms"
    return True
