"""Persistent board state that survives reboots and power loss during a write.

What is kept: boot count, completed cycles, cumulative charge/discharge Ah,
named baselines (floats), the last accepted command counter, the latched
fault and a ring of the last FAULT_LOG_N faults, and the sequence-number
ceiling (see below). ``Store`` holds it all in RAM; flash is written by
``save``.

On flash: two slots, ``pw_state_a.json`` and ``pw_state_b.json``, each one
JSON object with a generation number, followed by a line ``#<checksum>``
(first 64 bits of SHA-256 over the JSON bytes); the format's one home is
firmware/stateformat.py. A save writes the next
generation to ``pw_state.tmp``, closes it, and renames it over the slot
that does NOT hold the newest good generation. The newest good file is
therefore never touched by a write: a power cut at any point leaves it
intact. (On LittleFS and POSIX the rename is atomic as well; on FAT it is a
remove plus a rename, which is why the second slot exists.)

Loading (``load``, in firmware/stateload.py: it runs once at boot and
main.py then drops it from memory): both slots are read, each checked (size, checksum, JSON,
field types); the valid one with the higher generation wins.
``load_status`` then says what happened, for the application to report:
  "ok"        newest file good;
  "fallback"  a slot was torn or corrupt, the other one was used
              (``load_reason`` says why the bad one was rejected); the
              seq ceiling is raised by one block, as the lost generation
              may have reserved that much;
  "new"       no state file at all (first boot);
  "defaults"  files exist but none is valid: defaults are used. The
              replay counter and sequence ceiling restart from 0, so this
              must be reported as an alarm.

Write rate: ``save(now_ms)`` writes only when something changed and at
least ``min_interval_ms`` passed since the last attempt, to spare flash.
``force=True`` skips the interval; the safety-critical setters (command
counter, fault latch and clear, sequence reservation, boot) use it, so
those are on flash before the caller acts on them.

Write failure (OSError from open/write/rename, or a MemoryError): the state
stays in RAM and dirty, ``write_errors`` counts it and ``last_error`` keeps
the text; the next save retries (a non-forced retry waits
``min_interval_ms``). ``save`` and the setters never raise; ``save``
returns True only when the flash copy is current.

Sequence numbers: the board's data messages must never reuse a seq across
reboots, yet writing on every message would wear the flash. So a block is
reserved: ``seq_ceiling`` on flash is above every seq this boot may use.
``start`` begins numbering at the stored ceiling and immediately stores
ceiling + ``seq_block``; ``note_seq`` stores a new ceiling when the seq
comes within half a block of it. A crash skips at most one block of
numbers, it never reuses one. ``close_seq`` at a clean shutdown stores the
exact last seq, so a clean reboot leaves no gap.

Files live in ``dir_path`` ("" = the current directory).
Filesystem: ``fs`` is any object with ``open(path, mode)``, ``rename(a, b)``
and ``remove(path)``; by default the real one (``OsFs``). Tests pass a
failing one.
"""

import hashlib
import io
import json

from firmware import stateformat
from shared.compat import ticks_diff

# Config rows (persist_dir, persist_min_interval_ms, seq_block) live in firmware/config.py.


class OsFs:
    """The real filesystem (MicroPython and CPython)."""

    def open(self, path, mode):
        return open(path, mode)

    def rename(self, a, b):
        import os

        os.rename(a, b)

    def remove(self, path):
        import os

        os.remove(path)


class _HashingWriter(io.IOBase):
    """A stream for json.dump: each piece goes to the file and into the
    checksum as it is made, so a save never needs the whole JSON text (and
    a copy of it) as one block of heap; at a tight heap that block is what
    a fragmented heap lacks. MicroPython hands over a temporary buffer
    that is reused after write() returns: it is used, never kept."""

    def __init__(self, f):
        self.f = f
        self.h = hashlib.sha256()

    def write(self, b):
        if isinstance(b, str):  # CPython's json hands over str pieces
            b = b.encode()
        self.h.update(b)
        self.f.write(b)
        return len(b)


def _finite(x):
    return float(x) if stateformat.num_ok(x) else 0.0


class Store:
    def __init__(self, dir_path, min_interval_ms=60000, seq_block=1024, fs=None):
        self.fs = fs if fs is not None else OsFs()
        # "" is the current directory: "/" on a board at boot, the run's temp dir in HIL.
        d = dir_path if dir_path == "" or dir_path.endswith("/") else dir_path + "/"
        self._paths = (d + stateformat.SLOTS[0], d + stateformat.SLOTS[1])
        self._tmp = d + stateformat.TMP
        self.min_interval_ms = min_interval_ms
        self.seq_block = seq_block
        self._defaults()
        self.gen = 0  # generation of the newest good file (0: none)
        self._slot = None  # index of the slot holding it
        self.dirty = False
        self._last_try_ms = None
        self.writes = 0
        self.write_errors = 0
        self.last_error = None
        self.load_status = "new"
        self.load_reason = ""
        self.seq_base = 0  # first seq of this boot is seq_base + 1

    def _defaults(self):
        for name, _typ, default in stateformat.SCALARS:
            setattr(self, name, default)
        self.fault = None
        self.fault_log = []
        self.baselines = {}

    # --- loading (firmware/stateload.py: boot-only, dropped after boot) -------
    def load(self):
        """Read both slots, keep the newest valid one; returns load_status."""
        from firmware.stateload import load

        return load(self)

    def load_event(self):
        """(code, msg) for an alarm event after load, or None if nothing to report."""
        if self.load_status == "fallback":
            return "persist_fallback", "state file bad, previous generation used: " + self.load_reason
        if self.load_status == "defaults":
            return "persist_lost", "no valid state file, defaults used (replay counter and seq restart): " + self.load_reason
        return None

    # --- writing -------------------------------------------------------------
    def _to_dict(self, gen):
        d = {"fmt": stateformat.FORMAT, "gen": gen}
        for name, _typ, _default in stateformat.SCALARS:
            d[name] = getattr(self, name)
        d["fault"] = self.fault
        d["fault_log"] = self.fault_log
        d["baselines"] = self.baselines
        return d

    def save(self, now_ms, force=False):
        """Write the state if dirty and due (or forced); True if flash is current."""
        if not self.dirty:
            return True
        if not force and self._last_try_ms is not None and ticks_diff(now_ms, self._last_try_ms) < self.min_interval_ms:
            return False
        self._last_try_ms = now_ms
        target = 0 if self._slot is None else 1 - self._slot
        f = None
        try:
            f = self.fs.open(self._tmp, "wb")
            w = _HashingWriter(f)
            json.dump(self._to_dict(self.gen + 1), w)
            f.write(b"\n#" + stateformat.checksum(None, w.h).encode() + b"\n")
            f.close()
            f = None
            self.fs.rename(self._tmp, self._paths[target])
        except Exception as e:  # OSError mostly; a MemoryError must not stop the BMS either
            if f is not None:
                try:
                    f.close()
                except Exception:
                    pass
            self.write_errors += 1
            self.last_error = repr(e)
            return False
        self.gen += 1
        self._slot = target
        self.writes += 1
        self.dirty = False
        return True

    # --- setters (the application's API) -------------------------------------
    def start(self, now_ms):
        """Once per boot, after load: count the boot, reserve a seq block; return seq_base.

        The board numbers this boot's data messages seq_base + 1, + 2, ...
        """
        self.boots += 1
        self.seq_base = self.seq_ceiling
        self.seq_ceiling = self.seq_base + self.seq_block
        self.dirty = True
        self.save(now_ms, True)
        return self.seq_base

    def note_seq(self, seq, now_ms):
        """Call with the last seq used; reserves the next block before this one runs out."""
        if seq + self.seq_block // 2 >= self.seq_ceiling:
            self.seq_ceiling = seq + self.seq_block
            self.dirty = True
            self.save(now_ms, True)

    def close_seq(self, seq, now_ms):
        """Clean shutdown: store the exact last seq so the next boot leaves no gap."""
        if seq != self.seq_ceiling:
            self.seq_ceiling = seq
            self.dirty = True
        return self.save(now_ms, True)

    def set_ctr(self, ctr, now_ms):
        """Record an accepted command counter; True once it is on flash."""
        if ctr != self.last_ctr:
            self.last_ctr = ctr
            self.dirty = True
        return self.save(now_ms, True)

    def latch_fault(self, t_s, code, value, limit, now_ms):
        """A fault latched: keep it (it re-latches after reboot) and log it."""
        self.fault = code
        # A NaN would make the file unreadable JSON (and every later one): store 0.
        self.fault_log.append([_finite(t_s), str(code)[:48], _finite(value), _finite(limit)])
        if len(self.fault_log) > stateformat.FAULT_LOG_N:
            self.fault_log.pop(0)
        self.dirty = True
        return self.save(now_ms, True)

    def clear_fault(self, now_ms):
        if self.fault is not None:
            self.fault = None
            self.dirty = True
        return self.save(now_ms, True)

    def set_totals(self, cycles, charge_ah, discharge_ah):
        """Routine counters; written by the next due save(). Non-finite values are ignored."""
        if not (stateformat.num_ok(charge_ah) and stateformat.num_ok(discharge_ah)) or charge_ah < 0 or discharge_ah < 0:
            return
        if cycles != self.cycles or charge_ah != self.charge_ah or discharge_ah != self.discharge_ah:
            self.cycles = cycles
            self.charge_ah = charge_ah
            self.discharge_ah = discharge_ah
            self.dirty = True

    def set_baseline(self, name, value):
        """Store a named baseline; False (not stored) if the table is full or the value bad."""
        if not isinstance(name, str) or len(name) > stateformat.MAX_NAME_LEN or not stateformat.num_ok(value):
            return False
        if name not in self.baselines and len(self.baselines) >= stateformat.MAX_BASELINES:
            return False
        value = float(value)
        if self.baselines.get(name) != value:
            self.baselines[name] = value
            self.dirty = True
        return True
