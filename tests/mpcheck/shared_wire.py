"""Self-check of shared.wire, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap). The decoder's check is shared_wirecheck.py."""

import json

from shared import wire
from shared.wire import CHARGER_STATES, KINDS, MAX_CELL_ID_LEN, TYPES, encode, topic, valid_cell_id


def run():
    assert topic("c-1", "event") == "platewise/v1/c-1/event"
    assert TYPES == ("float", "int", "str", "bool", "dict") and "cmd" in KINDS
    raw = encode("event", "c-1", 7, {"t_s": 1.5, "msg": "x"})
    assert isinstance(raw, bytes)
    msg = json.loads(raw)
    assert (msg["v"], msg["cell"], msg["seq"], msg["t_s"], msg["msg"]) == (1, "c-1", 7, 1.5, "x"), msg
    for good in ("a", "A.b_c-9", "x" * MAX_CELL_ID_LEN):
        assert valid_cell_id(good), good
    for bad in ("", "x" * (MAX_CELL_ID_LEN + 1), "a/b", "a b", "\u00e9", 5, None):
        assert not valid_cell_id(bad), bad
    # The charger's states: eight, distinct, each name spelled as its text.
    assert len(CHARGER_STATES) == 8 and len(set(CHARGER_STATES)) == 8
    for name in CHARGER_STATES:
        assert getattr(wire, name) == name, name
    return True
