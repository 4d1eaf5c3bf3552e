"""Flash spill for the MQTT outbox: an append-only log of whole messages.

While the broker is unreachable the RAM outbox fills in minutes; past
that, messages go to this file in order and come back into RAM, oldest
first, as the link drains it. Once anything is in the spill, every new
message goes there too, so delivery order is never broken.

Record layout: topic length (2 bytes, big-endian), flags (1 byte: bit 0
retain, bit 1 priority), payload length (2 bytes), topic, payload.

Capacity: ``max_bytes`` for all messages; cycle summaries, events and
status may use ``reserve_bytes`` more (they are never dropped before
samples). Past that, a new message is dropped and counted
(``dropped_samples`` / ``dropped_priority`` of the outbox). When the log
has been read to its end it is deleted, so flash is written only during
outages. A log left by a reboot is counted at start and replayed.

Failure behaviour: an OSError writing (flash full, filesystem error) drops
that message and counts it in ``errors``; an unreadable or torn tail
record ends the replay there (what follows is lost and counted), and the
file is removed so the next outage starts clean.
"""

import os


class Spill:
    def __init__(self, path, max_bytes, reserve_bytes=0):
        self.path = path
        self.max_bytes = max_bytes
        self.reserve_bytes = reserve_bytes
        self.n = 0  # records not yet read back
        self.size = 0  # bytes in the file
        self._read_off = 0
        self.errors = 0
        self.lost = 0
        self._hdr = bytearray(5)
        self._scan()

    def _scan(self):
        # Count what a previous run left behind.
        try:
            f = open(self.path, "rb")
        except OSError:
            return
        try:
            off = 0
            n = 0
            while True:
                h = f.read(5)
                if len(h) < 5:
                    break
                ln = ((h[0] << 8) | h[1]) + ((h[3] << 8) | h[4])
                body = f.read(ln)
                if len(body) < ln:
                    self.lost += 1  # torn tail record
                    break
                off += 5 + ln
                n += 1
            self.n = n
            self.size = off
        finally:
            f.close()
        if not self.n:
            self._remove()

    def has_room(self, nbytes, priority):
        cap = self.max_bytes + (self.reserve_bytes if priority else 0)
        return self.size + 5 + nbytes <= cap

    def append(self, topic, payload, retain, priority):
        """Append one message; False if it does not fit or the write failed."""
        if isinstance(topic, str):
            topic = topic.encode()
        payload = memoryview(payload)  # bytes or text: its UTF-8 bytes (MicroPython)
        ln = len(topic) + len(payload)
        if not self.has_room(ln, priority):
            return False
        h = self._hdr
        h[0] = len(topic) >> 8
        h[1] = len(topic) & 0xFF
        h[2] = (1 if retain else 0) | (2 if priority else 0)
        h[3] = len(payload) >> 8
        h[4] = len(payload) & 0xFF
        try:
            f = open(self.path, "ab")
            try:
                f.write(h)
                f.write(topic)
                f.write(payload)
            finally:
                f.close()
        except OSError:
            self.errors += 1
            return False
        self.size += 5 + ln
        self.n += 1
        return True

    def pop(self):
        """The oldest record as (topic, payload, retain, priority), or None."""
        if not self.n:
            return None
        try:
            f = open(self.path, "rb")
            try:
                f.seek(self._read_off)
                h = f.read(5)
                tl = (h[0] << 8) | h[1]
                pl = (h[3] << 8) | h[4]
                topic = f.read(tl)
                payload = f.read(pl)
            finally:
                f.close()
            if len(h) < 5 or len(topic) < tl or len(payload) < pl:
                raise OSError(5)
        except (OSError, IndexError):
            self.errors += 1
            self.lost += self.n
            self._reset()
            return None
        self._read_off += 5 + tl + pl
        self.n -= 1
        if not self.n:
            self._reset()
        return topic.decode(), payload, bool(h[2] & 1), bool(h[2] & 2)

    def _reset(self):
        self.n = 0
        self.size = 0
        self._read_off = 0
        self._remove()

    def _remove(self):
        try:
            os.remove(self.path)
        except OSError:
            pass
