"""Tiny shims so one source runs on MicroPython and CPython."""

try:
    from micropython import const  # type: ignore  # MicroPython: folded at compile time
except ImportError:  # CPython: const is the identity

    def const(x):  # type: ignore
        return x


def is_finite(x):
    """True for a real, finite number (NaN != NaN; inf - inf is NaN)."""
    return x == x and x - x == 0


def clamp(x, lo, hi):
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x


# Board tick counters wrap (MicroPython's ticks_ms wraps at 2**30). Logic
# that subtracts ticks uses ticks_diff so a wrap mid-run is harmless.
_TICKS_PERIOD = const(1 << 30)
_TICKS_MAX = const(_TICKS_PERIOD - 1)
_TICKS_HALF = const(1 << 29)


def ticks_add(t, delta):
    return (t + delta) & _TICKS_MAX


def ticks_diff(a, b):
    """a - b in ticks, correct across one wrap (|a - b| < 2**29)."""
    return ((a - b + _TICKS_HALF) & _TICKS_MAX) - _TICKS_HALF


def forget(names):
    """Drop modules from memory: out of sys.modules and their package, then
    collect. Their interned names stay (MicroPython never frees qstrs). The
    caller must hold no reference into them. The firmware drops its boot-only
    modules this way (firmware/main.py); on CPython it only unloads them."""
    import gc
    import sys

    for name in names:
        if name in sys.modules:
            del sys.modules[name]
            pkg, _, attr = name.rpartition(".")
            if pkg in sys.modules and hasattr(sys.modules[pkg], attr):
                delattr(sys.modules[pkg], attr)
    gc.collect()
