"""Self-check of firmware.persist, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from firmware.persist import Store
from firmware.stateformat import SLOTS


def run():
    class _File:
        def __init__(self, fs, path):
            self.fs = fs
            self.path = path
            self.buf = b""

        def write(self, b):
            self.buf += b

        def read(self, n=-1):
            return self.fs.files[self.path][:n] if n >= 0 else self.fs.files[self.path]

        def close(self):
            if self.buf:
                self.fs.files[self.path] = self.buf

    class _MemFs:
        def __init__(self):
            self.files = {}

        def open(self, path, mode):
            if "r" in mode and path not in self.files:
                raise OSError(2)
            return _File(self, path)

        def rename(self, a, b):
            self.files[b] = self.files.pop(a)

        def remove(self, path):
            del self.files[path]

    fs = _MemFs()
    s = Store("/", 1000, 100, fs)
    assert s.load() == "new"
    assert s.start(0) == 0 and s.seq_ceiling == 100 and s.writes == 1
    s.set_totals(1, 0.5, 0.4)
    assert not s.save(10) and s.save(1000) and s.writes == 2
    assert s.set_ctr(7, 1001) and s.writes == 3
    s2 = Store("/", 1000, 100, fs)
    assert s2.load() == "ok" and s2.last_ctr == 7 and s2.charge_ah == 0.5 and s2.gen == 3
    assert s2.start(0) == 100  # the previous boot may have used up to 100
    newest = "/" + SLOTS[1 if s2._slot == 1 else 0]
    fs.files[newest] = fs.files[newest][:20]  # torn newest
    s3 = Store("/", 1000, 100, fs)
    assert s3.load() == "fallback" and s3.gen == 3 and s3.last_ctr == 7
    return True
