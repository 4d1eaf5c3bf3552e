"""Fuzzing the twin's *state*: an emulated cell's cycle summaries delivered
with malformed messages, duplicates (same seq), re-sent old cycles (new
seq) and out-of-order arrivals mixed in must leave every estimate exactly
as the clean, in-order delivery does (a late cycle makes the twin re-run
the cell in cycle order), and a restart must reproduce it."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platewise.hil import twin_truth
from platewise.host.twin.service import Twin
from platewise.shared.telemetry import encode, topic

RUN = twin_truth.life("nmc811-liquid", seed=4, cycles=10)
CLEAN = [(topic("c1", "cycle"), encode("cycle", "c1", 100 + m["cycle"], dict(m))) for m in RUN["messages"]]
KEYS = ("inventory_est_ah", "inventory_std_ah", "eol_cycle_pred", "eol_cycle_lo", "eol_cycle_hi", "short_risk", "sei_ah", "dead_ah", "cycles", "last_cycle", "alarms")


def clean_state():
    twin = Twin()
    for t, p in CLEAN:
        twin.handle(t, p)
    return {k: twin.cell("c1")[k] for k in KEYS}, [dict(r, created_at=0) for r in twin.store.estimates("c1")]


CLEAN_STATE, CLEAN_ESTIMATES = clean_state()

junk = st.one_of(
    st.binary(max_size=80).map(lambda b: ("bytes", b)),
    st.integers(0, len(CLEAN) - 1).map(lambda k: ("truncated", k)),
    st.integers(0, len(CLEAN) - 1).map(lambda k: ("bad_field", k)),
)


@st.composite
def delivery(draw):
    """The clean stream, some neighbours swapped (out of order), with junk,
    duplicates and re-sent old cycles interleaved."""
    order = list(range(len(CLEAN)))
    for k in range(len(order) - 1):
        if draw(st.integers(0, 4)) == 0:
            order[k], order[k + 1] = order[k + 1], order[k]
    out = []
    delivered = []  # clean indices already delivered: only those can be re-sent
    for k in order:
        msg = CLEAN[k]
        for _ in range(draw(st.integers(0, 2))):
            kind = draw(st.sampled_from(("junk", "dup", "resend_old")))
            if kind == "junk":
                out.append(("junk", draw(junk)))
            elif kind == "dup" and delivered:
                out.append(("msg", CLEAN[draw(st.sampled_from(delivered))]))  # QoS 1 redelivery: same seq
            elif kind == "resend_old" and delivered:
                j = draw(st.sampled_from(delivered))
                m = dict(RUN["messages"][j])
                m["discharge_ah"] *= draw(st.floats(0.5, 1.5))  # even with different numbers
                out.append(("msg", (topic("c1", "cycle"), encode("cycle", "c1", 500 + draw(st.integers(0, 10**6)), m))))
        out.append(("msg", msg))
        delivered.append(k)
    return out


def _junk_message(j):
    kind, v = j
    if kind == "bytes":
        return topic("c1", "cycle"), v
    t, p = CLEAN[v]
    if kind == "truncated":
        return t, p[: len(p) // 2]
    m = json.loads(p)
    m["charge_ah"] = -1.0  # out of range
    return t, json.dumps(m).encode()


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(delivery())
def test_junk_duplicates_and_old_cycles_never_change_the_estimates(stream):
    twin = Twin(log_rejects_per_s=0)
    for what, item in stream:
        t, p = item if what == "msg" else _junk_message(item)
        twin.handle(t, p)
    state = {k: twin.cell("c1")[k] for k in KEYS}
    assert state == CLEAN_STATE
    assert [dict(r, created_at=0) for r in twin.store.estimates("c1")] == CLEAN_ESTIMATES
    assert twin.summary()["filter_errors"] == 0


def test_late_cycle_rebuilds_and_a_restart_reproduces_it(tmp_path):
    path = str(tmp_path / "t.db")
    twin = Twin(db_path=path)
    order = [0, 1, 2, 4, 3] + list(range(5, len(CLEAN)))  # cycle 4 arrives after cycle 5
    for k in order:
        twin.handle(*CLEAN[k])
    c = twin.cell("c1")
    assert c["rebuilds"] == 1 and {k: c[k] for k in KEYS} == CLEAN_STATE
    twin.close()
    again = Twin(db_path=path)
    assert {k: again.cell("c1")[k] for k in KEYS} == CLEAN_STATE
