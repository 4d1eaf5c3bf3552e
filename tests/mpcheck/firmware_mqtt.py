"""Self-check of firmware.mqtt, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from firmware.mqtt import MQTTClient, Outbox, _varlen


def run():
    ob = Outbox(3)
    ob.put("t", b"s1", False, False)
    ob.put("t", b"e1", False, True)
    ob.put("t", b"s2", False, False)
    assert not ob.put("t", b"e2", False, True)  # full: drops the oldest sample
    assert ob.dropped_samples == 1 and ob.n == 3
    assert [ob.get(k)[1] for k in range(3)] == [b"e1", b"s2", b"e2"]
    assert _varlen(321) == bytearray(b"\xc1\x02")
    # PUBACKs out of order: nothing leaves the outbox until the head is acknowledged.
    c = MQTTClient("t", "h", 1, Outbox(8), None, None)
    for k in range(3):
        c.outbox.put("t", b"m%d" % k, False, False)
    c._inflight = 3
    c._pids[0], c._pids[1], c._pids[2] = 7, 8, 9
    c._packet(0x40, b"\x00\x08", 0)
    assert c.published == 0 and c.outbox.n == 3
    c._packet(0x40, b"\x00\x07", 0)
    assert c.published == 2 and c.outbox.n == 1 and c._inflight == 1 and c._pids[0] == 9
    return True
