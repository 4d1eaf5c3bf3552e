"""Self-check of shared.wirecheck (decoding what shared.wire encodes), run
under the MicroPython unix port by tests/shared/test_runs_on_micropython.py
(kept out of the module so that it costs the board no heap)."""

from shared.wire import CMD, TelemetryError, encode, topic
from shared.wirecheck import decode


def run():
    schema = {"cmd": CMD}
    raw = encode("cmd", "c1", 3, {"cmd": "stop", "args": {}, "ctr": 9, "mac": "0" * 64})
    cell, kind, msg = decode(topic("c1", "cmd"), raw, schema)
    assert (cell, kind, msg["ctr"], msg["seq"]) == ("c1", "cmd", 9, 3)
    for t, bad, why in (
        (topic("c1", "cmd"), b'{"v":1,"cell":"c1","seq":1,"cmd":"fly","args":{},"ctr":1,"mac":"' + b"0" * 64 + b'"}', "not one of"),
        (topic("c1", "cmd"), b'{"v":1,"cell":"c2","seq":1,"cmd":"stop","args":{},"ctr":1,"mac":"' + b"0" * 64 + b'"}', "does not match"),
        (topic("c1", "status"), b'{"v":1,"cell":"c1","seq":1,"state":"online"}', "unknown message kind"),
        (topic("c1", "cmd"), b"{" * 5000, "exceeds"),
    ):
        try:
            decode(t, bad, schema)
        except TelemetryError as e:
            assert why in str(e), str(e)
        else:
            raise AssertionError("accepted " + str(bad[:40]))

    # A MemoryError is no verdict: it passes through, never "not UTF-8".
    class _ShortTopic(bytes):
        def decode(self, *a):
            raise MemoryError("memory allocation failed")

    try:
        decode(_ShortTopic(b"platewise/v1/c1/cmd"), raw, schema)
    except MemoryError:
        pass
    else:
        raise AssertionError("decoded a topic that could not be read")
    return True
