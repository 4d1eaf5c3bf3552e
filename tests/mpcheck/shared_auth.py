"""Self-check of shared.auth, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from shared.auth import canonical_command, canonical_float, equal, hmac_sha256_hex, verify_command
from shared.cmdsign import sign_command


def run():
    # RFC 4231 test case 2 (short key) and 6 (key longer than a block).
    assert hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?") == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert hmac_sha256_hex(b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First") == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    assert canonical_float(0.0125) == "125e-4" and canonical_float(-3.65) == "-365e-2" and canonical_float(100.0) == "1e2"
    assert canonical_command("c1", 7, "stop", {}) == b"PWCMD1\n2:c1,1:7,4:stop,1:0,"
    key = b"k" * 32
    m = {"cell": "c1", "ctr": 3, "cmd": "set_limits", "args": {"charge_current_a": 0.02}}
    m["mac"] = sign_command(key, "c1", 3, "set_limits", m["args"])
    assert verify_command(key, m)
    m["ctr"] = 4
    assert not verify_command(key, m)
    assert equal("ab", "ab") and not equal("ab", "ac") and not equal("ab", "abc")
    return True
