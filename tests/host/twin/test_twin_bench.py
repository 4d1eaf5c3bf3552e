"""host/twin/bench.py: the `platewise bench twin` JSON contract, with real
numbers (small sizes here; the full run is `platewise bench twin`)."""

import io
import json
from contextlib import redirect_stdout

from platewise import cli


def test_bench_twin_json_contract_and_batched_beats_the_loop_at_100_cells():
    out = io.StringIO()
    with redirect_stdout(out):
        rc = cli.main(["bench", "twin", "--json", "--sizes", "1,100", "--min-time-s", "0.05", "--messages", "300"])
    assert rc == 0
    r = json.loads(out.getvalue())
    assert set(r) >= {"batched_updates_per_s", "filterpy_updates_per_s", "mqtt_messages_per_s"}
    for key in ("batched_updates_per_s", "filterpy_updates_per_s"):
        assert set(r[key]) == {"1", "100"} and all(v > 0 for v in r[key].values())
    # vectorised over 100 cells it must be several times the per-cell loop
    assert r["batched_updates_per_s"]["100"] > 3 * r["filterpy_updates_per_s"]["100"]
    assert r["mqtt_messages_per_s"] > 50


def test_bench_twin_table_and_bad_sizes():
    out = io.StringIO()
    with redirect_stdout(out):
        rc = cli.main(["bench", "twin", "--sizes", "1", "--min-time-s", "0.02", "--messages", "50"])
    assert rc == 0 and "speedup" in out.getvalue() and "messages/s" in out.getvalue()
    assert cli.main(["bench", "twin", "--sizes", "a,b"]) == 2
