"""The whole system end to end: broker, virtual boards running the real
firmware under MicroPython, emulated cells, and the twin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from platewise.hil.demo import run_demo

CONTRACT_KEYS = {"cell_id", "published", "received", "gaps", "inventory_true_ah", "inventory_est_ah", "inventory_std_ah"}


def _check_cells(cells, n_cells, n_cycles):
    assert len(cells) == n_cells
    for c in cells:
        assert CONTRACT_KEYS <= set(c)
        assert "error" not in c, c.get("error")
        assert c["cycles"] == n_cycles
        # 3 cycles at 10 s telemetry are thousands of messages: all arrive, once.
        assert c["published"] > 1000
        assert c["received"] == c["published"]
        assert c["gaps"] == 0 and c["duplicates"] == 0 and c["rejected"] == 0
        # The anode-less cell lost lithium (cell-physics sec. 2) ...
        assert c["inventory_true_ah"] < 0.98 * c["initial_inventory_ah"]
        # ... and the twin's estimate is within 2 % of the emulator's truth.
        err = abs(c["inventory_est_ah"] - c["inventory_true_ah"]) / c["inventory_true_ah"]
        assert err < 0.02, (c["inventory_est_ah"], c["inventory_true_ah"])
        assert 0 < c["inventory_std_ah"] < 0.02 * c["inventory_true_ah"]


def test_demo_through_real_mosquitto(mosquitto, tmp_path):
    url = f"mqtt://{mosquitto.host}:{mosquitto.port}"
    db = tmp_path / "twin.db"
    summary = run_demo(cells=2, cycles=3, broker=url, db=str(db), progress=False)
    _check_cells(summary["cells"], 2, 3)
    # The twin stored what it received, in SQLite on disk.
    import sqlite3

    with sqlite3.connect(db) as con:
        n = con.execute("SELECT COUNT(*) FROM messages WHERE retained = 0 AND kind != 'status'").fetchone()[0]
        cycles = con.execute("SELECT COUNT(*) FROM cycles").fetchone()[0]
    assert n == sum(c["received"] for c in summary["cells"])
    assert cycles == 6


def test_cli_demo_json_on_embedded_broker():
    """The README's demo command, as a user runs it (console script, embedded broker)."""
    exe = Path(sys.executable).parent / "platewise"
    r = subprocess.run(
        [str(exe), "demo", "--cells", "2", "--cycles", "3", "--json"], capture_output=True, text=True, timeout=240
    )
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout)  # stdout is exactly one JSON object
    assert summary["broker"].startswith("embedded")
    assert summary["aging_factor"] == 1.0 and summary["mode"] == "cccv"
    _check_cells(summary["cells"], 2, 3)
    assert "cell-1" in r.stderr  # progress goes to stderr


def test_cli_rejects_bad_arguments():
    exe = Path(sys.executable).parent / "platewise"
    r = subprocess.run([str(exe), "demo", "--cells", "0"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--cells" in r.stderr
