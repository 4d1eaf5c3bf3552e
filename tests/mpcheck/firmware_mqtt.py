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
    _publish_framing()
    return True


def _publish_framing():
    """PUBLISH packets as the broker reads them, over a real loopback TCP
    connection: one built in the client's buffer, one too large for it
    (concatenated instead); both byte for byte."""
    import socket

    srv = socket.socket()
    # The unix port's sockets have no getsockname(): take a free port by trying.
    for port in range(47311, 47411):
        addr = socket.getaddrinfo("127.0.0.1", port)[0][-1]
        try:
            srv.bind(addr)
            break
        except OSError:
            pass
    srv.listen(1)
    s = socket.socket()
    s.connect(addr)
    conn, _ = srv.accept()
    c = MQTTClient("t", "h", 1, Outbox(8), None, None)
    c._sock = s
    small = b"x" * 300
    big = b"y" * 700  # past the 512-byte buffer
    c.outbox.put("pw/a", small, False, False)
    c.outbox.put("pw/bb", big, True, True)
    c._pump(0)
    c._pump(0)
    want = b"\x32" + _varlen(2 + 4 + 2 + 300) + b"\x00\x04pw/a\x00\x01" + small
    want += b"\x33" + _varlen(2 + 5 + 2 + 700) + b"\x00\x05pw/bb\x00\x02" + big
    got = b""
    while len(got) < len(want):
        got += conn.recv(4096)
    assert got == want, (len(got), len(want))
    assert c._inflight == 2 and c._tx_off == len(c._tx)
    assert len(c._tbuf) == 512  # the large one did not go through (and grow) the buffer
    for x in (conn, s, srv):
        x.close()

