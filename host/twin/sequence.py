"""Sequence accounting of the twin: per cell and per sender, which seq
numbers arrived, which are missing, which came twice, and which a board's
crash-reboot skipped.

Pure logic: no SQL, no I/O, no clock. The service (service.py) tells it
what the store found (a message was new, or a duplicate whose stored
payload differs) and, for a board's boot event, the highest seq the store
holds at or below the boot's base; this module keeps the counts and the
rules that turn them into gaps.

Streams (``stream_of``): the board's data kinds (telemetry, cycle, event)
share one counter, the ``board`` stream. A board's ``status`` carries the
board's watermark (the seq of its last data message, telemetry contract
v1) rather than a number of its own, so an ``online`` and an ``offline``
may share a seq: each status state is its own stream. Host-side kinds
(cmd, twin) count on the host, each its own stream. Only the board stream
has gaps worth reporting; the others are counted as ``host_messages``.

Crash-reboots (``boot_base``, ``Stream.boot``): a board numbers each boot
on from a block it reserved in flash (firmware/persist.py); its ``boot``
event's ``value`` is the seq this boot continues after. After a clean stop
that is the last seq used; after a crash the rest of the old block was
never used (or was lost from RAM: the board cannot tell which). The
numbers between the highest seq received at or below a boot's base and
that base are counted as ``seq_skipped_at_boot``, not as gaps. A message
from before that boot arriving late (a flash spill) shrinks the skip.

Failure behaviour: input is a decoded v1 message (the decoder's job), so
nothing here validates fields beyond what a rule needs; a boot event
without a usable base (missing, negative, fractional: an older board)
changes nothing, and the hole it leaves stays a gap. Nothing is persisted
here: after a restart the service rebuilds every stream from the store
(``Stream.restore`` with the stored count and seq range, then each stored
boot event again), so received, gaps and skips survive a restart;
duplicate and conflict counts are not stored and restart at 0.
"""

BOARD_STREAM = "board"
BOARD_KINDS = ("telemetry", "cycle", "event")


def stream_of(kind, msg):
    """The sender's sequence space a decoded message counts in."""
    if kind in BOARD_KINDS:
        return BOARD_STREAM
    if kind == "status":
        return "status-" + msg["state"]
    return kind


def boot_base(kind, msg):
    """The seq a board's boot event says numbering continues after, as an int;
    None for any other message and for a boot event without a usable one."""
    if kind != "event" or msg.get("event") != "boot":
        return None
    base = msg.get("value")
    if not isinstance(base, (int, float)) or base != int(base) or base < 0:
        return None
    return int(base)


class Stream:
    """Sequence accounting of one sender: unique count, lowest and highest
    seq, duplicates, conflicts, and the numbers its reboots skipped."""

    __slots__ = ("received", "min_seq", "max_seq", "duplicates", "conflicts", "_below")

    def __init__(self):
        self.received = 0
        self.min_seq = None
        self.max_seq = None
        self.duplicates = 0
        self.conflicts = 0  # duplicates whose payload differs from the stored one
        # boot base -> the highest seq received at or below it (one entry per boot: few)
        self._below = {}

    def add(self, seq):
        """A new (not yet stored) seq arrived."""
        self.received += 1
        if self.min_seq is None or seq < self.min_seq:
            self.min_seq = seq
        if self.max_seq is None or seq > self.max_seq:
            self.max_seq = seq
        for base, m in self._below.items():
            if m < seq <= base:
                self._below[base] = seq  # a late arrival from before that boot

    def duplicate(self, conflict=False):
        """A seq already stored arrived again; ``conflict``: with another payload
        (a sender that restarted its counter)."""
        self.duplicates += 1
        if conflict:
            self.conflicts += 1

    def restore(self, received, min_seq, max_seq):
        """Counts of what the store holds (after a restart)."""
        self.received, self.min_seq, self.max_seq = received, min_seq, max_seq

    def boot(self, base, highest_below):
        """A boot event: numbering continues after ``base``; ``highest_below``
        is the highest seq already received at or below it (0 if none). A
        second event with the same base changes nothing."""
        if base not in self._below:
            self._below[base] = highest_below

    @property
    def skipped(self):
        """Seqs a reboot skipped: after the highest received before each
        boot's base, up to that base. Counted only inside the range seen,
        one boot's range never overlapping the previous one's."""
        lo, hi = self.min_seq, self.max_seq
        if lo is None or hi is None:
            return 0
        total = 0
        prev = None
        for base in sorted(self._below):
            start = self._below[base]
            if prev is not None and start < prev:
                start = prev  # what lies below the previous base is its business
            start = max(start, lo - 1)
            end = min(base, hi)
            if end > start:
                total += end - start
            prev = base
        return total

    @property
    def gaps(self):
        """Every seq between the lowest and highest seen that is not stored and
        was not skipped by a reboot. Out-of-order arrivals fill gaps;
        duplicates are not in ``received``."""
        lo, hi = self.min_seq, self.max_seq
        if lo is None or hi is None:
            return 0
        return hi - lo + 1 - self.received - self.skipped


class CellSequences:
    """Every sender's stream of one cell; the board's always exists."""

    __slots__ = ("streams",)

    def __init__(self):
        self.streams = {BOARD_STREAM: Stream()}

    def stream(self, name):
        s = self.streams.get(name)
        if s is None:
            s = self.streams[name] = Stream()
        return s

    @property
    def board(self):
        return self.streams[BOARD_STREAM]

    @property
    def host_messages(self):
        """Messages outside the board's data sequence: status (watermark), cmd, twin."""
        return sum(s.received for n, s in self.streams.items() if n != BOARD_STREAM)

    @property
    def other_duplicates(self):
        return sum(s.duplicates for n, s in self.streams.items() if n != BOARD_STREAM)
