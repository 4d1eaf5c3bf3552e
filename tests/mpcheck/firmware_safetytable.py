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
    assert len(codes) == len(kind) == len(limit) == len(need) == 21
    assert len(set(codes)) == len(codes)  # one row per code
    ov = codes.index("OV")
    assert limit[ov] == cfg["v_max_v"] and need[ov] == 2  # 1000 ms: the first reading and one 1 s later
    assert limit[codes.index("OC_DIS")] == -cfg["i_max_a"]  # "-key": the negative
    assert limit[codes.index("SENSOR_RANGE_temperature_c")] == (-39.5, 125.0)
    assert need[codes.index("UV")] == 3 and need[codes.index("SENSOR_voltage_v")] == 1 and need[codes.index("UV_CHG")] == 121
    # Debounce in ms: the same persistence at another tick, 1 + ceil(ms / period) readings.
    cfg["control_period_ms"] = 300
    _c, _k, _l, need = resolve(cfg)
    assert need[ov] == 5 and need[codes.index("UV")] == 8 and need[codes.index("OT_WARN")] == 15
    assert need[codes.index("P_RATE")] == 1
    # At a long period a debounced row still needs two readings.
    cfg["control_period_ms"] = 10000
    _c, _k, _l, need = resolve(cfg)
    assert need[ov] == 2 and need[codes.index("UV")] == 2 and need[codes.index("SENSOR_voltage_v")] == 1
    return True
