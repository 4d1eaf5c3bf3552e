"""NTC and HX711 drivers against a fake ADC and pin-level HX711, under MicroPython."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "mp"))
from mp_runner import case, run_cases  # noqa: E402


@pytest.fixture(scope="module")
def res():
    return run_cases("mp_drivers.py")


@pytest.mark.parametrize("topology", ["ntc_to_gnd", "ntc_to_vref"])
@pytest.mark.parametrize("model", ["beta", "steinhart_hart"])
@pytest.mark.parametrize("t_c", [-5, 25, 60])
def test_ntc_reads_within_0p2_c(res, topology, model, t_c):
    got = case(res, "ntc_temperatures")[f"{topology}_{model}_{t_c}"]
    assert abs(got - t_c) <= 0.2


@pytest.mark.parametrize("t_c", [25, 60])
def test_ntc_esp32_read_uv_path(res, t_c):
    assert abs(case(res, "ntc_temperatures")[f"esp32_beta_{t_c}"] - t_c) <= 0.2


def test_ntc_open_and_short_give_nan_and_fault(res):
    r = case(res, "ntc_faults")
    assert r["ntc_to_gnd_rail_hi"] == ["nan", "open"]
    assert r["ntc_to_gnd_rail_lo"] == ["nan", "short"]
    assert r["ntc_to_vref_rail_hi"] == ["nan", "short"]
    assert r["ntc_to_vref_rail_lo"] == ["nan", "open"]
    assert r["esp32_open"] == ["nan", "open"]  # saturated ESP32 ADC
    t, fault = r["recovered"]
    assert abs(t - 25.0) <= 0.2 and fault is None


def test_hx711_24_bit_twos_complement(res):
    r = case(res, "hx711_words")
    for c in (0, 1, 123456, -1, -123456, -0x7FFFFF, 0x7FFFFE):
        assert r[str(c)] == c


def test_hx711_gain_selects_pulse_count(res):
    assert case(res, "hx711_gain_pulses") == {"128": 25, "32": 26, "64": 27}


def test_hx711_force_and_pressure(res):
    r = case(res, "hx711_pressure")
    # (205000 - 5000) * 0.01 N = 2000 N on 20 cm2 = 2000 mm2 -> 1 MPa
    assert r["pressure_mpa"] == pytest.approx(1.0, abs=1e-12)
    assert r["force_n"] == pytest.approx((-95000 - 5000) * 0.01, abs=1e-9)


def test_hx711_stale_and_saturated(res):
    r = case(res, "hx711_faults")
    assert r["first"] == 1000 and r["held"] == [1000, 1000]
    assert r["stale"] is None and r["stale_fault"] == "stale"
    assert r["sat"] == "nan" and r["sat_fault"] == "saturated"
    assert r["good"] == 2000 and r["fault_after"] is None


def test_hx711_tare(res):
    assert case(res, "hx711_tare")["tare"] == -4321


def test_hx711_waits_for_a_first_word_at_boot(res):
    r = case(res, "hx711_boot_wait")
    # The gain-setting read starts a conversion that takes 12 looks: the
    # driver waits 12 x 5 ms for it, and the first tick has a reading.
    assert r["waits"] == 12 and r["first"] == 4242 and r["fault"] is None
    # A chip that never answers is a fault from the first tick, after 0.5 s of waiting.
    assert r["dead_fault"] == "stale" and r["dead_read"] == "nan" and r["dead_wait_ms"] == 500
