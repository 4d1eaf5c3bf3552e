"""`platewise dashboard` as a user runs it: over an existing file, and live
(the twin subscribed to a real Mosquitto, filling a new file that the pages
read); bad invocations exit 2 with the reason."""

import json
import subprocess
import sys
import time
import urllib.request

from platewise.host.broker import MosquittoBroker
from platewise.host.dashboard.server import add_dashboard_command
from platewise.host.dashboard.fill import telemetry
from platewise.host.twin.mqtt import Publisher
from platewise.shared.telemetry import encode, topic

from dashkit import run_command


def _start(*argv):
    p = subprocess.Popen([sys.executable, "-P", "-m", "platewise", "dashboard", "--port", "0", *argv],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    assert line.startswith("platewise dashboard on http://127.0.0.1:"), (line, p.stderr.read() if p.poll() is not None else "")
    return p, line.split()[3]


def _fleet(url):
    with urllib.request.urlopen(url + "api/fleet", timeout=10) as r:
        return {c["cell_id"]: c for c in json.loads(r.read())["cells"]}


def test_live_dashboard_fills_a_new_file_from_the_broker(tmp_path):
    db = tmp_path / "twin.db"
    broker = MosquittoBroker().start()
    try:
        p, url = _start("--db", str(db), "--broker", "mqtt://%s:%d" % (broker.host, broker.port), "--duration-s", "20")
        try:
            pub = Publisher(broker.host, broker.port, client_id="dash-cli-pub")
            pub.publish(topic("c7", "status"), encode("status", "c7", 1, {"state": "online", "fw": "0.1.0", "boot": 1})).wait_for_publish(5)
            for k in range(3):
                pub.publish(topic("c7", "telemetry"), encode("telemetry", "c7", k + 2, telemetry(float(k + 1), 1, k))).wait_for_publish(5)
            pub.close()
            deadline, row = time.monotonic() + 10, None
            while time.monotonic() < deadline and (row or {}).get("messages") != 4:
                time.sleep(0.1)
                row = _fleet(url).get("c7")
            assert row["messages"] == 4 and row["online"] is True and row["state"] == telemetry(3.0, 1, 2)["state"]
            with urllib.request.urlopen(url + "api/cells/c7/series", timeout=10) as r:
                assert json.loads(r.read())["t_s"] == [1.0, 2.0, 3.0]
        finally:
            p.terminate()
            p.wait(timeout=20)
    finally:
        broker.stop()
    # and over the file alone, afterwards
    p, url = _start("--db", str(db), "--duration-s", "5")
    try:
        assert _fleet(url)["c7"]["messages"] == 4
    finally:
        p.terminate()
        p.wait(timeout=20)


def test_bad_invocations_say_why(tmp_path, capsys):
    assert run_command(add_dashboard_command, ["dashboard", "--db", str(tmp_path / "none.db")]) == 2
    assert "no database at" in capsys.readouterr().err and not (tmp_path / "none.db").exists()
    assert run_command(add_dashboard_command, ["dashboard", "--db", str(tmp_path / "n.db"), "--broker", "http://x"]) == 2
    assert "mqtt://" in capsys.readouterr().err
