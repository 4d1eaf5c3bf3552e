"""Self-check of firmware.boards.rp2, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from firmware.boards import board_config
from firmware.boards.rp2 import BOARD


def run():
    # No Pico here: check this board's pin rules only.
    cfg = board_config.validate(board_config.defaults(BOARD), BOARD)
    assert cfg["ntc"]["pin"] == 26
    return True
