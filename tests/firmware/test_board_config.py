"""Hardware config validation (firmware/boards/board_config.py), under MicroPython:
every bad value is rejected with an error naming section.field."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "mp"))
from mp_runner import case, run_cases  # noqa: E402


@pytest.fixture(scope="module")
def res(tmp_path_factory):
    return run_cases("mp_boards.py", str(tmp_path_factory.mktemp("boardcfg")), "config_errors", "config_good")


EXPECTED = {
    "esp32_adc2": ("ntc.pin:", "ADC2"),
    "esp32_adc2_gpio4": ("ntc.pin:", "ADC2"),
    "esp32_no_adc": ("ntc.pin:", "ADC1"),
    "esp32_input_only_sck": ("load_cell.sck:", "input-only"),
    "esp32_dout_no_pullup": ("load_cell.dout:", "pull-up"),
    "esp32_flash_pin": ("contactor.pin:", "flash"),
    "esp32_boot_glitch": ("contactor.pin:", "boot"),
    "rp2_gp29": ("ntc.pin:", "wireless"),
    "rp2_gp25": ("contactor.pin:", "wireless"),
    "rp2_no_adc": ("ntc.pin:", "GP26"),
    "rp2_i2c_pins": ("i2c.sda:", "I2C1"),
    "rp2_wdt": ("watchdog.timeout_ms:", "8388"),
    "duplicate_pin": ("contactor.pin:", "load_cell.sck"),
    "unknown_field": ("ntc.beta:", "unknown field"),
    "unknown_section": ("display:", "unknown section"),
    "wrong_type": ("power_monitor.shunt_ohm:", "number"),
    "bool_as_int": ("i2c.freq_hz:", "integer"),
    "out_of_range": ("power_monitor.shunt_ohm:", "outside"),
    "bad_choice": ("power_monitor.part:", "ina219"),
    "ina226_ct": ("power_monitor.conversion_us:", "ina226"),
    "shunt_range": ("power_monitor.max_current_a:", "shunt range"),
    "same_dac_addr": ("dac.load_addr:", "charge_addr"),
    "not_json": ("not_json.json:", "not valid JSON"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_config_names_the_field(res, name):
    msg = case(res, "config_errors")[name]
    field, words = EXPECTED[name]
    assert msg is not None, f"{name} was accepted"
    assert field in msg and words in msg, msg


def test_defaults_and_a_valid_file(res):
    r = case(res, "config_good")
    assert r["rp2_default_pins"] == [4, 5, 26, 14, 15, 16]
    assert r["esp32_ntc_pin"] == 39 and r["esp32_wdt"] == 20000
    assert r["shunt_is_float"] is True
