"""The `platewise` command's contracts, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from platewise.host.presets import PRESET_DIR

EXE = str(Path(sys.executable).parent / "platewise")


def _run(*args, timeout=120):
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=timeout)


def test_bench_cell_json_contract():
    r = _run("bench", "cell", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["steps_per_s_one_cell"] > 1000 and d["steps_per_s_batch_1000"] > 1000


def test_cell_run_json_contract_reports_conditions():
    r = _run("cell", "run", "--preset", "lfp-liquid", "--cycles", "3", "--aging-factor", "5", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["aging_factor"] == 5.0 and d["eol_cycle"] is None and d["eol_cause"] is None
    assert [c["cycle"] for c in d["cycles"]] == [1, 2, 3]
    for c in d["cycles"]:
        assert {"inventory_ah", "discharge_ah", "ce", "resistance_ohm", "pressure_mpa"} <= set(c)
        assert 0.9 < c["ce"] < 1.0
    inv = [c["inventory_ah"] for c in d["cycles"]]
    assert inv[0] > inv[1] > inv[2]  # lithium is lost every cycle


def test_cell_run_bad_preset_file_names_the_field(tmp_path):
    bad = tmp_path / "cell.json"
    src = Path(PRESET_DIR) / "lfp-liquid.json"
    d = json.loads(src.read_text())
    d["params"]["area_cm2"]["value"] = -3
    bad.write_text(json.dumps(d))
    r = _run("cell", "run", "--preset", str(bad), "--cycles", "1")
    assert r.returncode == 2 and "area_cm2" in r.stderr


def test_bench_firmware_json_contract():
    """Correctness of the benchmark's report (figures are printed, not judged)."""
    r = _run("bench", "firmware", "--json", "--ticks", "3000", timeout=300)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert {"tick_us_median", "peak_heap_bytes", "heap_growth_bytes_10k_ticks"} <= set(d)
    assert d["ticks"] == 3000 and d["tick_us_median"] > 0 and 0 < d["peak_heap_bytes"] <= d["heap_total_bytes"]
    # A leak in the control tick would show here: nothing may stay behind.
    assert d["heap_growth_bytes_10k_ticks"] < 1024
    assert d["alloc_bytes_per_tick_median"] > 0  # MicroPython boxes floats: the figure is real, not zero
