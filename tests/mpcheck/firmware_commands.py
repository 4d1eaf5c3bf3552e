"""Self-check of firmware.commands, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from shared import auth, cmdsign
from shared import wire as tm
from firmware.commands import CommandHandler
from firmware.cmdlimits import check, resolve


def run():
    from firmware.config import defaults

    key = b"\x01" * 32
    h = CommandHandler("c1", resolve(defaults()), key, 5)
    t = tm.topic("c1", "cmd")

    def msg(ctr, cmd, args):
        f = cmdsign.command_fields(key, "c1", ctr, cmd, args)
        return tm.encode("cmd", "c1", ctr, f)

    d = h.handle(t, msg(6, "set_limits", {"charge_current_a": 0.5}))
    assert d.accepted and d.args is not None and d.args["charge_current_a"] == defaults()["charge_current_a"] and d.clamped[0][0] == "charge_current_a"
    assert d.durable and h.last_ctr == 6
    import sys

    # The decoder was loaded for its step and dropped after it (nothing here
    # holds it); auth is held by this file, so it stays.
    assert "shared.wirecheck" not in sys.modules and "shared.auth" in sys.modules
    assert h.handle(t, msg(6, "stop", {})).code == "replay"
    assert h.handle(t, msg(7, "pulse", {"amplitude_a": 0.01, "duration_ms": 99999})).code == "out_of_range"
    assert h.handle(t, b"{").code == "bad_msg"
    bad = b'{"v":1,"cell":"c1","seq":1,"cmd":"stop","args":{},"ctr":9,"mac":"' + b"0" * 64 + b'"}'
    assert h.handle(t, bad).code == "bad_mac" and h.last_ctr == 7
    assert check(defaults()) is None

    # Short of memory: a MAC that cannot be computed is no verdict (not
    # bad_mac), and handle() raises with the counter untouched; once the
    # counter is consumed, a MemoryError is answered internal.
    class _NoMemory:
        def verify_command(self, key, msg, pads=None):
            raise MemoryError("memory allocation failed")

    real_auth = sys.modules["shared.auth"]
    sys.modules["shared.auth"] = _NoMemory()  # the handler's verify stage takes what is loaded
    try:
        h.handle(t, msg(8, "stop", {}))
    except MemoryError:
        pass
    else:
        raise AssertionError("a MemoryError while verifying became a verdict")
    finally:
        sys.modules["shared.auth"] = real_auth
    assert h.last_ctr == 7 and h.handle(t, msg(8, "stop", {})).accepted

    def check_oom(cmd, ctr, args, spec):
        raise MemoryError("memory allocation failed")

    h2 = CommandHandler("c1", resolve(defaults()), key, 8)
    h2._check_args = check_oom
    d = h2.handle(t, msg(9, "stop", {}))
    assert not d.accepted and d.code == "internal" and h2.last_ctr == 9, d.code

    # auth.verify_command itself: MemoryError passes through, the rest is False.
    class _Boom:
        def __getitem__(self, k):
            raise MemoryError("memory allocation failed")

    try:
        auth.verify_command(key, _Boom())
    except MemoryError:
        pass
    else:
        raise AssertionError("verify_command swallowed a MemoryError")
    assert auth.verify_command(key, {"mac": 5}) is False
    return True
