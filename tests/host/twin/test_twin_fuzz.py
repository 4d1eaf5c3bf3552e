"""Fuzz Twin.handle with random bytes, random JSON and mutated valid
messages. The decoder is the oracle: handle never raises, accepts exactly
what decode accepts (once per seq), and every call lands in exactly one
counter."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platewise.host.twin.service import Twin
from platewise.shared.telemetry import SCHEMA, TelemetryError, decode, topic
from twinkit import cycle_fields, event_fields, status_fields, telemetry_fields

CELLS = ("c1", "c2")
BASE = {
    "telemetry": telemetry_fields(),
    "cycle": cycle_fields(1, 0.02, 0.0199),
    "event": event_fields(),
    "status": status_fields(),
}
FIELD_NAMES = sorted({f[0] for spec in SCHEMA.values() for f in spec} | {"v", "cell", "seq"})

json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
json_value = st.recursive(
    json_scalar, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=6
)


@st.composite
def valid_or_mutated(draw):
    kind = draw(st.sampled_from(sorted(BASE)))
    cell = draw(st.sampled_from(CELLS))
    msg = dict(BASE[kind], v=1, cell=cell, seq=draw(st.integers(0, 12)))
    if kind == "cycle":
        msg["cycle"] = draw(st.integers(0, 6))
        msg["charge_ah"] = draw(st.floats(0.0, 0.05))
        msg["discharge_ah"] = draw(st.floats(0.0, 0.05))
    for _ in range(draw(st.integers(0, 2))):
        action = draw(st.sampled_from(("set", "drop", "add")))
        if action == "drop" and msg:
            msg.pop(draw(st.sampled_from(sorted(msg))))
        else:
            msg[draw(st.sampled_from(FIELD_NAMES + ["zz"]))] = draw(json_value)
    t = topic(draw(st.sampled_from(CELLS)) if draw(st.integers(0, 9)) == 0 else cell, kind)
    payload = json.dumps(msg, allow_nan=True).encode()
    if draw(st.integers(0, 9)) == 0:
        payload = payload[: draw(st.integers(0, len(payload)))]
    return t, payload


random_topic = st.one_of(
    st.sampled_from([topic(c, k) for c in CELLS for k in SCHEMA]),
    st.text(max_size=40),
    st.binary(max_size=40),
    st.builds(lambda c, k: "platewise/v1/%s/%s" % (c, k), st.text(max_size=6), st.text(max_size=6)),
)
random_payload = st.one_of(
    st.binary(max_size=200),
    json_value.map(lambda v: json.dumps(v, allow_nan=True).encode()),
    st.dictionaries(st.sampled_from(FIELD_NAMES), json_value, max_size=12).map(lambda d: json.dumps(d, allow_nan=True).encode()),
)
one_message = st.one_of(valid_or_mutated(), st.tuples(random_topic, random_payload))


def totals(twin):
    s = twin.summary()
    cells = [twin.cell(c["cell_id"]) for c in s["cells"]]
    return {
        "live": sum(c["received"] + c["host_messages"] for c in cells),
        "dups": sum(c["duplicates"] + c["other_duplicates"] for c in cells),
        "rejected": sum(c["rejected"] for c in cells) + s["rejected_unattributed"],
        "retained": sum(c["retained"] for c in cells),
    }


@settings(max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(one_message, st.integers(0, 15)), min_size=1, max_size=25))
def test_handle_never_raises_and_counts_exactly(messages):
    twin = Twin(log_rejects_per_s=0)
    seen = set()
    for (t, payload), r in messages:
        retained = r == 0
        before = totals(twin)
        stored_before = twin.store.count_messages()
        try:
            decoded = decode(t, payload)
        except TelemetryError:
            decoded = None
        ok = twin.handle(t, payload, retained=retained)
        after = totals(twin)
        delta = {k: after[k] - before[k] for k in after}
        assert isinstance(ok, bool)
        if decoded is None:
            assert ok is False
            assert delta == {"live": 0, "dups": 0, "rejected": 1, "retained": 0}
            assert twin.store.count_messages() == stored_before
        elif retained:
            assert delta == {"live": 0, "dups": 0, "rejected": 0, "retained": 1}
        else:
            cell, kind, msg = decoded
            if kind in ("telemetry", "cycle", "event"):
                stream = "board"
            elif kind == "status":
                stream = "status-" + msg["state"]  # status carries the watermark: one stream per state
            else:
                stream = kind
            key = (cell, stream, msg["seq"])
            assert ok is (key not in seen)
            assert delta == ({"live": 1, "dups": 0, "rejected": 0, "retained": 0} if ok else {"live": 0, "dups": 1, "rejected": 0, "retained": 0})
            assert twin.store.count_messages() == stored_before + (1 if ok else 0)
            seen.add(key)
    s = twin.summary()
    assert s["store_errors"] == 0 and s["filter_errors"] == 0
    assert twin.store.count_messages() == len(seen)
    assert len(twin.store.rejects()) == totals(twin)["rejected"]
    for c in s["cells"]:
        assert c["gaps"] >= 0
        if c["inventory_est_ah"] is not None:
            assert c["inventory_std_ah"] >= 0


@settings(max_examples=150, deadline=None, database=None)
@given(st.binary(max_size=300), st.binary(max_size=60))
def test_raw_bytes_anywhere_are_rejected_without_raising(payload, topic_bytes):
    twin = Twin(log_rejects_per_s=0)
    assert twin.handle(topic("c1", "telemetry"), payload) is False or payload.strip().startswith(b"{")
    assert twin.handle(topic_bytes, payload) in (True, False)
    assert twin.summary()["store_errors"] == 0
