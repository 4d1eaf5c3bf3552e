"""Bad input to Twin.handle: each rejected with its reason, logged, stored in
rejects and counted; nothing raises; good messages around them are kept."""

import json
import logging

from platewise.host.twin.service import Twin
from platewise.shared.telemetry import MAX_PAYLOAD_BYTES, topic
from twinkit import good, message, raw, telemetry_fields


class Clock:
    """A clock the test moves: 1 s per reading keeps the log rate limit out of the way."""

    def __init__(self, t_s=1000.0, step_s=0.0):
        self.t_s = t_s
        self.step_s = step_s

    def __call__(self):
        self.t_s += self.step_s
        return self.t_s


def _with(**changes):
    f = telemetry_fields()
    f.update({"v": 1, "cell": "c1", "seq": 900})
    for k, v in changes.items():
        if v is _DROP:
            f.pop(k)
        else:
            f[k] = v
    return f


_DROP = object()
T = topic("c1", "telemetry")
_valid = json.dumps(_with()).encode()

# (name, topic, payload, reason substring, attributed to c1)
BAD = [
    ("malformed", T, b'{"v": 1, "cell": ', "not JSON", True),
    ("truncated", T, _valid[: len(_valid) // 2], "not JSON", True),
    ("empty", T, b"", "not JSON", True),
    ("none", T, None, "empty payload", True),
    ("not utf-8", T, b'{"v":1,"cell":"\xff"}', "not UTF-8", True),
    ("oversize", T, b" " * (MAX_PAYLOAD_BYTES + 1), "exceeds", True),
    ("array", T, b"[1, 2]", "not a JSON object", True),
    ("wrong version", T, json.dumps(_with(v=2)).encode(), "schema version 2", True),
    ("version as float", T, json.dumps(_with(v=1.0)).encode(), "v: expected an integer", True),
    ("out of range", T, json.dumps(_with(voltage_v=50.0)).encode(), "voltage_v: 50.0 outside", True),
    ("negative seq", T, json.dumps(_with(seq=-1)).encode(), "seq: -1 outside", True),
    ("wrong type str", T, json.dumps(_with(current_a="0.1")).encode(), "current_a: expected a number", True),
    ("wrong type bool", T, json.dumps(_with(seq=True)).encode(), "seq: expected an integer", True),
    ("bad enum", T, json.dumps(_with(state="DANCING")).encode(), "state: DANCING not one of", True),
    ("nan", T, json.dumps(_with(voltage_v=float("nan"))).encode(), "voltage_v: not finite", True),
    ("infinity", T, json.dumps(_with(temperature_c=float("inf"))).encode(), "temperature_c: not finite", True),
    ("huge number", T, _valid.replace(b'"pressure_mpa": 1.0', b'"pressure_mpa": 1e999'), "pressure_mpa: not finite", True),
    ("unknown field", T, json.dumps(_with(colour="red")).encode(), "unknown field colour", True),
    ("missing field", T, json.dumps(_with(voltage_v=_DROP)).encode(), "missing field voltage_v", True),
    ("cell mismatch", T, json.dumps(_with(cell="c2")).encode(), "does not match topic cell c1", True),
    ("unknown kind", "platewise/v1/c1/gossip", _valid, "unknown message kind", True),
    ("wrong root", "platewise/v2/c1/telemetry", _valid, "not under platewise/v1/", False),
    ("deep topic", "platewise/v1/c1/telemetry/x", _valid, "topic must be", False),
    ("bad cell id", "platewise/v1/c 1/telemetry", _valid, "bad cell id in topic", False),
    ("topic not utf-8", b"platewise/v1/\xff/telemetry", _valid, "topic is not UTF-8", False),
    ("payload of wrong type", T, 12345, "decoder error", True),
    ("topic of wrong type", None, _valid, "decoder error", False),
    ("deep nesting", T, b"[" * 3000 + b"]" * 3000, "exceeds", True),
    ("nesting under limit", T, b"[" * 2000 + b"]" * 2000, "not JSON", True),
]


def test_each_bad_message_is_rejected_with_its_reason_and_good_ones_survive(caplog):
    twin = Twin(clock=Clock(step_s=1.0))
    caplog.set_level(logging.WARNING, logger="platewise.twin")
    seq = 0
    assert twin.handle(*good(seq)) is True
    for name, t, payload, reason, _attributed in BAD:
        assert twin.handle(t, payload) is False, name
        seq += 1
        assert twin.handle(*good(seq)) is True, "good message after " + name

    rejects = twin.store.rejects()
    assert len(rejects) == len(BAD)
    for (name, _t, _p, reason, attributed), row in zip(BAD, rejects):
        assert reason in row["reason"], (name, row["reason"])
        assert row["cell_id"] == ("c1" if attributed else None), name
        assert len(row["payload_excerpt"]) <= 600
        assert reason in caplog.text, name  # the reason was logged

    n_attributed = sum(1 for b in BAD if b[4])
    c = twin.cell("c1")
    assert c["received"] == len(BAD) + 1
    assert c["rejected"] == n_attributed
    assert c["gaps"] == 0 and c["duplicates"] == 0
    assert twin.rejected_unattributed == len(BAD) - n_attributed
    assert twin.store.count_messages("c1") == len(BAD) + 1
    assert [m["seq"] for m in twin.store.messages("c1")] == list(range(len(BAD) + 1))
    s = twin.summary()
    assert s["handled"] == 2 * len(BAD) + 1
    assert s["store_errors"] == 0 and s["filter_errors"] == 0


def test_a_cell_that_sends_only_bad_messages_is_still_visible():
    twin = Twin()
    t, p = raw("telemetry", "c7", {"v": 2, "cell": "c7", "seq": 0})
    assert twin.handle(t, p) is False
    assert twin.cells() == ["c7"]
    (cell,) = twin.summary()["cells"]
    assert (cell["cell_id"], cell["received"], cell["rejected"]) == ("c7", 0, 1)
    assert cell["inventory_est_ah"] is None


def test_bad_cycle_messages_do_not_touch_the_filter():
    twin = Twin()
    from twinkit import cycle_fields

    assert twin.handle(*message("cycle", "c1", 0, cycle_fields(1, 0.02, 0.0199)))
    before = twin.filter("c1").x
    bad = cycle_fields(2, 0.0199, 0.0198)
    bad.update(v=1, cell="c1", seq=1, charge_ah=float("nan"))
    assert twin.handle(topic("c1", "cycle"), json.dumps(bad).encode()) is False
    bad.update(charge_ah=-0.01)
    assert twin.handle(topic("c1", "cycle"), json.dumps(bad).encode()) is False
    assert (twin.filter("c1").x == before).all()
    assert twin.cell("c1")["cycles"] == 1 and twin.cell("c1")["rejected"] == 2


def test_reject_logging_is_rate_limited_but_every_reject_is_stored(caplog):
    clock = Clock(step_s=0.0)
    twin = Twin(clock=clock, log_rejects_per_s=5)
    caplog.set_level(logging.WARNING, logger="platewise.twin")
    for _ in range(50):
        twin.handle(T, b"garbage")
    assert caplog.text.count("rejected") == 5
    clock.t_s += 2.0
    twin.handle(T, b"garbage")
    assert "45 more rejects not logged" in caplog.text
    assert len(twin.store.rejects()) == 51
    assert twin.cell("c1")["rejected"] == 51


def test_too_many_cells_are_rejected_not_grown_without_bound():
    twin = Twin(max_cells=2)
    assert twin.handle(*good(0, cell_id="a"))
    assert twin.handle(*good(0, cell_id="b"))
    assert twin.handle(*good(0, cell_id="c")) is False
    assert twin.cells() == ["a", "b"]
    assert twin.rejected_unattributed == 1
    assert "too many cells" in twin.store.rejects()[0]["reason"]
