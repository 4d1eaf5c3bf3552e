"""A small non-blocking MQTT 3.1.1 client with store-and-forward.

Why our own client: umqtt.simple blocks in connect/publish/wait_msg, and
mqtt_as needs its asyncio loop to own the program; the control tick here
must never wait on the network and must run the same under the lock-stepped
virtual clock of HIL. This client is a state machine advanced by
``service(now_ms)``, called from the main loop between control ticks; every
socket operation is non-blocking.

Delivery: every message goes through the ``Outbox`` (a bounded FIFO) and is
published at QoS 1. A message leaves the outbox only when the broker's
PUBACK for it arrives (MQTT 3.1.1 sec. 4.6: PUBACKs come in the order the
PUBLISHes were sent), so a message sent just before the link died is sent
again (DUP set) after the reconnect: at-least-once, in order. The twin drops
duplicates by sequence number.

Capacity and overflow (``Outbox``): ``capacity`` messages in RAM. When full,
the oldest *sample* not yet in flight is dropped to make room; cycle
summaries, events and status are dropped only when nothing but them is
left, and every drop is counted (``dropped_samples``, ``dropped_priority``),
so the twin sees the hole as a sequence gap rather than nothing.

Link faults: every socket error is an OSError (a TLS handshake failure a
ValueError), handled in one place (``_drop``): the socket is closed, the
state goes to DISCONNECTED and a reconnect is tried after a backoff that
doubles from 250 ms to ``backoff_max_ms`` (16 s by default). The
will message (``will()`` is asked for it at each connect) is registered
with the broker so that it announces ``offline`` if the board vanishes.
"""

from shared.compat import const, ticks_add, ticks_diff

_DISCONNECTED = const(0)
_CONNECTING = const(1)
_WAIT_CONNACK = const(2)
_CONNECTED = const(3)

_BACKOFF_MIN_MS = const(250)
_BACKOFF_MAX_MS = const(16000)
_CONNECT_TIMEOUT_MS = const(5000)
_READ_BYTES = const(256)
# A PUBLISH is built in one buffer made once: concatenating its parts would
# make three copies of every message per send, and on a small heap that
# churn of ~400-byte blocks fragments it. Larger packets (none of the
# firmware's own samples) are concatenated.
_TX_BYTES = const(512)
_EAGAIN = const((11, 35, 115, 119))  # EAGAIN/EWOULDBLOCK (Linux, BSD), EINPROGRESS (Linux, lwIP)


_FREE = const(("", b"", False, False))  # an empty slot, shaped like an entry

# MQTTClient._link: (client_id, host, port, user, password, server_hostname)
_LINK_HOST = const(1)
_LINK_PORT = const(2)
_LINK_NAME = const(5)  # the name checked in the broker's TLS certificate


class Outbox:
    """Bounded FIFO of (topic, payload, retain, priority) waiting for PUBACK.

    With a ``spill`` (firmware/spill.py), messages that do not fit in RAM go
    to flash in order and are read back by ``refill()`` as the RAM drains;
    ``n`` counts RAM, ``backlog()`` both.
    """

    def __init__(self, capacity, spill=None):
        self.spill = spill
        self.capacity = capacity
        self._ring = [_FREE] * capacity
        self._head = 0
        self.n = 0
        self.dropped_samples = 0
        self.dropped_priority = 0

    def get(self, k):
        return self._ring[(self._head + k) % self.capacity]

    def pop(self):
        e = self._ring[self._head]
        self._ring[self._head] = _FREE
        self._head = (self._head + 1) % self.capacity
        self.n -= 1
        return e

    def _remove(self, k):
        # Close the hole at k by shifting the later entries down: O(n), only
        # on overflow.
        cap = self.capacity
        for j in range(k, self.n - 1):
            self._ring[(self._head + j) % cap] = self._ring[(self._head + j + 1) % cap]
        self._ring[(self._head + self.n - 1) % cap] = _FREE
        self.n -= 1

    def backlog(self):
        return self.n + (self.spill.n if self.spill is not None else 0)

    def refill(self):
        """Move spilled messages back into free RAM slots, oldest first."""
        sp = self.spill
        while sp is not None and sp.n and self.n < self.capacity:
            e = sp.pop()
            if e is None:
                self.dropped_samples += sp.lost  # a torn log: what was lost is counted
                sp.lost = 0
                return
            self._ring[(self._head + self.n) % self.capacity] = e
            self.n += 1

    def put(self, topic, payload, retain, priority, protect=0):
        """Queue a message; ``protect`` entries at the head (in flight) are kept.

        Returns False if something (old or new) had to be dropped.
        """
        sp = self.spill
        if sp is not None and (sp.n or self.n >= self.capacity):
            # RAM is full, or older messages already wait in flash: keep order.
            if sp.append(topic, payload, retain, priority):
                return True
            if priority:
                self.dropped_priority += 1
            else:
                self.dropped_samples += 1
            return False
        ok = True
        if self.n >= self.capacity:
            ok = False
            victim = -1
            for k in range(protect, self.n):
                if not self.get(k)[3]:
                    victim = k
                    break
            if victim < 0 and not priority:
                self.dropped_samples += 1
                return False
            if victim < 0:
                victim = protect if protect < self.n else self.n - 1
                self.dropped_priority += 1
            else:
                self.dropped_samples += 1
            self._remove(victim)
        self._ring[(self._head + self.n) % self.capacity] = (topic, payload, retain, priority)
        self.n += 1
        return ok


def _varlen(n):
    b = bytearray()
    while True:
        d = n & 0x7F
        n >>= 7
        if n:
            b.append(d | 0x80)
        else:
            b.append(d)
            return b


def _str(s):
    if isinstance(s, str):
        s = s.encode()
    return bytes((len(s) >> 8, len(s) & 0xFF)) + s


class MQTTClient:
    def __init__(
        self,
        client_id,
        host,
        port,
        outbox,
        socket_mod,
        select_mod,
        keepalive_s=30,
        will=None,
        on_connect=None,
        on_message=None,
        subscribe=None,
        user=None,
        password=None,
        window=16,
        backoff_max_ms=_BACKOFF_MAX_MS,
        tls=None,
        server_hostname=None,
    ):
        # Where and who: read only when connecting (_LINK_* indices). One
        # tuple, not six attributes: the client's attribute table stays a
        # size smaller (it is built when the heap is fullest, and each
        # growth of it wants a larger contiguous block).
        self._link = (client_id, host, port, user, password, server_hostname or host)
        self.outbox = outbox
        self._socket = socket_mod
        self._select = select_mod
        self.keepalive_ms = keepalive_s * 1000
        self.will = will  # callable -> (topic, payload) or None
        self.on_connect = on_connect
        self.on_message = on_message
        self.subscribe_topic = subscribe
        self.window = window
        self.backoff_max_ms = backoff_max_ms
        # TLS: an SSLContext (built by main.py from the CA file), wrapped
        # around the TCP socket once it is connected; the handshake runs
        # inside the first non-blocking writes and reads.
        self.tls = tls
        self._sock = None
        self._poll = None
        self._state = _DISCONNECTED
        self._next_try_ms = 0
        self._backoff_ms = _BACKOFF_MIN_MS
        self._since_ms = 0
        self._last_tx_ms = 0
        self._last_rx_ms = 0
        self._ping_out = False
        self._tx = b""  # bytes, or a memoryview of _tbuf, being written
        self._tx_off = 0
        self._tbuf = bytearray(_TX_BYTES)
        self._rx = bytearray()
        # Reads land in one buffer made once (no 1 KB allocation per read:
        # on a small heap, that churn fragments it). Broker traffic is
        # small: PUBACKs, PINGRESP, the odd command.
        self._rbuf = bytearray(_READ_BYTES)
        self._pid = 0
        self._inflight = 0  # outbox entries at the head sent on this connection
        self._pids = [0] * window
        self.published = 0  # messages acknowledged by the broker
        self.published_data = 0  # of which not retained (status is the only retained kind)
        self.connects = 0
        self.drops = 0
        self.last_error = ""

    # --- public ---------------------------------------------------------
    def connected(self):
        return self._state == _CONNECTED

    def backlog(self):
        return self.outbox.backlog()

    def publish(self, topic, payload, retain=False, priority=False):
        """Queue a message; it is sent from service(). Never blocks.

        ``payload`` is bytes or str (queued as it is and sent as its UTF-8
        bytes: the board's reports are JSON text, not copied to bytes)."""
        return self.outbox.put(topic, payload, retain, priority, self._inflight)

    def service(self, now_ms, wait_ms=0):
        """Advance the connection; ``wait_ms`` > 0 lets it block that long for data."""
        try:
            if self._state == _DISCONNECTED:
                if ticks_diff(now_ms, self._next_try_ms) >= 0:
                    self._open(now_ms)
                return
            if self._state == _CONNECTING:
                if self._poll_once(wait_ms, True):
                    self._send_connect(now_ms)
                elif ticks_diff(now_ms, self._since_ms) > _CONNECT_TIMEOUT_MS:
                    raise OSError(110)
                return
            self._flush_tx(now_ms)
            # TLS may hold decrypted bytes the socket no longer signals, so
            # a TLS link is read every pass (a read that would block is cheap).
            if self._poll_once(wait_ms, False) or self.tls is not None:
                self._read(now_ms)
            if self._state == _WAIT_CONNACK:
                if ticks_diff(now_ms, self._since_ms) > _CONNECT_TIMEOUT_MS:
                    raise OSError(110)
                return
            self._pump(now_ms)
            self._keepalive(now_ms)
        except OSError as e:
            code = e.args[0] if e.args else -1
            if isinstance(code, int) and code >= 1000:
                self._drop(now_ms, "connack refused " + str(code - 1000))
            else:
                self._drop(now_ms, "socket error " + str(code))
        except ValueError as e:
            # MicroPython's TLS reports a failed handshake (e.g. a broker
            # certificate the CA did not sign) as ValueError: a link fault.
            self._drop(now_ms, "tls error: %s" % str(e).strip()[:80])

    def disconnect(self):
        """Send DISCONNECT (the broker then discards the will) and close."""
        if self._sock is not None and self._state == _CONNECTED:
            try:
                self._sock.setblocking(True)
                self._sock.write(b"\xe0\x00")
            except OSError:
                pass
        self._close()
        self._state = _DISCONNECTED

    # --- internals ------------------------------------------------------
    def _open(self, now_ms):
        self._close()
        addr = self._socket.getaddrinfo(self._link[_LINK_HOST], self._link[_LINK_PORT])[0][-1]
        s = self._socket.socket()
        self._sock = s
        s.setblocking(False)
        try:
            s.connect(addr)
        except OSError as e:
            if e.args[0] not in _EAGAIN:
                raise
        self._poll = self._select.poll()
        self._poll.register(s, self._select.POLLIN | self._select.POLLOUT)
        self._state = _CONNECTING
        self._since_ms = now_ms

    def _poll_once(self, wait_ms, want_write):
        p = self._poll
        if p is None:
            raise OSError(107)  # ENOTCONN
        ev = p.poll(wait_ms)
        if not ev:
            return False
        flags = ev[0][1]
        if flags & (self._select.POLLERR | self._select.POLLHUP) and not flags & self._select.POLLIN:
            raise OSError(104)
        if want_write:
            return bool(flags & self._select.POLLOUT)
        return bool(flags & self._select.POLLIN)

    def _send_connect(self, now_ms):
        p = self._poll
        if p is None:
            raise OSError(107)
        if self.tls is not None:
            p.unregister(self._sock)
            self._sock = self.tls.wrap_socket(self._sock, server_hostname=self._link[_LINK_NAME], do_handshake_on_connect=False)
            p.register(self._sock, self._select.POLLIN)
        else:
            p.modify(self._sock, self._select.POLLIN)
        flags = 0x02  # clean session: the outbox, not the broker, holds our backlog
        client_id, _host, _port, user, password, _name = self._link
        payload = _str(client_id)
        w = self.will() if self.will else None
        if w is not None:
            flags |= 0x04 | 0x08 | 0x20  # will, QoS 1, retained
            payload += _str(w[0]) + _str(w[1])
        if user is not None:
            flags |= 0x80
            payload += _str(user)
            if password is not None:
                flags |= 0x40
                payload += _str(password)
        ka = self.keepalive_ms // 1000
        var = b"\x00\x04MQTT\x04" + bytes((flags, ka >> 8, ka & 0xFF))
        self._queue_tx(b"\x10" + _varlen(len(var) + len(payload)) + var + payload, now_ms)
        self._state = _WAIT_CONNACK
        self._since_ms = now_ms
        self._last_rx_ms = now_ms

    def _queue_tx(self, pkt, now_ms):
        if self._tx_off < len(self._tx):
            # bytes(): the rest may be a view of _tbuf, which is then free again.
            self._tx = bytes(self._tx[self._tx_off :]) + pkt
        else:
            self._tx = pkt
        self._tx_off = 0
        self._flush_tx(now_ms)

    def _flush_tx(self, now_ms):
        s = self._sock
        if s is None:
            raise OSError(107)
        while self._tx_off < len(self._tx):
            try:
                n = s.write(memoryview(self._tx)[self._tx_off :])
            except OSError as e:
                if e.args[0] in _EAGAIN:
                    return False
                raise
            if not n:
                return False
            self._tx_off += n
            self._last_tx_ms = now_ms
        return True

    def _tx_idle(self):
        return self._tx_off >= len(self._tx)

    def _read(self, now_ms):
        s = self._sock
        if s is None:
            raise OSError(107)
        try:
            got = s.readinto(self._rbuf)
        except OSError as e:
            if e.args[0] in _EAGAIN:
                return
            raise
        if got is None:
            return  # would block (TLS: no whole record yet)
        if not got:
            raise OSError(104)  # closed by the broker
        self._last_rx_ms = now_ms
        self._ping_out = False
        self._rx.extend(memoryview(self._rbuf)[:got])
        while True:
            rx = self._rx
            if len(rx) < 2:
                return
            n = 0
            shift = 0
            i = 1
            while True:
                if i >= len(rx):
                    return
                b = rx[i]
                n |= (b & 0x7F) << shift
                i += 1
                if not b & 0x80:
                    break
                shift += 7
                if shift > 21:
                    raise OSError(71)  # malformed length: protocol error
            if len(rx) < i + n:
                return
            self._packet(rx[0], bytes(rx[i : i + n]), now_ms)
            self._rx = rx[i + n :]

    def _packet(self, head, body, now_ms):
        kind = head & 0xF0
        if kind == 0x20:  # CONNACK
            if len(body) < 2 or body[1] != 0:
                # 1000 + the broker's return code (4: bad user name or
                # password, 5: not authorised): _drop reports it as such.
                raise OSError(1000 + (body[1] if len(body) > 1 else 255))
            self._state = _CONNECTED
            self.connects += 1
            self._backoff_ms = _BACKOFF_MIN_MS
            self._inflight = 0  # unacked messages are sent again, DUP set
            if self.subscribe_topic:
                t = _str(self.subscribe_topic) + b"\x01"
                self._queue_tx(b"\x82" + _varlen(2 + len(t)) + b"\x00\x01" + t, now_ms)
            if self.on_connect:
                self.on_connect()
        elif kind == 0x40:  # PUBACK
            # 3.1.1 brokers acknowledge in order; one that does not must not
            # stall the window: mark the packet, then release the head while
            # it is acknowledged (order of removal stays the send order).
            pid = (body[0] << 8) | body[1]
            for j in range(self._inflight):
                if self._pids[j] == pid:
                    self._pids[j] = 0  # 0 is never a packet id: "acknowledged"
                    break
            while self._inflight and self._pids[0] == 0:
                if not self.outbox.pop()[2]:
                    self.published_data += 1
                self._inflight -= 1
                for j in range(self._inflight):
                    self._pids[j] = self._pids[j + 1]
                self.published += 1
        elif kind == 0x30:  # PUBLISH (commands)
            tl = (body[0] << 8) | body[1]
            topic = body[2 : 2 + tl]
            pos = 2 + tl
            qos = (head >> 1) & 3
            if qos:
                pid = body[pos : pos + 2]
                pos += 2
                self._queue_tx(b"\x40\x02" + pid, now_ms)
            if self.on_message:
                self.on_message(topic, body[pos:])
        # SUBACK (0x90) and PINGRESP (0xD0) need nothing beyond _last_rx_ms.

    def _pump(self, now_ms):
        """Send outbox entries while the window and the socket allow."""
        ob = self.outbox
        ob.refill()
        while self._inflight < self.window and self._inflight < ob.n and self._tx_idle():
            topic, payload, retain, _prio = ob.get(self._inflight)
            # bytes, or the board's JSON text: its memoryview is the UTF-8
            # bytes either way (MicroPython), so its length is the byte count.
            payload = memoryview(payload)
            self._pid = self._pid % 65535 + 1
            self._pids[self._inflight] = self._pid
            h = 0x32 | (0x01 if retain else 0)
            t = _str(topic)
            rem = len(t) + 2 + len(payload)
            self._inflight += 1
            v = _varlen(rem)
            n = 1 + len(v) + rem
            if n > _TX_BYTES:
                self._queue_tx(bytes((h,)) + v + t + bytes((self._pid >> 8, self._pid & 0xFF)) + payload, now_ms)
                continue
            # The tx is idle (loop condition), so _tbuf is free.
            b = self._tbuf
            b[0] = h
            k = 1 + len(v)
            b[1:k] = v
            b[k : k + len(t)] = t
            k += len(t)
            b[k] = self._pid >> 8
            b[k + 1] = self._pid & 0xFF
            k += 2
            b[k:n] = payload
            self._tx = memoryview(b)[:n]
            self._tx_off = 0
            self._flush_tx(now_ms)

    def _keepalive(self, now_ms):
        if ticks_diff(now_ms, self._last_rx_ms) > self.keepalive_ms + self.keepalive_ms // 2:
            raise OSError(110)  # broker silent past 1.5 keepalives: link is dead
        if not self._ping_out and ticks_diff(now_ms, self._last_tx_ms) > self.keepalive_ms // 2:
            self._queue_tx(b"\xc0\x00", now_ms)
            self._ping_out = True

    def _close(self):
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock = None
        self._poll = None
        self._tx = b""
        self._tx_off = 0
        self._rx = bytearray()

    def _drop(self, now_ms, reason):
        self.last_error = reason
        self.drops += 1
        self._close()
        self._state = _DISCONNECTED
        self._inflight = 0
        self._next_try_ms = ticks_add(now_ms, self._backoff_ms)
        self._backoff_ms = min(self._backoff_ms * 2, self.backoff_max_ms)
