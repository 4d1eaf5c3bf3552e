"""host/twin/http.py: the dashboard's REST + SSE API over a twin database
filled by a real run (emulated cell with an injected soft short)."""

import json
import urllib.error
import urllib.request

import pytest

from platewise.hil import twin_truth
from platewise.host.twin.http import serve_in_thread
from platewise.host.twin.service import Twin
from platewise.shared.telemetry import encode, topic


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    db = str(tmp_path_factory.mktemp("http") / "twin.db")
    run = twin_truth.life("sulfide-ssb", seed=0, cycles=10, inject=[(7, "internal_short", {"resistance_ohm": 5000.0})])
    twin = Twin(db_path=db)
    for m in run["messages"]:
        twin.handle(topic("s1", "cycle"), encode("cycle", "s1", m["cycle"], dict(m)))
    twin.close()
    server, thread = serve_in_thread(db)
    yield "http://127.0.0.1:%d" % server.server_port
    server.shutdown()
    server.server_close()


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def test_cells_and_latest_state(api):
    status, ctype, body = get(api + "/api/cells")
    assert status == 200 and ctype == "application/json"
    (cell,) = json.loads(body)["cells"]
    assert cell["cell_id"] == "s1" and cell["last_cycle"]["cycle"] == 10
    assert cell["estimate"]["inventory_ah"] > 0 and "SHORT_SUSPECTED" in cell["alarms"]
    status, _, body = get(api + "/api/cells/s1")
    assert status == 200 and json.loads(body)["alarms"]["SHORT_SUSPECTED"]["since_cycle"] == 7


def test_history_predictions_alarms(api):
    hist = json.loads(get(api + "/api/cells/s1/history")[2])["history"]
    assert [h["cycle"] for h in hist] == list(range(1, 11)) and hist[4]["inventory_std_ah"] > 0
    assert [h["cycle"] for h in json.loads(get(api + "/api/cells/s1/history?since=8")[2])["history"]] == [9, 10]
    preds = json.loads(get(api + "/api/cells/s1/predictions")[2])["predictions"]
    p6 = preds[5]  # the last cycle before the short: a late bound may be beyond the horizon (null)
    assert p6["eol_cycle_lo"] <= p6["eol_cycle_pred"] and (p6["eol_cycle_hi"] is None or p6["eol_cycle_pred"] <= p6["eol_cycle_hi"])
    alarms = json.loads(get(api + "/api/cells/s1/alarms")[2])
    raised = [a for a in alarms["alarms"] if a["code"] == "SHORT_SUSPECTED"]
    assert raised[0]["cycle"] == 7 and raised[0]["evidence"]["loss_z"] > 6


def test_errors_are_json_with_a_reason(api):
    assert get(api + "/api/cells/nope")[0] == 404
    status, _, body = get(api + "/api/what")
    assert status == 404 and "no such path" in json.loads(body)["error"]
    status, _, body = get(api + "/api/cells/s1/history?since=x")
    assert status == 400 and "since must be an integer" in json.loads(body)["error"]


def test_sse_stream_sends_estimates_in_order(api):
    with urllib.request.urlopen(api + "/api/stream?since_id=0&max_events=3", timeout=5) as r:
        assert r.headers.get("Content-Type") == "text/event-stream"
        text = r.read().decode()
    events = [e for e in text.split("\n\n") if e.strip()]
    assert len(events) == 3
    datas = [json.loads(next(l for l in e.splitlines() if l.startswith("data: "))[6:]) for e in events]
    assert [d["cycle"] for d in datas] == [1, 2, 3] and all("event: estimate" in e for e in events)
