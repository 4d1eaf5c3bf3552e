"""Self-check of firmware.safetytable, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap). The supervisor's side (kinds decoded, the table
walked) is checked in firmware_safety.py."""

from firmware.safetytable import resolve


def run():
    from firmware.config import defaults

    cfg = defaults()
    codes, kind, limit, need = resolve(cfg)
    codes = codes.split("\n")
    assert len(codes) == len(kind) == len(limit) == len(need) == 20
    assert len(set(codes)) == len(codes)  # one row per code
    ov = codes.index("OV")
    assert limit[ov] == cfg["v_max_v"] and need[ov] == 2  # 2000 ms at 1000 ms a tick
    assert limit[codes.index("OC_DIS")] == -cfg["i_max_a"]  # "-key": the negative
    assert limit[codes.index("SENSOR_RANGE_temperature_c")] == (-39.5, 125.0)
    assert need[codes.index("UV")] == 3 and need[codes.index("SENSOR_voltage_v")] == 1
    # Debounce in ms: the same time at another tick, rounded up, at least one tick.
    cfg["control_period_ms"] = 300
    _c, _k, _l, need = resolve(cfg)
    assert need[ov] == 7 and need[codes.index("UV")] == 10 and need[codes.index("OT_WARN")] == 17
    assert need[codes.index("P_RATE")] == 1
    return True
