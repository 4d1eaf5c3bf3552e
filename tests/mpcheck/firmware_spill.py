"""Self-check of firmware.spill, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from firmware.spill import Spill


def run():
    path = "_platewise_spill_selfcheck.bin"
    s = Spill(path, 200, reserve_bytes=50)
    s._reset()
    assert s.append("t/a", b"one", False, False) and s.append("t/b", b"two", True, True)
    again = Spill(path, 200)  # a reboot finds both
    assert again.n == 2
    assert s.pop() == ("t/a", b"one", False, False)
    assert s.pop() == ("t/b", b"two", True, True)
    assert s.pop() is None and s.size == 0
    big = b"x" * 150
    assert s.append("t", big, False, False)
    assert not s.append("t", big, False, False)  # over max_bytes: a sample is refused
    assert not s.append("t", b"y" * 40, False, True) or s.size <= 250  # the reserve admits priority up to 250
    s._reset()
    return True
