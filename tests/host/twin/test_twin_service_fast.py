"""Twin(cell_params=...): the fast filter runs on live telemetry, hands over
with the slow filter at each cycle, and a restart resumes it exactly."""

from platewise.hil import twin_truth
from platewise.host.twin.service import Twin
from platewise.shared.telemetry import encode, topic


def board_stream(run):
    """(topic, payload) of telemetry for every sample and a cycle summary at each cycle end, one seq space."""
    out, seq = [], 0
    msgs = {m["cycle"]: m for m in run["messages"]}
    cur = 1
    for row in run["rows"]:
        if row[5] != cur:
            seq += 1
            out.append((topic("b1", "cycle"), encode("cycle", "b1", seq, dict(msgs[cur]))))
            cur = row[5]
        seq += 1
        fields = {
            "t_s": row[0], "voltage_v": row[1], "current_a": row[2], "temperature_c": row[3], "pressure_mpa": max(row[4], 0.0),
            "cycle": row[5], "cycle_charge_ah": 0.0, "cycle_discharge_ah": 0.0, "total_charge_ah": 0.0,
            "total_discharge_ah": 0.0, "r_ohm": 0.0, "state": "IDLE",
        }  # fmt: skip
        out.append((topic("b1", "telemetry"), encode("telemetry", "b1", seq, fields)))
    return out


def test_fast_filter_on_live_telemetry_and_restart(tmp_path):
    run = twin_truth.life("sulfide-ssb", seed=1, samples=True, cycles=4)
    stream = board_stream(run)
    ref = Twin(cell_params=run["params"])
    for m in stream:
        ref.handle(*m)
    c = ref.cell("b1")
    true_plated = run["rows"][-1][6]
    assert abs(c["plated_ah"] - true_plated) < 0.02 * run["capacity_ah"] and c["plated_std_ah"] > 0
    assert c["cycles"] == 3 and c["soc"] is not None and c["fast_r0_ohm"] > 0
    # restart half way: the same state as the uninterrupted run
    path = str(tmp_path / "f.db")
    a = Twin(db_path=path, cell_params=run["params"])
    for m in stream[: len(stream) // 2]:
        a.handle(*m)
    a.close()
    b = Twin(db_path=path, cell_params=run["params"])
    for m in stream[len(stream) // 2 :]:
        b.handle(*m)
    got = b.cell("b1")
    for k in ("plated_ah", "plated_std_ah", "fast_r0_ohm", "inventory_est_ah", "eol_cycle_pred"):
        assert abs(got[k] - c[k]) <= 1e-9 * max(1.0, abs(c[k])), k
