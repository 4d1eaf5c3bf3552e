"""The HIL scenario tool end to end: the shipped set through the pytest
plugin (`platewise hil run`, pytest-xdist, JUnit XML, JSON and HTML
reports), a broken firmware config failing the right scenario with the
figure named, and a baseline round trip."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from platewise.hil.scenario import discover, load

# The shipped set's cheap part: each safety path, the data path and the
# commands. The long runs (outages, formation, life) run in test_shipped_set_passes.
FAST = ("overcharge-stuck-source", "stuck-voltage-sensor", "commands-forged-replayed")


def _hil(*args, cwd):
    return subprocess.run(
        [sys.executable, "-P", "-m", "platewise.cli", "hil", *args], capture_output=True, text=True, cwd=cwd, timeout=900
    )


class _Html(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images = 0
        self.text = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img" and a.get("src", "").startswith("data:image/png;base64,"):
            self.images += 1

    def handle_data(self, data):
        self.text.append(data)


@pytest.mark.run_first  # about a third of the suite's time
def test_shipped_set_passes_through_the_plugin(tmp_path):
    names = [load(p).name for p in discover()]
    junit, js, page = tmp_path / "j.xml", tmp_path / "r.json", tmp_path / "r.html"
    r = _hil("run", "-j", "2", "--junit", str(junit), "--json", str(js), "--html", str(page), cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert sorted(c.get("name") for c in cases) == sorted(names)
    assert int(suite.get("failures")) == 0 and int(suite.get("errors")) == 0 and int(suite.get("skipped")) == 0
    # Each case carries its criteria with the measured values as properties.
    props = {p.get("name"): p.get("value") for c in cases if c.get("name") == "overcharge-stuck-source" for p in c.iter("property")}
    assert props['fault == "OV"'] == '"OV"' and int(props["contactor_open_after_fault_ticks <= 1"]) <= 1
    doc = json.loads(js.read_text())
    by = {s["name"]: s for s in doc["scenarios"]}
    assert set(by) == set(names) and all(s["passed"] for s in by.values())
    assert by["broker-outage-30min"]["values"]["lost_messages"] == 0
    assert by["broker-outage-30min"]["values"]["published"] > 500
    assert by["power-cycle-mid-charge"]["values"]["boots"] == 2
    h = _Html()
    h.feed(page.read_text())
    text = " ".join(h.text)
    assert f"{len(names)} of {len(names)} scenarios passed" in text
    assert h.images >= 2 * len(names)  # V/I/T/P and impedance/limit for each, inventory where the twin estimated


def test_a_broken_firmware_config_fails_the_scenario_naming_the_figure(tmp_path):
    # An OV limit above what the cell can take: the stuck source drives the
    # cell far past it before the firmware acts.
    (tmp_path / "broken.json").write_text(json.dumps({"v_max_v": 4.6}))
    junit = tmp_path / "j.xml"
    r = _hil("run", *FAST[:2], "--fw-config", str(tmp_path / "broken.json"), "--junit", str(junit), cwd=tmp_path)
    assert r.returncode == 1, r.stdout[-3000:]
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert cases["stuck-voltage-sensor"].find("failure") is None  # not about voltage limits: still passes
    fail = cases["overcharge-stuck-source"].find("failure")
    assert fail is not None
    msg = fail.get("message", "") + (fail.text or "")
    assert "max_cell_voltage_v <= 4.1: measured" in msg
    measured = float(msg.split("max_cell_voltage_v <= 4.1: measured ")[1].split()[0])
    assert measured > 4.1


def test_baseline_round_trip_names_the_moved_figure(tmp_path):
    base = tmp_path / "base.json"
    r = _hil("baseline", "save", str(base), FAST[2], cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:]
    saved = json.loads(base.read_text())["scenarios"][FAST[2]]
    assert saved["cmd_ok"] == 1 and "wall_s" not in saved
    # Unchanged: passes against its own baseline.
    r = _hil("run", FAST[2], "--baseline", str(base), cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:]
    # A tuning changed: the rest after charge is longer, so the run's figures
    # move; the failure names the figure, the old and the new value.
    (tmp_path / "tuned.json").write_text(json.dumps({"charge_current_a": 0.003}))
    r = _hil("run", FAST[2], "--baseline", str(base), "--fw-config", str(tmp_path / "tuned.json"), cwd=tmp_path)
    assert r.returncode == 1, r.stdout[-3000:]
    old = saved["inventory_true_ah"]
    line = [ln for ln in r.stdout.splitlines() if "baseline: inventory_true_ah:" in ln]
    assert line, r.stdout[-3000:]
    was, now = line[0].split("inventory_true_ah: ")[1].split(" (tolerance")[0].split(" -> ")
    assert float(was) == old and abs(float(now) - old) > 1e-5


def test_a_bad_file_stops_the_run_before_anything_starts(tmp_path):
    good = discover(["stuck-voltage-sensor"])[0].read_text()
    (tmp_path / "bad.toml").write_text(good.replace('fault = "stuck"', 'fault = "stcuk"'))
    r = _hil("run", "stuck-voltage-sensor", str(tmp_path / "bad.toml"), cwd=tmp_path)
    assert r.returncode == 2
    assert "bad.toml: events[0].fault: unknown sensor fault 'stcuk'" in r.stderr
    # Plain pytest on the same file: a collection error with the same words.
    r = subprocess.run([sys.executable, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "bad.toml")],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and "unknown sensor fault 'stcuk'" in r.stdout, r.stdout[-2000:]
    r = _hil("list", "--metrics", cwd=tmp_path)
    assert r.returncode == 0 and "contactor_open_after_fault_ticks" in r.stdout and "[ticks]" in r.stdout
