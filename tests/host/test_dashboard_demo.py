"""`platewise demo` serves the dashboard over its twin while it runs: one
virtual board (the real firmware in MicroPython, an emulated cell), the
embedded broker, the twin; the pages and the API answer at the URL the
summary gives, with the board's samples in the numeric table."""

import json
import subprocess
import sys
import urllib.request

from platewise.hil.demo import run_demo


def _get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.headers.get("Content-Type"), r.read()


def test_the_demo_serves_the_dashboard_until_its_summary_is_reported(tmp_path):
    seen = {}

    def report(summary):  # called while the dashboard is still up
        url = summary["dashboard_url"]
        seen["fleet"] = json.loads(_get(url + "api/fleet")[2])["cells"]
        seen["series"] = json.loads(_get(url + "api/cells/cell-1/series?points=1000&fields=voltage_v")[2])
        seen["events"] = json.loads(_get(url + "api/cells/cell-1/events")[2])["events"]
        seen["page"] = _get(url)

    summary = run_demo(cells=1, cycles=1, db=str(tmp_path / "twin.db"), progress=False, dashboard_port=0, report=report)
    (cell,) = summary["cells"]
    assert "error" not in cell and cell["received"] == cell["published"] > 100
    (row,) = seen["fleet"]
    states = [e["msg"]["state"] for e in seen["events"] if e["kind"] == "status" and not e["retained"]]
    assert states[0] == "online" and row["online"] is (states[-1] == "online")  # a finished board says goodbye
    assert row["cell_id"] == "cell-1" and row["messages"] >= cell["received"]
    assert row["eol_cycle_pred"] is None or row["eol_cycle_pred"] > 1
    s = seen["series"]
    assert s["samples"] > 100 and len(s["t_s"]) <= 1000 and 0.0 <= min(s["voltage_v"]) < 3.0 < max(s["voltage_v"]) < 4.0
    status, ctype, body = seen["page"]
    assert status == 200 and ctype.startswith("text/html") and b'id="fleet-page"' in body
    # stopped with the demo
    try:
        _get(summary["dashboard_url"] + "api/fleet")
        raise AssertionError("the dashboard outlived the demo")
    except OSError:
        pass


def test_keep_without_a_dashboard_is_refused():
    r = subprocess.run([sys.executable, "-P", "-m", "platewise", "demo", "--keep", "--no-dashboard"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--keep" in r.stderr
