"""The dashboard in a real headless Chromium (Debian's, driven by Playwright)
against a live twin fed through a real Mosquitto: 1,000 cells render and
sort, a chart gains a point when telemetry arrives, the offline badge
follows a board's last will, an alarm reaches the fleet page within 2 s of
the twin storing it, the decimated chart still draws its spike, and a
chart's CSV is what it shows; bound off loopback, the pages work once a
sign-in link has set the cookie; a command from the page is refused by a
read-only dashboard and, with a keyring, confirmed, signed, judged by the
real firmware and logged with its operator. No page may log a console error.

Chromium is required: if it is missing the test fails (it does not skip)
and says how to install it.
"""

import json
import os
import time
import urllib.request

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
import pytest
from playwright.sync_api import expect, sync_playwright

from platewise.hil import twin_truth
from platewise.host.broker import MosquittoBroker
from cmdboard import commanded_board

from platewise.host.dashboard.commands import CommandDesk
from platewise.host.dashboard.fill import fill_fleet, telemetry
from platewise.host.dashboard.server import Dashboard
from platewise.host.deploy import keyring as kr
from platewise.host.twin import access
from platewise.host.twin.mqtt import Publisher, TwinSubscriber
from platewise.host.twin.service import Twin
from platewise.host.twin.store import Store
from platewise.shared.telemetry import encode, topic

CHROMIUM = "/usr/bin/chromium"
FLEET_CELLS = 1000
BIG_SAMPLES = 30000  # decimated all the same (the API test has 100k)
SPIKE_V = 9.5


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail("chromium not found at %s: install it with `apt-get install chromium` (tests/run.sh does)" % CHROMIUM)
    db = str(tmp_path_factory.mktemp("dash") / "twin.db")
    s = Store(db, batch_rows=20000)
    for k in range(BIG_SAMPLES):
        m = telemetry(float(k + 1), 1, k, SPIKE_V if k == 17777 else None)
        s.insert_message("big", "telemetry", "board", k + 1, m["t_s"], False, json.dumps(m), time.time())
    s.close()
    broker = MosquittoBroker().start()
    twin = Twin(db_path=db, max_cells=FLEET_CELLS + 20)
    fill_fleet(twin, FLEET_CELLS, samples_per_cell=2, cycles=3)
    sub = TwinSubscriber(twin, broker.host, broker.port, client_id="dash-test-twin")
    sub.start()
    dash = Dashboard(db, twin=twin).start()
    pub = Publisher(broker.host, broker.port, client_id="dash-test-pub")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield {"url": dash.url.rstrip("/"), "twin": twin, "pub": pub, "broker": broker, "browser": browser, "db": db}
        browser.close()
    pub.close()
    dash.stop()
    sub.stop()
    twin.close()
    broker.stop()


@pytest.fixture
def page(system):
    pg = system["browser"].new_page(viewport={"width": 1400, "height": 900})
    errors = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    pg.close()
    assert errors == []


def _open(page, url):
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=15000)


def _publish(system, cell_id, kind, seq, fields):
    system["pub"].publish(topic(cell_id, kind), encode(kind, cell_id, seq, dict(fields))).wait_for_publish(5)


def _fleet_api(system):
    with urllib.request.urlopen(system["url"] + "/api/fleet", timeout=10) as r:
        return {c["cell_id"]: c for c in json.loads(r.read())["cells"]}


def test_a_thousand_cells_render_virtualised_and_sort(system, page):
    _open(page, system["url"] + "/")
    body = page.locator("#fleet-body")
    assert int(body.get_attribute("data-total")) >= FLEET_CELLS
    rendered = page.locator("#fleet-body .grid-row").count()
    assert 20 <= rendered <= 80  # the rows in view and a margin, not 1,000
    assert page.locator("#fleet-body .grid-row").first.get_attribute("data-cell") == "big"
    fleet = _fleet_api(system)
    eols = sorted((c["eol_cycle_pred"], c["cell_id"]) for c in fleet.values() if c["eol_cycle_pred"] is not None)
    page.click('#fleet-head [data-key="eol_cycle_pred"]')
    assert page.locator("#fleet-body .grid-row").first.get_attribute("data-cell") == eols[0][1]
    page.click('#fleet-head [data-key="eol_cycle_pred"]')
    latest = min(c for e, c in eols if e == eols[-1][0])  # ties go by cell id
    assert page.locator("#fleet-body .grid-row").first.get_attribute("data-cell") == latest
    # scrolled to the end, the last rows exist and the first do not
    body.evaluate("b => { b.scrollTop = b.scrollHeight; b.dispatchEvent(new Event('scroll')); }")
    page.wait_for_timeout(50)
    cells = page.locator("#fleet-body .grid-row").evaluate_all("rs => rs.map(r => r.dataset.cell)")
    # descending, cells without a prediction last, ties by id: the same order as the API's figures give
    order = sorted(fleet.values(), key=lambda c: (c["eol_cycle_pred"] is None, -(c["eol_cycle_pred"] or 0), c["cell_id"]))
    assert len(cells) < 80 and cells == [c["cell_id"] for c in order[-len(cells):]]
    page.fill("#search", "cell-0420")
    assert body.get_attribute("data-shown") == "1"
    assert "cell-0420" in page.locator("#fleet-body .grid-row").first.inner_text()
    page.click("#fleet-body .grid-row")
    page.wait_for_selector("body[data-ready='1']", timeout=15000)
    assert page.url.endswith("/cells/cell-0420") and page.locator("#cell-id").inner_text() == "cell-0420"


def test_the_decimated_chart_draws_the_spike_and_exports_what_it_shows(system, page):
    _open(page, system["url"] + "/cells/big")
    b = page.evaluate("Object.assign({}, document.body.dataset)")
    assert b["decimated"] == "1" and int(b["seriesSamples"]) == BIG_SAMPLES
    n = page.evaluate("window.__charts.voltage.data[0].length")
    assert 400 <= n <= 10000
    assert page.evaluate("Math.max(...window.__charts.voltage.data[1])") == SPIKE_V
    # zoom on time: the window is fetched again, raw once it is small enough
    page.evaluate("window.__charts.voltage.setScale('x', {min: 17700, max: 17900})")
    page.wait_for_function("document.body.dataset.decimated === '0'", timeout=5000)
    assert page.evaluate("window.__charts.current.scales.x.min") == 17700  # the charts move together
    with page.expect_download() as dl:
        page.click('#chart-voltage button[data-csv]')
    lines = open(dl.value.path()).read().splitlines()
    assert lines[0] == "board_t_s,voltage_V"
    rows = [tuple(map(float, ln.split(","))) for ln in lines[1:]]
    assert [r[0] for r in rows] == [float(t) for t in range(17700, 17901)]
    assert dict(rows)[17778.0] == SPIKE_V


def test_a_chart_gains_a_point_when_telemetry_arrives(system, page):
    _publish(system, "live-1", "status", 1, {"state": "online", "fw": "0.1.0", "boot": 1})
    for k in range(5):
        _publish(system, "live-1", "telemetry", k + 2, telemetry(float(k + 1), 1, k))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _fleet_api(system).get("live-1", {}).get("messages") != 6:
        time.sleep(0.05)  # committed, so the page's reads see it
    _open(page, system["url"] + "/cells/live-1")
    page.wait_for_function("window.__charts.voltage.data[0].length === 5", timeout=5000)
    page.wait_for_selector("#live-state:text('live')", timeout=5000)
    _publish(system, "live-1", "telemetry", 7, telemetry(6.0, 1, 5, spike_v=4.4))
    page.wait_for_function("window.__charts.voltage.data[0].length === 6", timeout=5000)
    assert page.evaluate("[window.__charts.voltage.data[0][5], window.__charts.voltage.data[1][5]]") == [6.0, 4.4]
    assert page.locator("#cell-status").inner_text() == "online"


def test_the_offline_badge_follows_the_last_will(system, page):
    c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="will-1", protocol=mqtt.MQTTv311)
    c.will_set(topic("will-1", "status"), encode("status", "will-1", 2, {"state": "offline"}), qos=1, retain=True)
    c.connect(system["broker"].host, system["broker"].port)
    c.loop_start()
    c.publish(topic("will-1", "status"), encode("status", "will-1", 1, {"state": "online", "fw": "0.1.0", "boot": 1}), qos=1, retain=True).wait_for_publish(5)
    _open(page, system["url"] + "/")
    page.fill("#search", "will-1")
    badge = page.locator('#fleet-body .grid-row[data-cell="will-1"] .badge')
    badge.filter(has_text="online").wait_for(timeout=5000)
    c.loop_stop()
    c.socket().close()  # the board vanishes without a DISCONNECT: the broker sends its will
    badge.filter(has_text="offline").wait_for(timeout=10000)
    assert _fleet_api(system)["will-1"]["online"] is False


def test_an_alarm_reaches_the_fleet_page_within_2_s_of_the_twin(system, page):
    run = twin_truth.life("sulfide-ssb", seed=0, cycles=9, inject=[(7, "internal_short", {"resistance_ohm": 5000.0})])  # published, not fed
    _open(page, system["url"] + "/")
    page.fill("#search", "short-1")
    _publish(system, "short-1", "status", 1, {"state": "online", "fw": "0.1.0", "boot": 1})
    page.locator('#fleet-body .grid-row[data-cell="short-1"]').wait_for(timeout=5000)
    twin = system["twin"]
    for m in run["messages"]:
        _publish(system, "short-1", "cycle", m["cycle"] + 1, m)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not [a for a in twin.store.alarms("short-1") if a["code"] == "SHORT_SUSPECTED"]:
        time.sleep(0.01)
    stored = time.monotonic()
    assert stored < deadline, twin.store.alarms("short-1")
    page.locator('#fleet-body .grid-row[data-cell="short-1"] .alarms .badge', has_text="SHORT_SUSPECTED").wait_for(timeout=5000)
    assert time.monotonic() - stored <= 2.0
    row = page.locator('#fleet-body .grid-row[data-cell="short-1"] .alarms .badge', has_text="SHORT_SUSPECTED")
    assert "sev-warning" in row.get_attribute("class")


def test_off_loopback_the_pages_work_after_a_sign_in_link(system, page, tmp_path):
    # Bound to every address (not loopback) the gate needs a token; a browser
    # cannot send a header with a page load or an EventSource, so the link
    # /?token=... sets an HttpOnly cookie and every later request carries it.
    tokens = tmp_path / "tokens.json"
    alice = access.add_token(str(tokens), "alice")
    dash = Dashboard(system["db"], host="0.0.0.0", token_file=str(tokens)).start()
    base = "http://127.0.0.1:%d" % dash.server.server_port
    try:
        other = system["browser"].new_page()  # console errors of the refusals are expected here
        assert other.goto(base + "/").status == 401
        assert other.goto(base + "/?token=not-" + alice).status == 401
        assert other.context.cookies() == []
        other.close()
        _open(page, base + "/?token=" + alice)
        assert page.url == base + "/"  # the token left the address bar
        (cookie,) = [c for c in page.context.cookies() if c["name"] == access.COOKIE]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["value"] == alice
        assert page.evaluate("document.cookie") == ""  # no script can read it
        assert int(page.locator("#fleet-body").get_attribute("data-total")) >= FLEET_CELLS
        _open(page, base + "/cells/big")  # the series and the live stream pass the gate too
        assert page.locator("#cell-id").inner_text() == "big"
        page.goto("about:blank")  # the page's stream closes before its server does
    finally:
        dash.stop()


def test_a_command_from_the_page_is_refused_read_only_and_sent_with_a_key(system, page, tmp_path):
    cell = "page-cmd"
    key = bytes(range(90, 122))
    broker, twin = system["broker"], system["twin"]
    with commanded_board(tmp_path, broker, cell, key) as (vb, _secrets):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not twin.store.count_messages(cell):
            time.sleep(0.1)
        twin.flush()

        # Read-only (the module's dashboard has no keyring): the buttons are
        # off and say why, and a post from the page is refused.
        _open(page, system["url"] + "/cells/" + cell)
        page.wait_for_selector("body[data-commands='off']", timeout=5000)
        assert page.locator("#cmd-state").inner_text().startswith("read-only: this dashboard was started without a signing key")
        assert page.locator('button[data-cmd="clear_fault"]').is_disabled()
        other = system["browser"].new_page()  # the browser logs the 403 as a console error: expected here
        other.goto(system["url"] + "/cells/" + cell)
        refused = other.evaluate("""async () => { const r = await fetch(location.pathname.replace('/cells/', '/api/cells/') + '/commands',
            {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({command: 'stop', args: {}})});
            return [r.status, (await r.json()).error]; }""")
        other.close()
        assert refused[0] == 403 and refused[1].startswith("read-only")

        # With a keyring, off loopback: the operator is the token's.
        tokens = tmp_path / "tokens.json"
        bob = access.add_token(str(tokens), "bob")
        ring = kr.empty()
        ring["cells"][cell] = {"cmd_key_hex": key.hex()}
        kr.save(tmp_path / "keyring.json", ring)
        desk = CommandDesk(str(tmp_path / "keyring.json"), broker.host, broker.port, system["db"], timeout_s=20.0)
        dash = Dashboard(system["db"], host="0.0.0.0", token_file=str(tokens), desk=desk).start()
        try:
            base = "http://127.0.0.1:%d" % dash.server.server_port
            _open(page, base + "/cells/%s?token=%s" % (cell, bob))
            page.wait_for_selector("body[data-commands='on']", timeout=5000)
            assert "operator bob" in page.locator("#cmd-state").inner_text()

            # Cancelled in the confirmation: nothing sent, nothing logged.
            page.click('button[data-cmd="stop"]')
            assert "Send stop to page-cmd, signed as operator bob?" in page.locator("#cmd-what").inner_text()
            page.click("#cmd-cancel")
            expect(page.locator("#cmd-result")).to_have_text("stop: not sent", timeout=5000)
            assert page.locator("#cmd-log tbody tr").count() == 0

            # Confirmed: signed here, judged by the board, its answer shown and logged.
            page.fill('input[name="charge_current_a"]', "5")
            page.click('button[data-cmd="set_limits"]')
            assert "set_limits (charge_current_a = 5)" in page.locator("#cmd-what").inner_text()
            page.click("#cmd-send")
            page.wait_for_selector("body[data-cmd-busy='0']", timeout=30000)
            result = page.locator("#cmd-result").inner_text()
            assert result.startswith("set_limits: ok \u2014 cmd_ok set_limits: set_limits accepted, ctr"), result
            assert "clamped charge_current_a 5.0 ->" in result
            row = page.locator("#cmd-log tbody tr").first
            cells = row.locator("td").all_inner_texts()
            assert cells[1:3] == ["bob", "set_limits (charge_current_a = 5)"] and cells[4] == "ok"
            page.goto("about:blank")  # the page's stream closes before its server does
        finally:
            dash.stop()
