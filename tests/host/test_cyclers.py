"""host/cyclers: native cycler files read into a Recording, checked against
the files' own capacity counters, plus the folder logic and the errors."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from platewise import cli
from platewise.host import cyclers
from platewise.host.twin.recording import ReplayError

DATA = Path(__file__).resolve().parents[1] / "data" / "cyclers"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "cycler-samples"


def discharge_ah_by_cycle(rec):
    """Trapezoidal integral of the discharge current within each cycle, Ah."""
    t, i, c = rec.cols["time_s"], rec.cols["current_a"], rec.cols["cycle_index"]
    out = {}
    for k in range(1, len(t)):
        if c[k] == c[k - 1]:
            out[c[k]] = out.get(c[k], 0.0) + (t[k] - t[k - 1]) * (min(i[k], 0.0) + min(i[k - 1], 0.0)) / -2.0 / 3600.0
    return out


# file, format, complete cycles (charge then discharge, both whole), voltage range (V),
# |current| range (A), first complete cycle's discharge Ah from the file's counter
SAMPLES = [
    ("CS2_35_9_21_10.xlsx", "arbin-xlsx", range(1, 51), (2.69, 4.21), (1.0, 1.11), 1.0536),
    ("20160805_test001_45_cc_01.res", "arbin-res", range(2, 18), (0.049, 3.2), (2.9e-4, 3.1e-4), 0.0015675),
    ("maccor_three.txt", "maccor-txt", range(1, 15), (1.29, 3.81), (0.85, 0.9), 0.84696),
    ("xTESLADIAG_000019_CH70_first2400lines.070", "maccor-txt", range(1, 6), (2.99, 4.11), (9.3, 9.5), 3.0295),
    ("nw4-120-6-1-36.ndax", "neware-ndax", range(2, 6), (2.74, 4.21), (0.022, 0.023), 0.037992),
    ("pec_every5th.csv", "pec-csv", range(1, 2), (2.49, 3.81), (1.6, 1.7), 44.352),
    # the .mpr's columns as EC-Lab text (derived; the .mpr itself needs the optional galvani)
    ("250116_kigr_gen6_01_02_GCPL_CD8_as_mpt.mpt", "biologic-mpt", range(1, 3), (0.28, 4.91), (4.8e-3, 5.0e-3), 1.8496e-3),
]


@pytest.mark.parametrize("name, fmt, complete, v_range, i_range, first_ah", SAMPLES, ids=[s[0] for s in SAMPLES])
def test_sample_reads_with_its_own_capacity_within_1pct(name, fmt, complete, v_range, i_range, first_ah):
    rec = cyclers.read(DATA / name)
    assert rec.meta["format"] == fmt and rec.meta["files"] == [str(DATA / name)]
    assert rec.meta.get("start")  # the folder reader orders sessions by it
    v, i = rec.cols["voltage_v"], rec.cols["current_a"]
    assert v_range[0] <= min(v) and max(v) <= v_range[1]
    assert i_range[0] <= max(abs(x) for x in i) <= i_range[1]  # A, not mA
    # + charging: the voltage rises while current flows in, falls while it flows out
    rise = [v[k] - v[k - 1] for k in range(1, len(v)) if i[k] > 0 and i[k - 1] > 0]
    fall = [v[k] - v[k - 1] for k in range(1, len(v)) if i[k] < 0 and i[k - 1] < 0]
    assert sum(rise) > 0 and sum(fall) < 0
    assert rec.cycle_ah is not None and set(complete) <= set(rec.cycle_ah)
    assert rec.cycle_ah[complete[0]][1] == pytest.approx(first_ah, rel=1e-4)
    integrated = discharge_ah_by_cycle(rec)
    worst = max(abs(integrated[c] / rec.cycle_ah[c][1] - 1.0) for c in complete)
    assert worst < 0.01, "%s: worst cycle off by %.2f %%" % (name, 100 * worst)
    for c in complete:
        assert rec.cycle_ah[c][0] > 0.5 * rec.cycle_ah[c][1]  # charge counted too


def test_calce_workbook_matches_the_published_cycle_capacities():
    rec = cyclers.read(DATA / "CS2_35_9_21_10.xlsx")
    assert sorted(rec.cycle_ah) == list(range(1, 51))
    # README: 1.054 -> 1.000 Ah; each workbook's first charge tops up a partly charged cell
    assert rec.cycle_ah[1][1] == pytest.approx(1.054, abs=5e-4) and rec.cycle_ah[50][1] == pytest.approx(1.000, abs=5e-4)
    assert "temperature_c" not in rec.cols  # none logged: none invented
    assert rec.meta["start"].startswith("2010-09-14T13:57")


def test_maccor_without_a_cycle_counter_is_split_on_state():
    rec = cyclers.read(DATA / "xTESLADIAG_000019_CH70_first2400lines.070")
    full = [c for c, (qc, qd) in rec.cycle_ah.items() if qd > 2.5]
    assert len(full) >= 5  # Cyc# in this file stays 1 over all of them
    assert all(2.5 < rec.cycle_ah[c][1] < 3.3 for c in full)


def test_maccor_second_layout_units():
    rec = cyclers.read(DATA / "maccor_three.txt")
    assert max(rec.cols["voltage_v"]) == pytest.approx(3.80, abs=0.01)  # the Volts column holds mV
    assert rec.cols["time_s"][1] == 60.0  # "0d 00:01:00.00"
    assert rec.cycle_ah[14][1] == pytest.approx(0.8223, abs=1e-4)  # README: 0.851 -> 0.822 Ah


def test_neware_nda_and_novonix_read():
    nda = cyclers.read(DATA / "test.nda")
    assert nda.meta["format"] == "neware-nda" and max(abs(x) for x in nda.cols["current_a"]) == pytest.approx(5.05e-5, rel=0.01)
    nov = cyclers.read(DATA / "test_Nova_Form-CH01-01_short.csv")
    assert nov.meta["format"] == "novonix-csv" and nov.meta["nominal_ah"] == 0.24
    assert "temperature_c" in nov.cols and 20 < nov.cols["temperature_c"][0] < 45
    assert nov.cols["time_s"][1] == pytest.approx(0.0003111 * 3600)  # hours -> s
    # a first formation charge only: its counter and the integral agree
    qc = nov.cycle_ah[1][0]
    t, i = nov.cols["time_s"], nov.cols["current_a"]
    integ = sum((t[k] - t[k - 1]) * (max(i[k], 0) + max(i[k - 1], 0)) / 2 for k in range(1, len(t))) / 3600
    assert qc == pytest.approx(0.029468, rel=1e-4) and integ == pytest.approx(qc, rel=0.01)


def _split_maccor(tmp_path, at_cycle):
    lines = (DATA / "maccor_three.txt").read_text(encoding="latin-1").splitlines(keepends=True)
    h = next(k for k, line in enumerate(lines) if line.startswith("Rec#"))
    body = lines[h + 1 :]
    cut = next(k for k, line in enumerate(body) if int(line.split("\t")[1]) == at_cycle)
    folder = tmp_path / "sessions"
    folder.mkdir()
    # names sort opposite to time: the reader must order by the files' times
    (folder / "b_first.txt").write_text("".join(lines[: h + 1] + body[:cut]), encoding="latin-1")
    (folder / "a_second.txt").write_text("".join(lines[: h + 1] + body[cut:]), encoding="latin-1")
    return folder


def test_folder_of_sessions_reads_as_one_test_in_time_order(tmp_path):
    whole = cyclers.read(DATA / "maccor_three.txt")
    folder = _split_maccor(tmp_path, 7)
    rec = cyclers.read(folder)
    assert rec.meta["files"] == [str(folder / "b_first.txt"), str(folder / "a_second.txt")] and rec.meta["sessions"] == 2
    t, t_whole = rec.cols["time_s"], whole.cols["time_s"]
    assert len(t) == len(t_whole) and t[: len(t) // 3] == t_whole[: len(t) // 3]
    # the second session is placed by its wall-clock stamp (DPt Time, 1 s resolution),
    # which this cycler let drift ~7 s from its test clock over 46 h
    assert max(abs(a - b) for a, b in zip(t, t_whole)) < 10.0
    assert len(set(rec.cols["cycle_index"])) == len(set(whole.cols["cycle_index"])) == 15
    assert rec.cycle_ah == whole.cycle_ah  # Maccor counts per state: a session cut at a cycle boundary changes no cycle


def test_folder_of_the_three_calce_workbooks_is_150_cycles_with_the_gaps_kept(tmp_path):
    # The workbooks (8 MB) live in shared/data beside the checkout, as on every
    # developer's machine and in CI; they are not copied into tests/data.
    assert (SHARED / "arbin").is_dir(), f"{SHARED} not found: the cycler samples sit beside the checkout"
    folder = tmp_path / "cs2_35"
    folder.mkdir()
    for n in ("CS2_35_9_21_10.xlsx", "CS2_35_9_30_10.xlsx", "CS2_35_10_15_10.xlsx"):
        os.symlink(SHARED / "arbin" / n, folder / n)
    rec = cyclers.read(folder)
    assert [Path(f).name for f in rec.meta["files"]] == ["CS2_35_9_21_10.xlsx", "CS2_35_9_30_10.xlsx", "CS2_35_10_15_10.xlsx"]
    assert sorted(rec.cycle_ah) == list(range(1, 151)) and sorted(set(rec.cols["cycle_index"])) == list(range(1, 151))
    t = rec.cols["time_s"]
    gaps = sorted((t[k] - t[k - 1] for k in range(1, len(t))), reverse=True)
    assert gaps[1] > 3600.0  # two session gaps of hours or more, kept
    assert rec.cycle_ah[150][1] == pytest.approx(0.991, abs=5e-4)  # README: the third session ends at 0.991 Ah
    integrated = discharge_ah_by_cycle(rec)
    assert max(abs(integrated[c] / rec.cycle_ah[c][1] - 1.0) for c in range(1, 151)) < 0.01


# --- errors: one line, naming the file and why ---------------------------------


def _one_line(e, path):
    text = str(e.value)
    assert "\n" not in text and str(path) in text
    return text


def test_unknown_format_is_named(tmp_path):
    for name, content in (("x.bin", b"\x00\x01binary junk" * 50), ("notes.txt", b"just some text\n")):
        p = tmp_path / name
        p.write_bytes(content)
        with pytest.raises(ReplayError) as e:
            cyclers.read(p)
        assert "unknown format" in _one_line(e, p)


@pytest.mark.parametrize("name", ["CS2_35_9_21_10.xlsx", "nw4-120-6-1-36.ndax", "20160805_test001_45_cc_01.res"])
def test_truncated_file_is_refused_with_its_name(tmp_path, name):
    data = (DATA / name).read_bytes()
    p = tmp_path / name
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ReplayError) as e:
        cyclers.read(p)
    _one_line(e, p)


def test_missing_column_is_named(tmp_path):
    lines = (DATA / "maccor_three.txt").read_text(encoding="latin-1").splitlines(keepends=True)
    p = tmp_path / "m.txt"
    p.write_text("".join(line.replace("mAmps\t", "mAmpz\t") for line in lines), encoding="latin-1")
    with pytest.raises(ReplayError) as e:
        cyclers.read(p)
    assert "missing column(s) mAmps" in _one_line(e, p)


def test_missing_galvani_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "galvani", None)  # import galvani now fails, as when not installed
    p = DATA / "250116_kigr_gen6_01_02_GCPL_CD8.mpr"
    with pytest.raises(ReplayError) as e:
        cyclers.read(p)
    assert "pip install platewise[biologic]" in _one_line(e, p)


def test_missing_mdb_export_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    p = DATA / "20160805_test001_45_cc_01.res"
    with pytest.raises(ReplayError) as e:
        cyclers.read(p)
    assert "apt-get install mdbtools" in _one_line(e, p)


def run_with_galvani(tmp_path, code):
    """Run ``code`` where galvani imports and return what it printed, read as JSON.

    galvani (GPL-3) is never a dependency of this project, not even of its
    dev extra: it is installed into a folder of its own and ``code`` runs in
    a separate interpreter with that folder on its path, with json, cyclers
    and this module's discharge_ah_by_cycle imported."""
    site = tmp_path / "site"
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), "galvani>=0.4"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    head = (
        "import json; from platewise.host import cyclers; "
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        "from test_cyclers import discharge_ah_by_cycle\n"
    )
    r = subprocess.run([sys.executable, "-P", "-c", head + code], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYTHONPATH=str(site)))  # fmt: skip
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_biologic_mpr_reads_with_galvani(tmp_path):
    got = run_with_galvani(
        tmp_path,
        f"rec = cyclers.read({str(DATA / '250116_kigr_gen6_01_02_GCPL_CD8.mpr')!r}); "
        "d = discharge_ah_by_cycle(rec); "
        "print(json.dumps({c: [d[c], rec.cycle_ah[c][1]] for c in (1, 2)}))",
    )
    for c in ("1", "2"):
        integrated, counter = got[c]
        assert integrated == pytest.approx(counter, rel=0.01)
    assert got["1"][1] == pytest.approx(1.8496e-3, rel=1e-3)


def test_folder_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ReplayError, match="empty folder"):
        cyclers.read(empty)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy(DATA / "maccor_three.txt", mixed)
    shutil.copy(DATA / "nw4-120-6-1-36.ndax", mixed)
    with pytest.raises(ReplayError, match="different formats"):
        cyclers.read(mixed)


def test_detect_reads_content_not_extension(tmp_path):
    p = tmp_path / "renamed.dat"
    shutil.copy(DATA / "nw4-120-6-1-36.ndax", p)
    assert cyclers.detect(p) is cyclers.neware
    assert zipfile.is_zipfile(DATA / "CS2_35_9_21_10.xlsx") and cyclers.detect(DATA / "CS2_35_9_21_10.xlsx") is cyclers.arbin_xlsx


def test_cli_replays_a_native_file_and_a_folder(tmp_path, capsys):
    rc = cli.main(["twin", "replay", str(DATA / "maccor_three.txt"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["format"] == "maccor-txt" and len(out["cycles"]) == 15
    assert out["cycles"][1]["discharge_ah"] == pytest.approx(0.84696, rel=0.01)
    rc = cli.main(["twin", "replay", str(_split_maccor(tmp_path, 7)), "--json"])
    out2 = json.loads(capsys.readouterr().out)
    assert rc == 0 and len(out2["files"]) == 2 and [c["cycle"] for c in out2["cycles"]] == [c["cycle"] for c in out["cycles"]]


def _workbook_as_csv(src, dst, space_before_unit=False):
    """The CALCE workbook's sheet written as MITS Pro writes a CSV export:
    its header and rows, Date_Time as text."""
    import csv

    import openpyxl

    wb = openpyxl.load_workbook(src, read_only=True, data_only=True)
    rows = wb[[s for s in wb.sheetnames if s.startswith("Channel")][0]].iter_rows(values_only=True)
    header = [str(h) for h in next(rows)]
    if space_before_unit:
        header = [h.replace("(", " (") for h in header]
    with open(dst, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in rows:
            w.writerow([v.strftime("%m/%d/%Y %H:%M:%S") if hasattr(v, "year") else v for v in r])
    wb.close()


@pytest.mark.parametrize("space_before_unit", [False, True])
def test_arbin_csv_export_reads_as_the_workbook_does(tmp_path, space_before_unit):
    csv_path = tmp_path / "CS2_35_9_21_10.csv"
    _workbook_as_csv(DATA / "CS2_35_9_21_10.xlsx", csv_path, space_before_unit)
    assert cyclers.detect(csv_path) is cyclers.arbin_csv
    got, want = cyclers.read(csv_path), cyclers.read(DATA / "CS2_35_9_21_10.xlsx")
    assert got.meta["format"] == "arbin-csv" and got.meta["start"] == want.meta["start"]
    assert got.cycle_ah == want.cycle_ah and sorted(got.cycle_ah) == list(range(1, 51))
    for k in ("time_s", "voltage_v", "current_a", "cycle_index", "step_index"):
        assert list(got.cols[k]) == list(want.cols[k]), k
    # A broken row names its line; a missing column names the column.
    lines = csv_path.read_text().splitlines()
    lines[9] = lines[9].replace(",", ",x", 4)
    csv_path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ReplayError, match=r"CS2_35_9_21_10.csv: line 10: "):
        cyclers.read(csv_path)
    head = lines[0].split(",")
    cut = [k for k, h in enumerate(head) if h.replace(" (", "(") == "Voltage(V)"][0]
    csv_path.write_text("\n".join(",".join(c for k, c in enumerate(ln.split(",")) if k != cut) for ln in lines) + "\n")
    with pytest.raises(ReplayError, match=r"missing column\(s\) Voltage\(V\)"):
        cyclers.read(csv_path)
