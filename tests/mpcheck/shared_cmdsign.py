"""Self-check of shared.cmdsign, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py."""

from shared.auth import verify_command
from shared.cmdsign import command_fields, quantize, sign_command


def run():
    key = b"k" * 32
    assert quantize(0.0123456789) == 0.0123457
    try:
        sign_command(key, "c1", 1, "set_limits", {"charge_current_a": 0.0123456789})
        raise AssertionError("an off-grid float was signed")
    except ValueError:
        pass
    f = command_fields(key, "c1", 2, "set_limits", {"charge_current_a": 0.0123456789})
    assert f["args"]["charge_current_a"] == 0.0123457 and f["ctr"] == 2
    f["cell"] = "c1"
    assert verify_command(key, f)
    f["ctr"] = 3
    assert not verify_command(key, f)
    return True
