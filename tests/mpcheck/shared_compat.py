"""Self-check of shared.compat, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from shared.compat import clamp, const, forget, is_finite, ticks_add, ticks_diff

_TICKS_MAX = (1 << 30) - 1  # compat's const, folded away at compile time


def run():
    assert ticks_diff(5, _TICKS_MAX - 4) == 10 and ticks_diff(_TICKS_MAX - 4, 5) == -10
    assert ticks_add(_TICKS_MAX, 3) == 2
    assert const(3) == 3
    assert is_finite(1.0) and not is_finite(float("nan")) and not is_finite(float("inf"))
    assert clamp(5, 0, 3) == 3 and clamp(-1, 0, 3) == 0 and clamp(2, 0, 3) == 2
    import sys
    import shared.mathx  # noqa: F401 (a module to drop)

    forget(("shared.mathx", "shared.not_loaded"))
    assert "shared.mathx" not in sys.modules and not hasattr(sys.modules["shared"], "mathx")
    return True
