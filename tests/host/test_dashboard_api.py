"""The dashboard's server side without a browser: the vendored uPlot and its
checksums, the v3 live tables (kept on write and filled on upgrade alike),
the fleet rows, server-side decimation over 100k stored samples, and the
multiplexed stream (retry, Last-Event-ID resume, keep-alive)."""

import http.client
import json
import sqlite3
import urllib.error
import urllib.request

import pytest

from platewise.host.dashboard import assets
from platewise.host.dashboard.fill import fill_cell, telemetry
from platewise.host.dashboard.server import Dashboard
from platewise.host.twin import http as http_mod
from platewise.host.twin.store import SCHEMA_VERSION, Store, migrate
from platewise.host.twin.service import Twin
from platewise.shared.telemetry import encode, topic
from platewise.shared.wire import DISCHARGE

from dashkit import feed_short_cell


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


def test_vendored_uplot_is_the_pinned_release(monkeypatch):
    manifest = assets.vendored()  # raises if a checksum differs
    assert manifest["uplot"]["version"] == "1.6.32" and manifest["uplot"]["license"] == "MIT"
    assert b"MIT License" in assets.read("vendor/uPlot.LICENSE")
    assert len(assets.read("vendor/uPlot.iife.min.js")) == 51081
    real = assets.read
    monkeypatch.setattr(assets, "read", lambda n: real(n) + b" " if n.endswith(".js") else real(n))
    with pytest.raises(assets.AssetError, match="uPlot.iife.min.js has sha256"):
        assets.vendored()


MESSAGES = [  # (kind, seq, fields, retained)
    ("status", 1, {"state": "online", "fw": "0.1.0", "boot": 1}, True),
    ("telemetry", 2, telemetry(10.0, 1, 0), False),
    ("telemetry", 3, telemetry(11.0, 1, 1), False),
    ("event", 4, {"t_s": 11.5, "event": "throttle", "code": "i_limit", "msg": "plating limit", "value": 0.002, "limit": 0.001}, False),
    ("telemetry", 5, telemetry(12.0, 1, 2, spike_v=4.2), False),
    ("status", 6, {"state": "offline"}, False),
    ("status", 7, {"state": "online", "fw": "0.1.0", "boot": 2}, True),  # a stale copy: the live offline stays
]


def _insert(store, cell_id="c1"):
    for kind, seq, fields, retained in MESSAGES:
        payload = encode(kind, cell_id, seq, dict(fields)).decode()
        store.insert_message(cell_id, kind, "board", seq, fields.get("t_s"), retained, payload, 100.0 + seq)
    store.flush()


def _live_rows(path):
    conn = sqlite3.connect(path)
    out = (conn.execute("SELECT * FROM samples ORDER BY id").fetchall(), conn.execute("SELECT * FROM cells").fetchall())
    conn.close()
    return out


def test_live_tables_are_the_same_written_live_and_filled_on_upgrade(tmp_path):
    live = str(tmp_path / "live.db")
    s = Store(live)
    _insert(s)
    s.close()
    old = str(tmp_path / "v2.db")
    conn = sqlite3.connect(old, isolation_level=None)
    assert migrate(conn, target=2) == [1, 2]
    conn.close()
    # a v2 file has no live tables: give it the same messages the v2 way
    conn = sqlite3.connect(old, isolation_level=None)
    for kind, seq, fields, retained in MESSAGES:
        conn.execute(
            "INSERT INTO messages (cell_id, kind, stream, seq, t_s, retained, payload, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ("c1", kind, "board", seq, fields.get("t_s"), int(retained), encode(kind, "c1", seq, dict(fields)).decode(), 100.0 + seq),
        )
    conn.close()
    s = Store(old)
    assert s.schema_version == SCHEMA_VERSION  # upgraded from v2 through every step
    s.close()
    samples, cells = _live_rows(live)
    assert _live_rows(old) == (samples, cells)
    assert [r[2] for r in samples] == [10.0, 11.0, 12.0]  # t_s
    assert [r[5] for r in samples] == [telemetry(10.0, 1, 0)["voltage_v"], telemetry(11.0, 1, 1)["voltage_v"], 4.2]  # voltage_v
    ((cell_id, last_id, last_seen, n, status, status_retained, status_at, state, cycle, t_s, _chg, _dis),) = cells
    assert (cell_id, last_id, n, status, status_retained, state, cycle, t_s) == ("c1", 7, 7, "offline", 0, DISCHARGE, 1, 12.0)
    assert last_seen == 106.0 and status_at == 106.0  # the retained copy (107) is not a sighting


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A twin database: 100k samples of one cell with a spike, an emulated cell with a soft short, an offline cell."""
    db = str(tmp_path_factory.mktemp("dash") / "twin.db")
    s = Store(db, batch_rows=20000)
    for k in range(100000):
        m = telemetry(float(k + 1), 1, k, 9.5 if k == 61803 else None)
        s.insert_message("big", "telemetry", "board", k + 1, m["t_s"], False, json.dumps(m), 1.0)
    s.close()
    twin = Twin(db_path=db)
    feed_short_cell(twin)
    twin.handle(topic("s1", "status"), encode("status", "s1", 1, {"state": "online", "fw": "0.1.0", "boot": 1}), retained=True)
    seq = fill_cell(twin, "off", samples=3, cycles=2)
    twin.handle(topic("off", "status"), encode("status", "off", seq, {"state": "offline"}))
    twin.close()
    dash = Dashboard(db).start()
    yield db, dash.url.rstrip("/")
    dash.stop()


def test_fleet_rows_carry_status_estimates_and_alarms(served):
    _, url = served
    status, ctype, body = get(url + "/api/fleet")
    assert status == 200 and ctype == "application/json"
    data = json.loads(body)
    rows = {r["cell_id"]: r for r in data["cells"]}
    assert sorted(rows) == ["big", "off", "s1"]
    assert len(data["cursor"].split(".")) == 4
    assert rows["off"]["online"] is False and rows["s1"]["online"] is True and rows["big"]["online"] is None
    s1 = rows["s1"]
    assert s1["alarms"]["SHORT_LIKELY"]["severity"] == "critical" and s1["alarms"]["SHORT_SUSPECTED"]["since_cycle"] == 7
    assert 70.0 < s1["inventory_pct"] < 80.0 and 0.0 < s1["inventory_band_pct"] < 5.0
    assert s1["eol_cycle_lo"] <= s1["eol_cycle_pred"] <= s1["eol_cycle_hi"]
    assert rows["off"]["state"] == DISCHARGE and rows["off"]["messages"] == 7
    # the cell route says the same, plus where its stream starts
    cell = json.loads(get(url + "/api/cells/s1")[2])
    assert cell["fleet"]["alarms"] == s1["alarms"] and "SHORT_LIKELY" in cell["alarms"]


def test_series_is_decimated_on_the_server_and_keeps_the_extremes(served):
    _, url = served
    status, _, body = get(url + "/api/cells/big/series?points=2000&fields=voltage_v,current_a")
    s = json.loads(body)
    assert status == 200 and s["decimated"] is True and s["samples"] == 100000
    assert len(s["t_s"]) == len(s["voltage_v"]) <= 2000 and len(s["t_s"]) >= 1900
    assert max(s["voltage_v"]) == 9.5  # the one-sample spike
    assert min(s["voltage_v"]) == pytest.approx(2.99, abs=0.01)
    assert s["t_s"][0] == 1.0 and s["t_s"][-1] == 100000.0 and s["t_s"] == sorted(s["t_s"])
    assert set(s) >= {"current_a"} and "temperature_c" not in s
    # a window holding fewer samples than points comes raw
    s = json.loads(get(url + "/api/cells/big/series?from=61800&to=61810&points=100")[2])
    assert s["decimated"] is False and s["samples"] == 11 and s["t_s"] == [float(t) for t in range(61800, 61811)]
    assert s["voltage_v"][4] == 9.5
    for q, why in (("points=3", "points"), ("fields=volts", "unknown field"), ("from=5&to=1", "before"), ("from=x", "number")):
        status, _, body = get(url + "/api/cells/big/series?" + q)
        assert status == 400 and why in json.loads(body)["error"], q


def test_pages_and_assets_are_served_from_the_package(served):
    _, url = served
    for path, ctype, needle in (("/", "text/html", b'id="fleet-page"'), ("/cells/s1", "text/html", b'id="cell-page"'),
                                ("/static/vendor/uPlot.iife.min.js", "text/javascript", b"uPlot"), ("/static/style.css", "text/css", b"prefers-color-scheme")):
        status, got, body = get(url + path)
        assert status == 200 and got.startswith(ctype) and needle in body, path
    for path in ("/static/../store.py", "/static/nope.js", "/cells/", "/api/nope"):
        status, ctype, body = get(url + path)
        assert status == 404 and ctype == "application/json", path
    assert get(url + "/api/cells/nope/series")[0] == 404


def _events(resp, until_mark=True, limit=100000):
    """(events [(name, data, id)], retry) read from an SSE response up to the first mark after data."""
    events, retry, name, data, eid = [], None, None, None, None
    while len(events) < limit:
        line = resp.readline().decode()
        if line == "":
            break
        line = line.rstrip("\n")
        if line.startswith("retry: "):
            retry = int(line[7:])
        elif line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data = json.loads(line[6:])
        elif line.startswith("id: "):
            eid = line[4:]
        elif line.startswith(":"):
            events.append(("comment", line, None))
            if not until_mark:
                break
        elif line == "" and name is not None:
            events.append((name, data, eid))
            if name == "mark" and until_mark:
                break
            name, data, eid = None, None, None
    return events, retry


def _open(url, path, headers=None):
    host, port = url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Content-Type") == "text/event-stream"
    return conn, resp


def test_live_stream_resumes_after_last_event_id_and_keeps_alive(served, monkeypatch):
    db, url = served
    # from the start: the backlog (events and samples of one cell) at full speed, then a mark with the cursor
    conn, resp = _open(url, "/api/live?cell=off&since=0.0.0.0")
    events, retry = _events(resp)
    conn.close()
    assert retry == http_mod.LIVE_RETRY_MS and events[0][0] == "hello"
    names = [e[0] for e in events]
    assert names.count("sample") == 3 and names.count("status") == 2 and names.count("estimate") >= 1 and names[-1] == "mark"
    cursor = events[-1][2]
    # new data written by a twin while nobody listens
    twin = Twin(db_path=db)
    twin.handle(topic("off", "telemetry"), encode("telemetry", "off", 100, telemetry(99.0, 3, 5)))
    twin.handle(topic("off", "status"), encode("status", "off", 101, {"state": "online", "fw": "0.1.0", "boot": 3}))
    twin.close()
    conn, resp = _open(url, "/api/live?cell=off&since=0.0.0.0", {"Last-Event-ID": cursor})
    events, _ = _events(resp)
    conn.close()
    got = [(n, d.get("t_s") if n == "sample" else d.get("msg", {}).get("state")) for n, d, _ in events if n in ("sample", "status")]
    assert got == [("sample", 99.0), ("status", "online")]  # only what came after the cursor
    # the fleet stream (no cell): each changed cell's row, no samples
    conn, resp = _open(url, "/api/live?since=" + cursor)
    events, _ = _events(resp)
    conn.close()
    rows = [d for n, d, _ in events if n == "cell"]
    assert [r["cell_id"] for r in rows] == ["off"] and rows[0]["online"] is True and "sample" not in [e[0] for e in events]
    # nothing new: a keep-alive comment
    monkeypatch.setattr(http_mod, "LIVE_KEEPALIVE_S", 0.3)
    conn, resp = _open(url, "/api/live?cell=off")
    events, _ = _events(resp, until_mark=False, limit=3)
    conn.close()
    assert [e[0] for e in events] == ["hello", "comment"] and events[1][1] == ": keep-alive"
    status, _, body = get(url + "/api/live?since=1.2")
    assert status == 400 and "cursor" in json.loads(body)["error"]


def test_metrics_are_the_fleet_rows_in_prometheus_text(served):
    from prometheus_client.parser import text_string_to_metric_families

    _, url = served
    status, ctype, body = get(url + "/metrics")
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    samples = {}
    for fam in text_string_to_metric_families(body.decode()):
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    rows = {r["cell_id"]: r for r in json.loads(get(url + "/api/fleet")[2])["cells"]}
    s1 = rows["s1"]
    assert samples[("platewise_cell_inventory_percent", (("cell", "s1"),))] == pytest.approx(s1["inventory_pct"])
    assert samples[("platewise_cell_eol_cycle_high", (("cell", "s1"),))] == s1["eol_cycle_hi"]
    assert samples[("platewise_cell_alarms_active", (("cell", "s1"), ("severity", "critical")))] == 1.0
    assert samples[("platewise_cell_alarms_active", (("cell", "s1"), ("severity", "warning")))] == 2.0
    # "off" goes back online in the stream test: the figure follows the row, whichever ran first
    assert samples[("platewise_cell_online", (("cell", "off"),))] == float(rows["off"]["online"])
    assert samples[("platewise_cell_online", (("cell", "s1"),))] == 1.0
    assert ("platewise_cell_online", (("cell", "big"),)) not in samples  # unknown, not 0
    assert samples[("platewise_cell_messages_total", (("cell", "big"),))] == 100000.0


def _request_threads():
    import threading

    return [t for t in threading.enumerate() if "process_request" in t.name]


def _settle(timeout_s=5.0):
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _request_threads():
        time.sleep(0.05)
    return len(_request_threads())


def test_a_closed_tab_frees_its_stream_thread(served):
    _, url = served
    assert _settle() == 0  # streams of earlier tests have ended
    for _ in range(5):
        conn, resp = _open(url, "/api/live?cell=big")
        assert resp.readline().startswith(b"retry: ")
        assert len(_request_threads()) >= 1  # the stream's thread
        resp.close()
        conn.close()
    assert _settle() == 0  # all five gone well before a keep-alive write would notice
