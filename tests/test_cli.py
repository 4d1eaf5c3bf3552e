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


def test_bench_firmware_table_rewrites_only_its_block(tmp_path):
    """`--table FILE` measures the heap and rewrites the figures block, nothing else."""
    from platewise.hil.bench import TABLE_END, TABLE_START

    doc = tmp_path / "firmware.md"
    before, after = "# Firmware\n\nprose before\n\n", "\n\nprose after\n"
    doc.write_text(before + TABLE_START + "\n| stale | 1 KB |\n" + TABLE_END + after)
    r = _run("bench", "firmware", "--ticks", "500", "--table", str(doc), "--json", timeout=600)
    assert r.returncode == 0, r.stderr
    figs = json.loads(r.stdout)
    text = doc.read_text()
    assert text.startswith(before + TABLE_START) and text.endswith(TABLE_END + after)
    assert "stale" not in text
    rows = [ln for ln in text.splitlines() if ln.startswith("| ") and not ln.startswith("| figure")]
    assert len(rows) == 4 + 7 + 2, rows  # the ticks, the imports (hil.bench.IMPORT_PARTS), the HIL run
    # Figures the firmware must keep: within the HIL heap, no growth in the tick.
    hil = figs["hil"]
    assert 30 * 1024 < hil["heap_start_bytes"] <= hil["heap_max_bytes"] < 96 * 1024
    assert 300 < hil["qstr_count_start"] <= hil["qstr_count"] <= 620  # inside the fifth qstr pool
    assert all(d["heap_growth_bytes_10k_ticks"] < 1024 for d in figs["ticks"].values())
    costs = {label: n for label, _mods, n in figs["imports"]}
    assert all(1024 < n < 60 * 1024 for n in costs.values()), costs
    assert f"{hil['heap_start_bytes'] / 1024:.1f} KB" in text


def test_bench_firmware_table_without_its_markers_is_refused_untouched(tmp_path):
    doc = tmp_path / "notes.md"
    doc.write_text("no block here\n")
    r = _run("bench", "firmware", "--table", str(doc), timeout=60)
    assert r.returncode == 2 and "no figures block" in r.stderr and str(doc) in r.stderr
    assert doc.read_text() == "no block here\n"
    r = _run("bench", "firmware", "--table", str(tmp_path / "missing.md"), timeout=60)
    assert r.returncode == 2 and "missing.md" in r.stderr
