"""`platewise bench hil --json`: its figures' contract on a short run (the
real firmware, Mosquitto, the twin), on each link; not its timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXE = str(Path(sys.executable).with_name("platewise"))
SPLIT = ("firmware", "hold", "emulator", "ipc")


@pytest.mark.parametrize("transport", ["fifo", "tcp"])
def test_bench_hil_json_contract(transport):
    # 20 simulated minutes: 1200 ticks, two telemetry messages a tick apart
    # of ten, a second or two of wall time.
    r = subprocess.run(
        [EXE, "bench", "hil", "--json", "--max-run-s", "1200", "--transport", transport],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert (d["preset"], d["mode"], d["broker"], d["transport"], d["cores"]) == ("lfp-liquid", "cccv", "mosquitto", transport, 1)
    assert d["sim_s"] == 1200.0 and d["ticks"] == 1201  # the first readings at t = 0, then one a second
    assert isinstance(d["realtime_factor"], float) and d["realtime_factor"] > 0
    assert d["realtime_factor"] == pytest.approx(d["sim_s"] / d["loop_wall_s"])
    assert 0 < d["realtime_factor_total"] < d["realtime_factor"]  # start and stop are in its wall time
    assert 0 < d["loop_wall_s"] < d["wall_s"]
    # The four parts of the loop's wall time cover it, but for two one-way trips.
    split = d["split_s"]
    assert all(split[k] > 0 for k in SPLIT), split
    assert abs(split["other"]) < 0.05 * d["loop_wall_s"] + 0.005, split
    assert sum(d["split_pct"].values()) == pytest.approx(100.0)
    assert d["per_tick_us"]["firmware"] == pytest.approx(1e6 * split["firmware"] / d["ticks"])
    cpu = d["cpu_s"]
    assert set(cpu) == {"firmware", "emulator_thread", "broker", "twin", "bench_rest", "idle_or_others"}
    assert cpu["firmware"] > 0 and cpu["emulator_thread"] > 0 and cpu["twin"] > 0 and cpu["broker"] >= 0
    own = sum(v for k, v in cpu.items() if k != "idle_or_others")
    assert d["realtime_factor_cpu"] == pytest.approx(d["sim_s"] / own)
    assert own + cpu["idle_or_others"] == pytest.approx(d["wall_s"] * d["cores"])
    m = d["messages"]
    assert m["published"] == m["received"] >= 100 and m["gaps"] == 0


def test_bench_hil_refuses_a_cpu_it_may_not_use():
    r = subprocess.run([EXE, "bench", "hil", "--cpu", "4096"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "--cpu 4096: not one of this process's CPUs" in r.stderr
