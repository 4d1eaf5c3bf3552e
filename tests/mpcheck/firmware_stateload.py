"""Self-check of firmware.stateload, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from firmware.stateformat import checksum
from firmware.stateload import parse_state


def run():
    body = b'{"fmt": 1, "gen": 3, "boots": 2, "last_ctr": 7}'
    d, why = parse_state(body + b"\n#" + checksum(body).encode() + b"\n")
    assert why is None and d["gen"] == 3 and d["last_ctr"] == 7
    assert parse_state(body + b"\n#0000000000000000\n") == (None, "checksum mismatch")
    assert parse_state(body)[1] == "no checksum line (torn write?)"
    assert parse_state(b"")[1] == "empty"
    bad = b'{"fmt": 1, "gen": 3, "last_ctr": -1}'
    assert parse_state(bad + b"\n#" + checksum(bad).encode() + b"\n") == (None, "bad value of last_ctr")
    return True
