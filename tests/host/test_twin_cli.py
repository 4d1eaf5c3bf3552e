"""host/cli.py: `platewise twin replay|run|export` and `twin --broker`, run
through the same argparse wiring the platewise command uses."""

import csv
import io
import json
import threading
import time
from contextlib import redirect_stderr, redirect_stdout

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from platewise.hil import twin_truth
from platewise import cli
from platewise.host.broker import MosquittoBroker
from platewise.host.twin.filters import Z90
from platewise.shared.telemetry import encode, topic


@pytest.fixture(scope="module")
def lfp(tmp_path_factory):
    run = twin_truth.life("lfp-liquid", seed=1, samples=True)
    d = tmp_path_factory.mktemp("replay")
    full, bare = d / "lfp.csv", d / "lfp_bare.csv"
    twin_truth.write_csv(full, run["rows"])
    twin_truth.write_csv(bare, run["rows"], with_cycle_index=False, with_pressure=False)
    return run, full, bare


def call(argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = cli.main(argv)
    return rc, out.getvalue(), err.getvalue()


def check_against_truth(cycles, run):
    truth = {t["cycle"]: t for t in run["truth"]}
    i0, eol = run["initial_ah"], run["eol_cycle"]
    assert [c["cycle"] for c in cycles] == list(range(1, len(run["truth"]) + 1))
    later = [c for c in cycles if c["cycle"] >= 5]
    errs = [abs(c["inventory_ah"] - truth[c["cycle"]]["inventory_ah"]) for c in later]
    assert max(errs) < 0.01 * i0
    covered = sum(e <= Z90 * c["inventory_std_ah"] for e, c in zip(errs, later))
    assert covered >= 0.85 * len(later)
    for c in cycles:
        if 0.25 * eol <= c["cycle"] < eol:
            assert c["eol_cycle_pred"] is not None and abs(c["eol_cycle_pred"] - eol) <= 0.1 * eol, c


REPLAY_KEYS = {
    "cycle", "inventory_ah", "inventory_std_ah", "eol_cycle_pred", "eol_cycle_lo", "eol_cycle_hi", "short_risk",
    "loss_ah_per_cycle", "sei_ah", "sei_std_ah", "dead_ah", "dead_std_ah", "alarms", "charge_ah", "discharge_ah", "ce",
    "r25_ohm", "r_eol_cycle_pred", "plated_top_ah", "plated_top_std_ah", "fast_r0_ohm", "fast_r0_std_ohm",
}  # fmt: skip


def test_replay_json_contract_and_accuracy(lfp):
    run, full, _ = lfp
    rc, out, err = call(["twin", "replay", str(full), "--preset", "lfp-liquid", "--json"])
    assert rc == 0, err
    data = json.loads(out)
    for c in data["cycles"]:
        # Every key the per-cycle output had before the real-data readers came:
        # a script written against it keeps working (new keys are additive).
        assert REPLAY_KEYS <= set(c), REPLAY_KEYS - set(c)
        assert isinstance(c["cycle"], int) and isinstance(c["inventory_ah"], float) and isinstance(c["inventory_std_ah"], float)
        for k in ("eol_cycle_pred", "eol_cycle_lo", "eol_cycle_hi"):
            assert c[k] is None or isinstance(c[k], float)
        assert isinstance(c["short_risk"], float) and 0.0 <= c["short_risk"] < 0.2
    check_against_truth(data["cycles"], run)


def test_replay_without_cycle_index_or_pressure_segments_the_same_cycles(lfp):
    run, full, bare = lfp
    a = json.loads(call(["twin", "replay", str(full), "--preset", "lfp-liquid", "--json"])[1])["cycles"]
    b = json.loads(call(["twin", "replay", str(bare), "--formation-cycles", "2", "--json"])[1])["cycles"]
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert y["charge_ah"] == pytest.approx(x["charge_ah"], rel=1e-9)
        assert y["inventory_ah"] == pytest.approx(x["inventory_ah"], rel=1e-3)
    check_against_truth(b, run)


def test_replay_table_output(lfp):
    rc, out, _ = call(["twin", "replay", str(lfp[1]), "--preset", "lfp-liquid"])
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["cycle", "inv", "mAh"] and len(lines) == len(lfp[0]["truth"]) + 1


def _write(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


@pytest.mark.parametrize(
    "header, rows, expect",
    [
        (["time_s", "voltage_v", "current_ma", "temperature_c"], [[0, 3.3, 4, 25]], "current in mA: divide by 1000"),
        (["time_s", "voltage_v", "current_a", "temperature_c"], [[0, 3.3, 4000, 25]], "row 2, column current_a: 4000 outside"),
        (["time_s", "voltage_v", "current_a", "temperature_c"], [[0, 3300, 0.004, 25]], "is it in mV?"),
        (["time_s", "voltage_v", "current_a", "temperature_c"], [[0, 3.3, 0.004, 298]], "is it in K?"),
        (["time_s", "voltage_v", "current_a"], [[0, 3.3, 0.004]], "missing column(s) temperature_c"),
        (["time_s", "voltage_v", "current_a", "temperature_c"], [[5, 3.3, 0.004, 25], [4, 3.3, 0.004, 25]], "row 3: time_s goes backwards"),
        (["time_s", "voltage_v", "current_a", "temperature_c"], [[0, 3.3, "x", 25]], "row 2, column current_a: 'x' is not a number"),
        (["time_s", "voltage_v", "current_a", "temperature_c"], [[0, 3.3, 0.004, 25], [10, 3.4, 0.004, 25]], "no complete cycle"),
    ],
)
def test_replay_refuses_bad_files_with_the_reason(tmp_path, header, rows, expect):
    path = _write(tmp_path / "bad.csv", header, rows)
    rc, out, err = call(["twin", "replay", path, "--json"])
    assert rc == 2 and out == "" and expect in err and "Traceback" not in err


def test_replay_catches_milliamps_against_the_preset_capacity(tmp_path, lfp):
    run = lfp[0]
    rows = [(r[0], r[1], r[2] * 20.0) + tuple(r[3:6]) for r in run["rows"][:800]]  # current scaled up 20x
    path = tmp_path / "scaled.csv"
    twin_truth.write_csv(path, rows)
    rc, _, err = call(["twin", "replay", str(path), "--preset", "lfp-liquid", "--json"])
    assert rc == 2 and "is current_a in mA?" in err


def test_preset_is_a_known_name_or_a_file(lfp, tmp_path):
    rc, _, err = call(["twin", "replay", str(lfp[1]), "--preset", "lfp-liqid"])
    assert rc == 2 and "unknown preset 'lfp-liqid'" in err and "lfp-liquid" in err
    preset_file = tmp_path / "p.json"
    preset_file.write_text(json.dumps({"params": {"formation_cycles": {"value": 2}, "area_cm2": {"value": 10.0}, "loading_mah_cm2": {"value": 2.0}}}))
    rc, out, _ = call(["twin", "replay", str(lfp[1]), "--preset", str(preset_file), "--json"])
    assert rc == 0 and len(json.loads(out)["cycles"]) == len(lfp[0]["truth"])


def test_replay_into_a_db_then_export_csv_per_cell(lfp, tmp_path):
    db = str(tmp_path / "twin.db")
    assert call(["twin", "replay", str(lfp[1]), "--preset", "lfp-liquid", "--db", db, "--cell", "lab-7"])[0] == 0
    rc, out, _ = call(["twin", "export", "--db", db, "--out", str(tmp_path / "x")])
    assert rc == 0
    paths = out.split()
    assert [p.rsplit("/", 1)[1] for p in paths] == ["lab-7_history.csv", "lab-7_alarms.csv"]
    with open(paths[0]) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(lfp[0]["truth"]) and float(rows[-1]["inventory_ah"]) > 0 and rows[-1]["eol_cycle_lo"] != ""
    rc, _, err = call(["twin", "export", "--db", db, "--cell", "nope"])
    assert rc == 2 and "no cycles for cell 'nope'" in err
    rc, out, err = call(["twin", "export", "--db", db, "--format", "parquet", "--out", str(tmp_path / "p")])
    # pyarrow comes with the dev extra (and the "parquet" extra for users).
    import pyarrow.parquet as pq

    assert rc == 0 and out.split()[0].endswith("lab-7_history.parquet"), err
    table = pq.read_table(out.split()[0]).to_pylist()
    assert len(table) == len(rows)
    assert [r["cycle"] for r in table] == [int(r["cycle"]) for r in rows]
    assert abs(table[-1]["inventory_ah"] - float(rows[-1]["inventory_ah"])) < 1e-9


def test_twin_without_subcommand_or_broker_prints_help():
    rc, _, err = call(["twin"])
    assert rc == 2 and "replay" in err


@pytest.mark.parametrize("argv_head", [["twin"], ["twin", "run"]])
def test_live_through_mosquitto_stores_and_publishes_estimates(tmp_path, argv_head):
    run = twin_truth.life("sulfide-ssb", seed=0, cycles=6)
    db = str(tmp_path / "live.db")
    with MosquittoBroker() as brk:
        url = "mqtt://%s:%d" % (brk.host, brk.port)
        result = {}
        t = threading.Thread(target=lambda: result.update(zip(("rc", "out", "err"), call(argv_head + ["--broker", url, "--db", db, "--duration-s", "4", "--json", "--preset", "sulfide-ssb"]))))
        t.start()
        pub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="lab-board")
        seen = []
        pub.on_message = lambda c, u, m: seen.append(m.topic)
        pub.connect(brk.host, brk.port)
        pub.subscribe(topic("+", "twin"), qos=1)
        pub.loop_start()
        time.sleep(1.0)  # the twin subscribes
        for m in run["messages"]:
            pub.publish(topic("b1", "cycle"), encode("cycle", "b1", m["cycle"], dict(m)), qos=1).wait_for_publish(5)
        t.join(15)
        pub.loop_stop()
        pub.disconnect()
    assert result["rc"] == 0, result.get("err")
    summary = json.loads(result["out"])
    (cell,) = summary["cells"]
    assert cell["cell_id"] == "b1" and cell["cycles"] == 6 and cell["inventory_est_ah"] > 0
    assert seen.count(topic("b1", "twin")) == 6  # one estimate per cycle on the twin topic


def test_bad_broker_url_and_unreachable_broker():
    rc, _, err = call(["twin", "run", "--broker", "http://x"])
    assert rc == 2 and "mqtt://" in err
    rc, _, err = call(["twin", "run", "--broker", "mqtt://127.0.0.1:1", "--preset", "no-such-file.json"])
    assert rc == 2 and "no-such-file.json" in err
    rc, _, err = call(["twin", "--broker", "mqtt://127.0.0.1:1", "--db", ":memory:"])
    assert rc == 3 and "cannot connect" in err


def test_replay_with_a_full_preset_runs_the_fast_filter_too(lfp):
    run, full, _ = lfp
    data = json.loads(call(["twin", "replay", str(full), "--preset", "lfp-liquid", "--json"])[1])
    # plated Li at the top of each charge: what the next discharge strips (+ that cycle's loss)
    for c in data["cycles"][1:]:
        assert abs(c["plated_top_ah"] - c["discharge_ah"]) < 0.03 * run["capacity_ah"], c["cycle"]
        assert c["plated_top_std_ah"] > 0 and 0.5 < c["fast_r0_ohm"] < 4.0
