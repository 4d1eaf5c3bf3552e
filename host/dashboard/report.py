"""`platewise report CELL_ID --db FILE --out FILE.html|FILE.pdf|FILE.png`:
one cell's report to share, with the figures of its dashboard page
(capacity fade as lithium inventory with its 90 % band, loss split, CE,
resistance, stack pressure per cycle, the EOL prediction with its interval,
the alarms with their evidence).

The HTML is one self-contained file: the page's own CSS and JS, uPlot and
the data are inlined, so it opens offline. PDF and PNG are that file
printed or photographed by headless Chromium (Playwright and Debian's
chromium, as the browser tests use).

Failure behaviour: a missing database, an unknown cell or an output name
without .html/.pdf/.png raises ``ReportError`` naming it (the command
prints it and exits 2); PDF/PNG without Playwright or Chromium say how to
get them (exit 2).
"""

import json
import os
import sys
import tempfile
import time

from platewise.host.twin.http import ApiError, TwinApi
from platewise.host.twin.store import Store

from .assets import read

FORMATS = (".html", ".pdf", ".png")
_PARTS = {
    "/*UPLOT_CSS*/": "vendor/uPlot.min.css",
    "/*STYLE_CSS*/": "style.css",
    "/*UPLOT_JS*/": "vendor/uPlot.iife.min.js",
    "/*COMMON_JS*/": "common.js",
    "/*CHARTS_JS*/": "charts.js",
    "/*REPORT_JS*/": "report.js",
}


class ReportError(RuntimeError):
    pass


def gather(db_path, cell_id):
    """The report's data: the cell's fleet row, per-cycle history and alarms."""
    if not os.path.exists(db_path):
        raise ReportError("no database at %s" % db_path)
    Store(db_path).close()  # an older schema gets the live tables first
    api = TwinApi(db_path)
    try:
        latest = api.cell(cell_id)
        history = api.cell(cell_id, "history")["history"]
        alarms = api.cell(cell_id, "alarms")["alarms"]
    except ApiError as e:
        raise ReportError("%s: %s" % (db_path, e)) from None
    return {"cell_id": cell_id, "db": os.path.basename(db_path), "made_at": time.time(), "fleet": latest["fleet"], "history": history, "alarms": alarms}


def html(data):
    """The self-contained report page."""
    page = read("report.html").decode()
    for mark, name in _PARTS.items():
        page = page.replace(mark, read(name).decode())
    # inside <script>, "</" would end the element
    return page.replace("/*DATA*/", json.dumps(data).replace("</", "<\\/"))


def write(db_path, cell_id, out, chromium="/usr/bin/chromium"):
    """Write the report to ``out`` (its ending picks the format); return the path."""
    ext = os.path.splitext(out)[1].lower()
    if ext not in FORMATS:
        raise ReportError("--out %s: the name must end in %s" % (out, ", ".join(FORMATS)))
    page = html(gather(db_path, cell_id))
    if ext == ".html":
        with open(out, "w", encoding="utf-8") as f:
            f.write(page)
        return out
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise ReportError("%s needs Playwright: pip install -e '.[dev]' (or write .html)" % ext) from None
    if not os.access(chromium, os.X_OK):
        raise ReportError("%s needs Chromium at %s: apt-get install chromium (or write .html)" % (ext, chromium))
    with tempfile.TemporaryDirectory(prefix="platewise-report-") as tmp:
        src = os.path.join(tmp, "report.html")
        with open(src, "w", encoding="utf-8") as f:
            f.write(page)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            tab = browser.new_page(viewport={"width": 1200, "height": 900}, color_scheme="light")
            tab.goto("file://" + src)
            tab.wait_for_selector("body[data-ready='1']", timeout=30000)
            if ext == ".png":
                tab.screenshot(path=out, full_page=True)
            else:
                tab.pdf(path=out, format="A4", print_background=True)
            browser.close()
    return out


def main(args):
    try:
        path = write(args.db, args.cell_id, args.out, args.chromium)
    except ReportError as e:
        print("platewise report: %s" % e, file=sys.stderr)
        return 2
    print("platewise report: %s written" % path)
    return 0


def add_report_command(subparsers):
    """Register ``report`` on the ``platewise`` subparsers."""
    r = subparsers.add_parser("report", help="one cell's report (HTML, PDF or PNG) with the dashboard's figures")
    r.add_argument("cell_id")
    r.add_argument("--db", required=True, help="the twin's SQLite file")
    r.add_argument("--out", required=True, help="FILE.html (self-contained), FILE.pdf or FILE.png")
    r.add_argument("--chromium", default="/usr/bin/chromium", help="Chromium for PDF and PNG (default Debian's)")
    r.set_defaults(handler=main)
    return r
