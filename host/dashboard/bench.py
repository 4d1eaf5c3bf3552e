"""`platewise bench dashboard`: the dashboard's speed, measured in a real
headless Chromium (Debian's, driven by Playwright) over a twin database of
``--cells`` cells and one cell of ``--samples`` samples (fill.py, through
the real twin), served by the dashboard's own server.

Figures (milliseconds):
- ``fleet_render_ms``: navigation to the fleet page until every row is
  sorted and the visible ones drawn (its API answer included);
- ``fleet_api_ms``: that page's /api/fleet answer as the browser timed it;
- ``status_change_ms``: a cell's offline status taken by the twin until
  its badge reads offline on the open fleet page;
- ``series_ms``: the cell page's series answer (server-side decimation of
  every stored sample) as the browser timed it; ``series_points``;
- ``chart_draw_ms``: from that answer to the frame after the charts drew;
- ``sample_latency_ms``: a telemetry sample taken by the twin until the
  open cell page's chart has it (the twin's write batch included).
Each latency is the median of ``--repeat`` runs. ``--screenshots DIR``
also writes fleet.png and cell.png (the README's pictures).

Failure behaviour: without Playwright (the dev extra) or Chromium at
``--chromium`` the command prints how to get them and exits 2.
"""

import json
import os
import statistics
import sys
import tempfile
import time

from platewise.host.twin.service import Twin
from platewise.shared.telemetry import encode, topic

from .fill import fill_cell, fill_fleet, telemetry
from .server import Dashboard

BIG = "cell-big"


def _ready(page, url):
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=60000)


def measure(cells=1000, samples=100000, repeat=5, chromium="/usr/bin/chromium", screenshots=None):
    from playwright.sync_api import sync_playwright

    out = {"cells": cells, "samples": samples}
    with tempfile.TemporaryDirectory(prefix="platewise-bench-dash-") as tmp:
        db = os.path.join(tmp, "twin.db")
        twin = Twin(db_path=db, max_cells=cells + 2)
        t0 = time.perf_counter()
        fill_fleet(twin, cells, samples_per_cell=2, cycles=3)
        seq = fill_cell(twin, BIG, samples=samples, cycles=50, spike_at=samples // 3)
        twin.flush()
        out["fill_s"] = round(time.perf_counter() - t0, 2)
        dash = Dashboard(db, twin=twin).start()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                renders, apis = [], []
                for _ in range(repeat):
                    t = time.perf_counter()
                    _ready(page, dash.url)
                    renders.append(1e3 * (time.perf_counter() - t))
                    apis.append(float(page.locator("#fleet-body").get_attribute("data-render-ms")))
                out["fleet_render_ms"] = round(statistics.median(renders), 1)
                out["fleet_api_ms"] = round(statistics.median(apis), 1)
                if screenshots:
                    page.screenshot(path=os.path.join(screenshots, "fleet.png"))
                page.wait_for_selector("#live-state:text('live')")
                lat = []
                for k in range(repeat):
                    cell_id = "cell-%04d" % (k + 1)
                    badge = page.locator('#fleet-body .grid-row[data-cell="%s"] .badge' % cell_id)
                    t = time.perf_counter()
                    twin.handle(topic(cell_id, "status"), encode("status", cell_id, 1000 + k, {"state": "offline"}))
                    badge.filter(has_text="offline").wait_for(timeout=10000)
                    lat.append(1e3 * (time.perf_counter() - t))
                out["status_change_ms"] = round(statistics.median(lat), 1)
                series, draws, points = [], [], 0
                for _ in range(repeat):
                    _ready(page, dash.url + "cells/" + BIG)
                    b = page.evaluate("Object.assign({}, document.body.dataset)")
                    series.append(float(b["seriesMs"]))
                    draws.append(float(b["chartMs"]))
                    points = int(b["seriesPoints"])
                out["series_ms"] = round(statistics.median(series), 1)
                out["chart_draw_ms"] = round(statistics.median(draws), 1)
                out["series_points"] = points
                page.wait_for_selector("#live-state:text('live')")
                lat = []
                for k in range(repeat):
                    seq += 1
                    t_s = float(samples + 10 + k)
                    t = time.perf_counter()
                    twin.handle(topic(BIG, "telemetry"), encode("telemetry", BIG, seq, telemetry(t_s, 51, samples + k)))
                    page.wait_for_function("+document.body.dataset.lastSampleT === %r" % t_s, timeout=10000)
                    lat.append(1e3 * (time.perf_counter() - t))
                out["sample_latency_ms"] = round(statistics.median(lat), 1)
                if screenshots:
                    page.screenshot(path=os.path.join(screenshots, "cell.png"), full_page=True)
                browser.close()
        finally:
            dash.stop()
            twin.close()
    return out


def cmd_bench_dashboard(args):
    try:
        import playwright  # noqa: F401
    except ImportError:
        print("bench dashboard needs Playwright: pip install -e '.[dev]'", file=sys.stderr)
        return 2
    if not os.access(args.chromium, os.X_OK):
        print("bench dashboard needs Chromium at %s: apt-get install chromium" % args.chromium, file=sys.stderr)
        return 2
    if args.screenshots:
        os.makedirs(args.screenshots, exist_ok=True)
    r = measure(args.cells, args.samples, args.repeat, args.chromium, args.screenshots)
    if args.json:
        print(json.dumps(r))
    else:
        for k, v in r.items():
            print("%-18s %s" % (k, v))
    return 0


def add_bench_dashboard(bench_subparsers):
    """Register ``dashboard`` under ``platewise bench``."""
    p = bench_subparsers.add_parser("dashboard", help="fleet and cell pages in headless Chromium: render, series, latency")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("--cells", type=int, default=1000, help="cells on the fleet page (default 1000)")
    p.add_argument("--samples", type=int, default=100000, help="samples of the charted cell (default 100000)")
    p.add_argument("--repeat", type=int, default=5, help="runs per figure (the median is printed)")
    p.add_argument("--chromium", default="/usr/bin/chromium", help="the Chromium binary (default Debian's)")
    p.add_argument("--screenshots", default=None, help="also write fleet.png and cell.png into this folder")
    p.set_defaults(handler=cmd_bench_dashboard)
    return p
