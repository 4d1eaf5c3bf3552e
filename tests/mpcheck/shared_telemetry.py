"""Self-check of shared.telemetry, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from shared.telemetry import TelemetryError, decode, encode, parse_topic, topic


def run():
    m = {"state": "online", "fw": "0.1.0", "boot": 1}
    raw = encode("status", "cell-1", 7, m)
    cell, kind, back = decode(topic("cell-1", "status"), raw)
    assert cell == "cell-1" and kind == "status" and back["seq"] == 7
    for bad in (b"{", b'{"v":2,"cell":"cell-1","seq":1,"state":"online"}', b'{"v":1,"cell":"cell-1","seq":1,"state":"gone"}'):
        try:
            decode(topic("cell-1", "status"), bad)
        except TelemetryError:
            pass
        else:
            raise AssertionError("accepted " + str(bad))
    assert parse_topic("platewise/v1/c9/cycle") == ("c9", "cycle")
    return True
