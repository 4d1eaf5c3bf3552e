"""Board cases (config validation, construction, the board interface) run
under MicroPython with a fake ``machine`` module. Run:
micropython mp_boards.py TMPDIR [case ...]; output as mp_drivers.py.
"""

import json
import sys

import mp_fake_machine as fm
from mp_fakes import run_cases, FakeINA228, FakeINA226, FakeMCP4725, FakeADC, FakeHX711, ntc_beta_ohm, divider_ratio

fm.install()
TMP = sys.argv[1]
NAN = "nan"


def _num(x):
    return NAN if x != x else x


def _write(name, obj):
    path = TMP + "/" + name + ".json"
    f = open(path, "w")
    f.write(obj if isinstance(obj, str) else json.dumps(obj))
    f.close()
    return path


def _rig(board, ina="ina228", with_ina=True, dac_eeprom=4095):
    """The reference wiring's parts on the fake bus and pins."""
    st = fm.STATE
    st.reset()
    pins = {"rp2": (14, 15, 26), "esp32": (19, 18, 34)}[board]
    st.hx = FakeHX711(205000)
    st.hx_pins = {pins[0]: "dout", pins[1]: "sck"}
    if with_ina:
        st.bus.add(FakeINA228(0x40, 0.002) if ina == "ina228" else FakeINA226(0x40, 0.002))
    st.bus.add(FakeMCP4725(0x60, dac_eeprom))
    st.bus.add(FakeMCP4725(0x61, dac_eeprom))
    r = ntc_beta_ohm(40.0)
    ratio = divider_ratio(r, 10000.0, "ntc_to_gnd")
    st.adcs[pins[2]] = FakeADC(ratio) if board == "rp2" else FakeADC(ratio, supply_v=3.3)
    return st


def _board(board, user=None, clock=None):
    path = _write("board_" + board, user or {})
    if board == "rp2":
        from firmware.boards import rp2 as mod
    else:
        from firmware.boards import esp32 as mod
    return mod.make_board(path, clock)


_CAL = {
    "load_cell": {"offset_counts": 5000, "scale_n_per_count": 0.01, "cell_area_cm2": 20.0},
    "dac": {"charge_full_scale_a": 0.2, "load_full_scale_a": 0.4},
}


def _exercise(board):
    st = _rig(board)
    clock = fm.FakeClock()
    b = _board(board, _CAL, clock)
    out = {}
    con_pin = {"rp2": 16, "esp32": 23}[board]
    out["contactor_built"] = st.pin_args[con_pin]
    out["contactor_level"] = st.pins[con_pin].level
    out["dac_codes_at_init"] = [st.bus.devices[0x60].code, st.bus.devices[0x61].code]
    ina = st.bus.devices[0x40]
    out["shunt_cal"] = ina.regs[0x02]
    out["i2c_args"] = list(st.i2c_args)
    out["adc_atten"] = st.adc_args.get({"rp2": 26, "esp32": 34}[board])
    ina.current_a = 0.05
    ina.bus_v = 3.45
    out["voltage_v"] = b.read_voltage_v()
    out["current_a"] = b.read_current_a()
    out["temperature_c"] = b.read_temperature_c()
    out["pressure_mpa"] = b.read_pressure_mpa()
    b.set_current_a(0.05)
    out["charge_codes"] = [st.bus.devices[0x60].code, st.bus.devices[0x61].code]
    b.set_current_a(-0.1)
    out["discharge_codes"] = [st.bus.devices[0x60].code, st.bus.devices[0x61].code]
    b.set_contactor(True)
    out["closed_level"] = st.pins[con_pin].level
    b.feed_watchdog()
    b.feed_watchdog()
    out["wdts"] = [(w.timeout, w.feeds) for w in st.wdts]
    out["watchdog_timeout_ms"] = b.watchdog_timeout_ms
    out["irq_off"] = st.irq_off
    out["hil_attrs"] = [n for n in ("can_pause", "pace") if hasattr(b, n)]  # the loop knows no HIL, nor does the board
    b.close()
    out["after_close"] = [st.pins[con_pin].level, st.bus.devices[0x60].code, st.bus.devices[0x61].code]
    out["faults"] = b.sensor_faults()
    return out


def case_rp2_board():
    return _exercise("rp2")


def case_esp32_board():
    return _exercise("esp32")


def case_active_low_contactor():
    st = _rig("rp2")
    b = _board("rp2", {"contactor": {"active_high": False}}, fm.FakeClock())
    out = {"built": st.pin_args[16], "init": st.pins[16].level}
    b.set_contactor(True)
    out["closed"] = st.pins[16].level
    return out


def case_clock():
    _rig("rp2")
    start = (1 << 30) - 2500  # 2.5 s before the tick counter wraps
    clock = fm.FakeClock(start)
    b = _board("rp2", None, clock)
    boot_sleep = clock.slept
    clock.slept = []
    t0 = b.ticks_ms()
    ticks = []
    for work_ms in (100, 300, 999, 50, 2500, 10):
        clock.advance(work_ms)  # the control tick's own run time
        b.wait_tick(1000)
        ticks.append(b.ticks_ms())
    return {
        "t0": t0,
        "ticks": ticks,
        "slept": clock.slept,
        "overruns": b.overruns,
        "time_s": b.time_s(),
        "net_equals_ticks": b.net_ticks_ms() == b.ticks_ms(),
        "boot_sleep": boot_sleep,
    }


class _Link:
    """The MQTT client as a board's tick wait sees it: ``service`` blocks in
    its poll until data comes (after ``arrive_ms``) or ``wait_ms`` is out."""

    def __init__(self, clock):
        self.clock = clock
        self.up = True
        self.arrive_ms = []  # per service call: ms until a packet arrives (None: nothing comes)
        self.drop_after = -1  # the link goes down in this service call (0-based)
        self.calls = []

    def connected(self):
        return self.up

    def backlog(self):
        return 1000  # far above any limit: a real board's clock is never held for it

    def service(self, now_ms, wait_ms):
        self.calls.append([now_ms, wait_ms])
        k = len(self.calls) - 1
        got = self.arrive_ms[k] if k < len(self.arrive_ms) else None
        self.clock.advance(wait_ms if got is None or got > wait_ms else got)
        if k == self.drop_after:
            self.up = False


def case_wait_services_link():
    _rig("rp2")
    start = (1 << 30) - 1500  # across the tick wrap
    clock = fm.FakeClock(start)
    b = _board("rp2", None, clock)
    link = _Link(clock)
    link.arrive_ms = [300, None, None, 200]  # a PUBACK 300 ms into the first wait; the link drops 200 ms into the fourth call
    link.drop_after = 3
    clock.slept = []
    t0 = b.ticks_ms()
    ticks = []
    for work_ms in (100, 50, 400, 1500, 10):
        clock.advance(work_ms)
        b.wait_tick(1000, link)
        ticks.append(b.ticks_ms())
    calls = [[(c[0] - t0) % fm.FakeClock.PERIOD, c[1]] for c in link.calls]
    return {"t0": t0, "ticks": ticks, "calls": calls, "slept": clock.slept, "overruns": b.overruns}


def case_dac_failure_interlock():
    st = _rig("rp2")
    b = _board("rp2", _CAL, fm.FakeClock())
    b.set_current_a(0.05)
    b.set_contactor(True)
    before = st.pins[16].level
    del st.bus.devices[0x60]  # the charge DAC stops answering
    b.set_current_a(0.06)
    out = {"closed_before": before, "level_after": st.pins[16].level, "actuator_fault": b.actuator_fault}
    out["current_a"] = _num(b.read_current_a())
    b.set_contactor(True)
    out["refused_level"] = st.pins[16].level
    out["faults"] = b.sensor_faults()
    return out


def case_no_load_dac():
    st = _rig("rp2")
    b = _board("rp2", {"dac": {"load_addr": 0}}, fm.FakeClock())
    b.set_current_a(-0.05)
    return {"charge_code": st.bus.devices[0x60].code, "rejects": b.setpoint_rejects, "setpoint_a": b.setpoint_a}


def case_missing_part():
    st = _rig("rp2", with_ina=False)
    try:
        _board("rp2", None, fm.FakeClock())
        err = None
    except RuntimeError as e:
        err = str(e)
    return {"error_text": err, "contactor_level": st.pins[16].level, "dac_code": st.bus.devices[0x60].code}


def case_ina226_board():
    st = _rig("esp32", ina="ina226")
    b = _board("esp32", {"power_monitor": {"part": "ina226"}}, fm.FakeClock())
    st.bus.devices[0x40].current_a = 1.5
    return {"current_a": b.read_current_a(), "cal": st.bus.devices[0x40].regs[0x05]}


def case_ntc_fault_through_board():
    st = _rig("rp2")
    b = _board("rp2", None, fm.FakeClock())
    st.adcs[26].ratio = 1.0  # NTC wire broken (ntc_to_gnd: node pulled to the supply)
    t = b.read_temperature_c()
    return {"t": _num(t), "faults": b.sensor_faults()}


def case_bms_on_rp2_board():
    """The real BMS tick (firmware/app.py) driving the rp2 board: start-up rest,
    charging through the DAC, then an NTC wire breaks and the supervisor opens."""
    from firmware.app import BMS
    from firmware.config import defaults

    class _Net:
        def publish(self, topic, payload, retain=False, priority=False):
            pass

    st = _rig("rp2")
    clock = fm.FakeClock()
    b = _board("rp2", _CAL, clock)
    ina = st.bus.devices[0x40]
    ina.bus_v = 3.3
    cfg = defaults()
    bms = BMS(b, cfg, _Net())
    bms.start(b.ticks_ms())
    seen = {"closed_during_rest": False}
    for _ in range(cfg["startup_rest_s"] + 3):
        bms.step(b.ticks_ms())
        if st.pins[16].level and clock.t < cfg["startup_rest_s"] * 1000:
            seen["closed_during_rest"] = True
        ina.current_a = b.setpoint_a  # the source does what it is told
        b.feed_watchdog()
        b.wait_tick(cfg["control_period_ms"])
    seen["charging_code"] = st.bus.devices[0x60].code
    seen["charging_level"] = st.pins[16].level
    st.adcs[26].ratio = 1.0  # NTC wire breaks
    for _ in range(3):
        bms.step(b.ticks_ms())
        b.wait_tick(cfg["control_period_ms"])
    seen["fault"] = bms.safety.fault
    seen["after_fault"] = [st.pins[16].level, st.bus.devices[0x60].code]
    seen["charge_current_a"] = cfg["charge_current_a"]
    return seen


# --- config validation (no hardware built) -----------------------------------
BAD = (
    ("esp32_adc2", "esp32", {"ntc": {"pin": 25}}),
    ("esp32_adc2_gpio4", "esp32", {"ntc": {"pin": 4}}),
    ("esp32_no_adc", "esp32", {"ntc": {"pin": 23}, "contactor": {"pin": 25}}),
    ("esp32_input_only_sck", "esp32", {"load_cell": {"sck": 35}}),
    ("esp32_dout_no_pullup", "esp32", {"load_cell": {"dout": 36}}),
    ("esp32_flash_pin", "esp32", {"contactor": {"pin": 7}}),
    ("esp32_boot_glitch", "esp32", {"contactor": {"pin": 5}}),
    ("rp2_gp29", "rp2", {"ntc": {"pin": 29}}),
    ("rp2_gp25", "rp2", {"contactor": {"pin": 25}}),
    ("rp2_no_adc", "rp2", {"ntc": {"pin": 22}}),
    ("rp2_i2c_pins", "rp2", {"i2c": {"id": 1}}),
    ("rp2_wdt", "rp2", {"watchdog": {"timeout_ms": 9000}}),
    ("duplicate_pin", "rp2", {"load_cell": {"sck": 16}}),
    ("unknown_field", "rp2", {"ntc": {"beta": 3950}}),
    ("unknown_section", "rp2", {"display": {}}),
    ("wrong_type", "rp2", {"power_monitor": {"shunt_ohm": "2m"}}),
    ("bool_as_int", "rp2", {"i2c": {"freq_hz": True}}),
    ("out_of_range", "rp2", {"power_monitor": {"shunt_ohm": 0.0}}),
    ("bad_choice", "rp2", {"power_monitor": {"part": "ina219"}}),
    ("ina226_ct", "rp2", {"power_monitor": {"part": "ina226", "conversion_us": 1052}}),
    ("shunt_range", "rp2", {"power_monitor": {"shunt_ohm": 0.01, "max_current_a": 20.0}}),
    ("same_dac_addr", "rp2", {"dac": {"load_addr": 96}}),
)


def case_config_errors():
    from firmware.boards import board_config

    out = {}
    for name, board, user in BAD:
        try:
            board_config.load(_write("bad_" + name, user), board)
            out[name] = None
        except board_config.BoardConfigError as e:
            out[name] = str(e)
    try:
        board_config.load(_write("not_json", "{pins: 3"), "rp2")
        out["not_json"] = None
    except board_config.BoardConfigError as e:
        out["not_json"] = str(e)
    return out


def case_config_good():
    from firmware.boards import board_config

    rp2 = board_config.load(TMP + "/does_not_exist.json", "rp2")
    esp = board_config.load(_write("esp_ok", {"ntc": {"pin": 39, "atten_db": 6}, "watchdog": {"timeout_ms": 20000}}), "esp32")
    return {
        "rp2_default_pins": [rp2["i2c"]["sda"], rp2["i2c"]["scl"], rp2["ntc"]["pin"], rp2["load_cell"]["dout"], rp2["load_cell"]["sck"], rp2["contactor"]["pin"]],
        "esp32_ntc_pin": esp["ntc"]["pin"],
        "esp32_wdt": esp["watchdog"]["timeout_ms"],
        "shunt_is_float": isinstance(rp2["power_monitor"]["shunt_ohm"], float),
    }


run_cases(globals(), sys.argv[2:])
