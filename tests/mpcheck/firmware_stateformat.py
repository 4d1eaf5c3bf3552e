"""Self-check of firmware.stateformat, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py."""

from firmware.stateformat import SCALARS, SLOTS, TMP, checksum, num_ok


def run():
    # 64 bits of SHA-256 as hex: sha256(b"abc") starts ba7816bf8f01cfea.
    assert checksum(b"abc") == "ba7816bf8f01cfea"
    import hashlib

    h = hashlib.sha256()
    h.update(b"ab")
    h.update(b"c")
    assert checksum(None, h) == "ba7816bf8f01cfea"
    assert num_ok(1) and num_ok(2.5) and not num_ok(True) and not num_ok(float("nan")) and not num_ok("1")
    assert len(SLOTS) == 2 and TMP not in SLOTS
    assert [n for n, _t, _d in SCALARS][:2] == ["boots", "cycles"]
    return True
