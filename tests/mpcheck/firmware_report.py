"""Self-check of firmware.report, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from shared import telemetry as tm
from firmware.report import Reporter


def run():
    class _Net:
        def __init__(self):
            self.sent = []

        def publish(self, topic, payload, retain, priority):
            self.sent.append((topic, payload, retain, priority))

    n = _Net()
    r = Reporter("c1", n)
    r.event(1.0, "info", "boot", "hello")
    r.status("online", 1.0)
    _c, kind, msg = tm.decode(n.sent[0][0], n.sent[0][1])
    assert kind == "event" and msg["seq"] == 1
    _c, kind, msg = tm.decode(n.sent[1][0], n.sent[1][1])
    assert kind == "status" and msg["seq"] == 1 and n.sent[1][2]  # watermark, retained
    return True
