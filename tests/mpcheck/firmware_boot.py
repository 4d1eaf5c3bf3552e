"""Self-check of firmware.boot, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from firmware.boot import BOARD_MODULES, CONFIG_MODULES, env, tls_context


def run():
    assert "firmware.config" in CONFIG_MODULES and "firmware.stateload" in CONFIG_MODULES
    assert "firmware.boards.board_config" in BOARD_MODULES
    assert env("PLATEWISE_NO_SUCH_VARIABLE") is None
    assert tls_context({"mqtt_tls": 0}) is None
    try:
        tls_context({"mqtt_tls": 1, "mqtt_ca_path": "/nonexistent/ca.der"})
    except OSError:
        pass  # a board told to use TLS never falls back to plain text
    else:
        raise AssertionError("TLS without its CA file was accepted")
    return True
