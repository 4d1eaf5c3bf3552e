"""Self-check of firmware.boards.board_config, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from firmware.boards.board_config import BOARDS, BoardConfigError, defaults, validate


def run():
    for board in BOARDS:
        validate(defaults(board), board)
    for board, pin, word in (("esp32", 25, "ADC2"), ("rp2", 29, "wireless")):
        bad = defaults(board)
        bad["ntc"]["pin"] = pin
        try:
            validate(bad, board)
        except BoardConfigError as e:
            assert str(e).startswith("ntc.pin:") and word in str(e), str(e)
        else:
            raise AssertionError("accepted ntc.pin %d on %s" % (pin, board))
    return True
