"""`platewise report`: one cell's report as a self-contained HTML file (the
page's JS, uPlot and the data inlined), and as PNG and PDF made from it in
headless Chromium (which only finishes once the page's script has drawn)."""

import json
import re
import struct

import pytest

from platewise.host.dashboard.report import ReportError, add_report_command, gather, html, write
from platewise.host.twin.service import Twin
from dashkit import feed_short_cell, run_command


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("report") / "twin.db")
    twin = Twin(db_path=path)
    feed_short_cell(twin)
    twin.close()
    return path


def test_the_html_report_carries_its_figures_and_needs_no_server(db, tmp_path):
    data = gather(db, "s1")
    assert len(data["history"]) == 10 and [h["cycle"] for h in data["history"]] == list(range(1, 11))
    codes = {a["code"] for a in data["alarms"] if a["action"] == "raise"}
    assert {"SHORT_SUSPECTED", "SHORT_LIKELY"} <= codes and all(a["evidence"] for a in data["alarms"])
    page = html(data)
    assert not re.search(r'(src|href)="/', page)  # nothing fetched from a server
    assert "uPlot" in page and "Charts.cycleCharts" in page
    embedded = json.loads(re.search(r"window\.REPORT = (.*);</script>", page).group(1))
    assert embedded["history"] == json.loads(json.dumps(data["history"])) and embedded["fleet"]["cell_id"] == "s1"
    out = tmp_path / "s1.html"
    assert run_command(add_report_command, ["report", "s1", "--db", db, "--out", str(out)]) == 0
    assert out.read_text().startswith("<!doctype html>")


def test_png_and_pdf_are_drawn_by_chromium(db, tmp_path):
    png = write(db, "s1", str(tmp_path / "s1.png"))
    head = open(png, "rb").read(24)
    width, height = struct.unpack(">II", head[16:24])
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and width == 1200 and height > 900  # the whole page, charts included
    pdf = write(db, "s1", str(tmp_path / "s1.pdf"))
    body = open(pdf, "rb").read()
    assert body[:5] == b"%PDF-" and body.count(b"/Type /Page") >= 2 and len(body) > 20000


def test_bad_requests_name_the_problem(db, tmp_path, capsys):
    with pytest.raises(ReportError, match="must end in .html, .pdf, .png"):
        write(db, "s1", str(tmp_path / "s1.txt"))
    with pytest.raises(ReportError, match="unknown cell nope"):
        gather(db, "nope")
    assert run_command(add_report_command, ["report", "s1", "--db", str(tmp_path / "none.db"), "--out", str(tmp_path / "x.html")]) == 2
    assert "no database at" in capsys.readouterr().err
