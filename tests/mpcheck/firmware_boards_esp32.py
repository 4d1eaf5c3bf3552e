"""Self-check of firmware.boards.esp32, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from firmware.boards import board_config
from firmware.boards.esp32 import BOARD


def run():
    # No ESP32 here: check this board's pin rules only.
    cfg = board_config.validate(board_config.defaults(BOARD), BOARD)
    assert cfg["ntc"]["pin"] == 34
    return True
