"""INA228 / INA226 drivers against register-level fakes, under MicroPython.

The fakes (tests/firmware/mp/mp_fakes.py) compute register contents from the
test's physical current and voltage with the datasheet LSBs; these tests
check the numbers the drivers read back."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "mp"))
from mp_runner import case, run_cases  # noqa: E402


@pytest.fixture(scope="module")
def res():
    return run_cases("mp_drivers.py")


def test_ina228_current_within_one_lsb(res):
    r = case(res, "ina228_current")
    lsb = 10.0 / 2**19  # datasheet: CURRENT_LSB = I_max / 2**19
    # 10 A * 2 mOhm = 20 mV fits the +-40.96 mV range: ADCRANGE = 1 and SHUNT_CAL x4.
    assert r["adcrange"] == 1
    assert r["shunt_cal"] == round(13107.2e6 * lsb * 0.002 * 4) == 2000
    assert r["resets"] == 1
    assert r["lsb_a"] == pytest.approx(lsb, rel=1e-9)
    assert abs(r["pos_a"] - 1.234) <= lsb
    assert abs(r["neg_a"] - (-0.5)) <= lsb and r["neg_a"] < 0
    assert abs(r["small_a"] - 0.0123) <= lsb


def test_ina228_wide_range_and_rounded_shunt_cal(res):
    r = case(res, "ina228_wide_range")
    lsb_nominal = 50.0 / 2**19
    assert r["adcrange"] == 0  # 100 mV needs +-163.84 mV
    assert r["shunt_cal"] == round(13107.2e6 * lsb_nominal * 0.002)
    assert r["lsb_a"] == pytest.approx(r["shunt_cal"] / (13107.2e6 * 0.002), rel=1e-12)
    assert abs(r["read_a"] - 37.5) <= r["lsb_a"]


def test_ina228_bus_voltage_die_temperature_and_adc_config(res):
    r = case(res, "ina228_bus_and_temp")
    assert abs(r["bus_v"] - 3.6521) <= 195.3125e-6 / 2
    assert abs(r["die_c"] - (-12.34)) <= 7.8125e-3 / 2
    assert abs(r["shunt_v"] - 0.004) <= 78.125e-9
    ct, avg = 4, 2  # 540 us, 16 averages
    assert r["adc_config"] == (0xF << 12) | (ct << 9) | (ct << 6) | (ct << 3) | avg
    assert r["cycle_ms"] == pytest.approx(3 * 540 * 16 / 1000)


def test_ina228_id_checks_name_the_part_and_address(res):
    wrong = case(res, "ina228_wrong_id")["error_text"]
    assert wrong and "INA228" in wrong and "0x40" in wrong and "device id 0x2381" in wrong
    absent = case(res, "ina228_absent")["error_text"]
    assert absent and "0x41" in absent and "no answer" in absent


def test_ina228_bad_parameters_name_the_parameter(res):
    r = case(res, "ina228_bad_params")
    assert r["range"].startswith("max_current_a:")
    assert r["ct"].startswith("conversion_us:")
    assert r["avg"].startswith("averages:")


def test_ina228_i2c_error_gives_nan_and_fault_then_recovers(res):
    r = case(res, "ina228_i2c_error")
    assert r["bad_a"] == "nan" and r["fault"] == "i2c" and r["errors"] == 1
    assert abs(r["good_a"] - 1.0) <= 10.0 / 2**19 and r["fault_after"] is None


def test_ina226_current_and_bus(res):
    r = case(res, "ina226_current")
    lsb_nominal = 10.0 / 2**15
    assert r["cal"] == round(0.00512 / (lsb_nominal * 0.002)) == 8389
    assert r["lsb_a"] == pytest.approx(0.00512 / (8389 * 0.002), rel=1e-12)
    # INA226 shunt ADC step is 2.5 uV = 1.25 mA on 2 mOhm, coarser than the
    # current LSB: the reading is within one shunt step plus one current LSB.
    tol = 2.5e-6 / 0.002 + r["lsb_a"]
    assert abs(r["pos_a"] - 1.234) <= tol
    assert abs(r["neg_a"] + 0.5) <= tol and r["neg_a"] < 0
    assert abs(r["bus_v"] - 3.6521) <= 1.25e-3 / 2
    # bit 14 fixed, AVG=16 (code 2), VBUSCT=VSHCT=1100 us (code 4), continuous shunt+bus
    assert r["config"] == 0x4000 | (2 << 9) | (4 << 6) | (4 << 3) | 7


def test_ina226_wrong_id(res):
    t = case(res, "ina226_wrong_id")["error_text"]
    assert t and "INA226" in t and "0x2290" in t


def test_read_path_allocates_only_the_float_results(res):
    # Two reads return two floats (boxed on this port); buffers are preallocated.
    assert case(res, "read_path_alloc")["bytes_per_read_pair"] <= 64
