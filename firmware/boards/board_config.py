"""Hardware configuration of a real board: pin map, I2C addresses, part
parameters and per-channel calibration, from a JSON file on flash.

``load(path, board)`` reads the file (``board`` is "rp2" or "esp32"), merges
each section over DEFAULTS plus the board's reference pin map, and
validates every field; ``validate(cfg, board)`` checks a full dict. The file
holds only what differs from the defaults, e.g.::

    {"power_monitor": {"part": "ina226", "shunt_ohm": 0.005},
     "calibration": {"current_offset_a": -0.0004}}

Pin rules are the boards' traps (docs/hardware.md):
- rp2 (Pico W): GP23, GP24, GP25 and GP29 belong to the CYW43 wireless chip
  (GP29 is also ADC3/VSYS sense, shared with the Wi-Fi clock); only GP26,
  GP27, GP28 are usable ADC inputs; I2C pins must match the bus id.
- esp32: GPIO 6-11 drive the SPI flash; 34-39 are input only; only ADC1
  (GPIO 32-39) works while Wi-Fi is on, so ADC2 pins are rejected; the
  contactor may not sit on a pin that toggles or is a strap during boot.

Failure behaviour: a missing file gives the defaults (the reference wiring
in docs/hardware.md, uncalibrated); a file that is not JSON, an unknown
section or field, a wrong type, a value out of range or a pin that breaks a
rule raises BoardConfigError naming the field as ``section.field``. The
board is then not built: main.py stays in the safe state.
"""

BOARDS = ("rp2", "esp32")

# section -> field -> (default, type, lo, hi). Each field's meaning is its
# trailing comment (comments cost no RAM; docs/hardware.md has the wiring).
# Types: "f" number, "i" int, "b" bool, "c" choice (lo is the tuple of
# choices), "po" GPIO used as an output, "pa" GPIO used as an ADC input, "pu"
# GPIO input that needs the internal pull-up.
def spec():
    """The field table, built on demand: it is needed once, at boot, and
    keeping it resident would hold its heap for the whole run (docs/firmware.md,
    Heap figures)."""
    return {
        "i2c": {
            "id": (0, "i", 0, 1),  # I2C peripheral (rp2: must match the pins)
            "sda": (None, "po", 0, 0),  # SDA pin
            "scl": (None, "po", 0, 0),  # SCL pin
            "freq_hz": (400000, "i", 10000, 1000000),  # bus clock
        },
        "power_monitor": {
            "part": ("ina228", "c", ("ina228", "ina226"), 0),  # I2C power monitor part
            "addr": (0x40, "i", 0x40, 0x4F),  # 7-bit I2C address (A0/A1 straps)
            "shunt_ohm": (0.002, "f", 1e-5, 10.0),  # shunt resistance
            "max_current_a": (10.0, "f", 0.001, 100.0),  # largest expected |current|; sets the current LSB
            "conversion_us": (0, "i", 0, 8244),  # ADC conversion time per channel, a value of the part's table (0: about 1 ms, 1052/1100 us)
            "averages": (64, "c", (1, 4, 16, 64, 128, 256, 512, 1024), 0),  # samples averaged per result
            "current_invert": (False, "b", 0, 0),  # shunt wired the other way round: + must mean charging
        },
        "ntc": {
            "pin": (None, "pa", 0, 0),  # ADC input of the divider node
            "topology": ("ntc_to_gnd", "c", ("ntc_to_gnd", "ntc_to_vref"), 0),  # where the NTC sits in the divider
            "r_fixed_ohm": (10000.0, "f", 100.0, 1e6),  # fixed divider resistor
            "model": ("beta", "c", ("beta", "steinhart_hart"), 0),  # thermistor equation
            "r0_ohm": (10000.0, "f", 10.0, 1e7),  # Beta model: resistance at t0_c
            "t0_c": (25.0, "f", -50.0, 150.0),  # Beta model: reference temperature
            "beta_k": (3950.0, "f", 500.0, 10000.0),  # Beta model: B constant
            "sh_a": (1.009249522e-3, "f", -1.0, 1.0),  # Steinhart-Hart A
            "sh_b": (2.378405444e-4, "f", -1.0, 1.0),  # Steinhart-Hart B
            "sh_c": (2.019202697e-7, "f", -1.0, 1.0),  # Steinhart-Hart C
            "samples": (8, "i", 1, 64),  # ADC reads averaged per reading
            "rail_margin": (0.01, "f", 0.001, 0.2),  # fraction of full scale at either rail read as open/short
            "supply_v": (3.3, "f", 1.0, 5.0),  # esp32: divider supply voltage (its ADC is not ratiometric)
            "atten_db": (11, "c", (0, 2.5, 6, 11), 0),  # esp32: ADC attenuation (11 dB: up to ~2.45 V calibrated)
        },
        "load_cell": {
            "dout": (None, "pu", 0, 0),  # HX711 DOUT (internal pull-up: a broken wire reads 'not ready')
            "sck": (None, "po", 0, 0),  # HX711 PD_SCK
            "gain": (128, "c", (128, 64, 32), 0),  # 128/64: channel A, 32: channel B
            "offset_counts": (0, "i", -0x800000, 0x7FFFFF),  # reading with the fixture unloaded
            "scale_n_per_count": (0.001, "f", -1e6, 1e6),  # force per count (from a known weight)
            "cell_area_cm2": (10.0, "f", 0.01, 10000.0),  # area the stack force acts on
            "stale_limit": (5, "i", 1, 1000),  # polls without a new word before the channel faults
        },
        "dac": {
            "charge_addr": (0x60, "i", 0x60, 0x67),  # MCP4725 of the charge current source
            "charge_full_scale_a": (0.1, "f", 1e-6, 100.0),  # charge current at DAC code 4095
            "load_addr": (0x61, "i", 0, 0x67),  # MCP4725 of the discharge load (0: no board-controlled load)
            "load_full_scale_a": (0.1, "f", 1e-6, 100.0),  # discharge current at DAC code 4095
        },
        "contactor": {
            "pin": (None, "po", 0, 0),  # contactor / MOSFET driver input
            "active_high": (True, "b", 0, 0),  # pin level that closes the contactor is high
        },
        "watchdog": {
            "timeout_ms": (5000, "i", 0, 60000),  # hardware watchdog (0: off, bench only; rp2 max 8388)
        },
        "calibration": {
            "voltage_gain": (1.0, "f", 0.5, 2.0),  # cell voltage = raw * gain + offset
            "voltage_offset_v": (0.0, "f", -0.5, 0.5),
            "current_gain": (1.0, "f", 0.5, 2.0),  # current = raw * gain + offset
            "current_offset_a": (0.0, "f", -1.0, 1.0),
            "temperature_gain": (1.0, "f", 0.5, 2.0),  # temperature = raw * gain + offset
            "temperature_offset_c": (0.0, "f", -10.0, 10.0),
            "pressure_gain": (1.0, "f", 0.1, 10.0),  # pressure = raw * gain + offset
            "pressure_offset_mpa": (0.0, "f", -5.0, 5.0),
            "charge_gain": (1.0, "f", 0.5, 2.0),  # DAC current = wanted * gain + offset
            "charge_offset_a": (0.0, "f", -1.0, 1.0),
            "load_gain": (1.0, "f", 0.5, 2.0),
            "load_offset_a": (0.0, "f", -1.0, 1.0),
        },
    }


# Reference wiring (docs/hardware.md) per board.
PIN_DEFAULTS = {
    "rp2": {"i2c": {"sda": 4, "scl": 5}, "ntc": {"pin": 26}, "load_cell": {"dout": 14, "sck": 15}, "contactor": {"pin": 16}},
    "esp32": {"i2c": {"sda": 21, "scl": 22}, "ntc": {"pin": 34}, "load_cell": {"dout": 19, "sck": 18}, "contactor": {"pin": 23}},
}

# Conversion times of each power monitor (datasheets), for power_monitor.conversion_us.
_CONVERSION_US = {
    "ina228": (50, 84, 150, 280, 540, 1052, 2074, 4120),
    "ina226": (140, 204, 332, 588, 1100, 2116, 4156, 8244),
}

# --- board pin rules -------------------------------------------------------
_RP2_WIRELESS = (23, 24, 25, 29)
_RP2_ADC = (26, 27, 28)
_RP2_I2C = {0: ((0, 4, 8, 12, 16, 20), (1, 5, 9, 13, 17, 21)), 1: ((2, 6, 10, 14, 18, 26), (3, 7, 11, 15, 19, 27))}
_ESP32_FLASH = (6, 7, 8, 9, 10, 11)
_ESP32_MISSING = (20, 24, 28, 29, 30, 31)
_ESP32_ADC1 = (32, 33, 34, 35, 36, 37, 38, 39)
_ESP32_ADC2 = (0, 2, 4, 12, 13, 14, 15, 25, 26, 27)
_ESP32_UART0 = (1, 3)
# Straps (0, 2, 5, 12, 15) and pins that pulse during boot (1, 3, 14):
# a contactor there could close for a moment at every reset.
_ESP32_BOOT_GLITCH = (0, 1, 2, 3, 5, 12, 14, 15)


class BoardConfigError(ValueError):
    """Bad hardware configuration; str(e) names the field as section.field."""


def _err(name, msg):
    raise BoardConfigError(name + ": " + msg)


def _check_pin(board, name, pin, kind):
    if isinstance(pin, bool) or not isinstance(pin, int):
        _err(name, "expected a GPIO number")
    if board == "rp2":
        if pin in _RP2_WIRELESS:
            if pin == 29:
                _err(name, "GP29 is ADC3/VSYS sense, shared with the Pico W wireless chip")
            _err(name, "GP%d belongs to the Pico W wireless chip (CYW43)" % pin)
        if not (0 <= pin <= 22 or 26 <= pin <= 28):
            _err(name, "GP%d does not exist on the Pico W header" % pin)
        if kind == "pa" and pin not in _RP2_ADC:
            _err(name, "GP%d has no ADC; use GP26, GP27 or GP28" % pin)
    else:
        if pin in _ESP32_FLASH:
            _err(name, "GPIO%d drives the SPI flash" % pin)
        if pin < 0 or pin > 39 or pin in _ESP32_MISSING:
            _err(name, "GPIO%d does not exist on the ESP32" % pin)
        if pin in _ESP32_UART0:
            _err(name, "GPIO%d is UART0 (REPL, flashing)" % pin)
        if kind == "pa":
            if pin in _ESP32_ADC2:
                _err(name, "GPIO%d is on ADC2, which is unusable while Wi-Fi is on; use ADC1 (GPIO 32-39)" % pin)
            if pin not in _ESP32_ADC1:
                _err(name, "GPIO%d has no ADC1 channel; use GPIO 32-39" % pin)
        if kind == "po" and pin >= 34:
            _err(name, "GPIO%d is input-only on the ESP32" % pin)
        if kind == "pu" and pin >= 34:
            _err(name, "GPIO%d has no internal pull-up on the ESP32" % pin)


def _check_field(board, name, spec, v):
    _default, typ, lo, hi = spec
    if typ == "f":
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
            _err(name, "expected a number")
        if not lo <= v <= hi:
            _err(name, "%s outside [%s, %s]" % (v, lo, hi))
        return float(v)
    if typ == "i":
        if isinstance(v, bool) or not isinstance(v, int):
            _err(name, "expected an integer")
        if not lo <= v <= hi:
            _err(name, "%s outside [%s, %s]" % (v, lo, hi))
        return v
    if typ == "b":
        if not isinstance(v, bool):
            _err(name, "expected true or false")
        return v
    if typ == "c":
        if isinstance(v, bool) or v not in lo:
            _err(name, "%s is not one of %s" % (v, lo))
        return v
    _check_pin(board, name, v, typ)
    return v


def defaults(board):
    if board not in BOARDS:
        raise BoardConfigError("board: " + str(board) + " is not one of " + str(BOARDS))
    cfg = {}
    table = spec()
    for sec in table:
        cfg[sec] = {}
        for k in table[sec]:
            cfg[sec][k] = table[sec][k][0]
    pins = PIN_DEFAULTS[board]
    for sec in pins:
        for k in pins[sec]:
            cfg[sec][k] = pins[sec][k]
    return cfg


def validate(cfg, board):
    """Check a full config dict; raise BoardConfigError naming section.field."""
    if board not in BOARDS:
        raise BoardConfigError("board: " + str(board) + " is not one of " + str(BOARDS))
    table = spec()
    for sec in cfg:
        if sec not in table:
            _err(str(sec), "unknown section")
        if not isinstance(cfg[sec], dict):
            _err(sec, "expected an object")
    for sec in table:
        if sec not in cfg:
            _err(sec, "missing section")
        s = cfg[sec]
        fields = table[sec]
        for k in s:
            if k not in fields:
                _err(sec + "." + str(k), "unknown field")
        for k in fields:
            if k not in s:
                _err(sec + "." + k, "missing field")
            s[k] = _check_field(board, sec + "." + k, fields[k], s[k])
    _cross_check(cfg, board)
    return cfg


def _cross_check(cfg, board):
    # Every GPIO does one job.
    used = {}
    for sec, k in (("i2c", "sda"), ("i2c", "scl"), ("ntc", "pin"), ("load_cell", "dout"), ("load_cell", "sck"), ("contactor", "pin")):
        pin = cfg[sec][k]
        if pin in used:
            _err(sec + "." + k, "GPIO%d is already used by %s" % (pin, used[pin]))
        used[pin] = sec + "." + k
    i2c = cfg["i2c"]
    if board == "rp2":
        sdas, scls = _RP2_I2C[i2c["id"]]
        if i2c["sda"] not in sdas:
            _err("i2c.sda", "GP%d is not an SDA pin of I2C%d (one of %s)" % (i2c["sda"], i2c["id"], sdas))
        if i2c["scl"] not in scls:
            _err("i2c.scl", "GP%d is not an SCL pin of I2C%d (one of %s)" % (i2c["scl"], i2c["id"], scls))
    elif cfg["contactor"]["pin"] in _ESP32_BOOT_GLITCH:
        _err("contactor.pin", "GPIO%d is a strap or pulses during ESP32 boot: the contactor could close at reset" % cfg["contactor"]["pin"])
    pm = cfg["power_monitor"]
    table = _CONVERSION_US[pm["part"]]
    if pm["conversion_us"] and pm["conversion_us"] not in table:
        _err("power_monitor.conversion_us", "%d is not a %s conversion time %s" % (pm["conversion_us"], pm["part"], table))
    range_v = 0.16384 if pm["part"] == "ina228" else 0.08192
    if pm["max_current_a"] * pm["shunt_ohm"] > range_v:
        _err("power_monitor.max_current_a", "max_current_a * shunt_ohm exceeds the %s shunt range of %s V" % (pm["part"], range_v))
    dac = cfg["dac"]
    if dac["load_addr"] and not 0x60 <= dac["load_addr"] <= 0x67:
        _err("dac.load_addr", "0 or an MCP4725 address 0x60..0x67")
    if dac["load_addr"] == dac["charge_addr"]:
        _err("dac.load_addr", "same address as dac.charge_addr")
    if cfg["load_cell"]["scale_n_per_count"] == 0:
        _err("load_cell.scale_n_per_count", "must not be 0")
    wdt = cfg["watchdog"]["timeout_ms"]
    if wdt and wdt < 1000:
        _err("watchdog.timeout_ms", "0 (off) or >= 1000")
    if board == "rp2" and wdt > 8388:
        _err("watchdog.timeout_ms", "the RP2040 watchdog allows at most 8388 ms")
    if cfg["ntc"]["model"] == "beta" and cfg["ntc"]["r0_ohm"] <= 0:
        _err("ntc.r0_ohm", "must be > 0")


def load(path, board):
    """Defaults for ``board`` overlaid with the JSON file at ``path`` (missing file: defaults)."""
    import json

    cfg = defaults(board)
    try:
        f = open(path)
    except OSError:
        return validate(cfg, board)
    try:
        try:
            user = json.loads(f.read())
        except ValueError:
            raise BoardConfigError(path + ": not valid JSON")
    finally:
        f.close()
    return validate(merge(cfg, user), board)


def merge(cfg, user):
    """Overlay a user dict (sections of fields) on a full config."""
    if not isinstance(user, dict):
        raise BoardConfigError("board config: top level must be an object")
    for sec in user:
        if sec not in cfg:
            _err(str(sec), "unknown section")
        if not isinstance(user[sec], dict):
            _err(sec, "expected an object")
        for k in user[sec]:
            cfg[sec][k] = user[sec][k]
    return cfg
