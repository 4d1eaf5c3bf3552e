"""Board driver for a Raspberry Pi Pico W (RP2040) on the Platewise wiring.

``make_board(path)`` loads and validates the hardware config at ``path``
(board_config.py, rules for "rp2") and builds the parts (hardware.py).
This module and esp32.py are the only firmware modules that import
``machine``.

RP2040 specifics: the ADC is 12-bit and ``read_u16`` scales it to 16 bits;
its reference is the 3V3 rail that also feeds the NTC divider, so the NTC
reading is ratiometric (supply tolerance cancels). GP23-25 and GP29 belong
to the wireless chip and are rejected by the config check. The watchdog
allows at most 8388 ms.

Failure behaviour: a bad config raises BoardConfigError naming the field; a
missing or wrong part raises RuntimeError naming it. In both cases the
contactor pin, if already created, is at its open level.
"""

import machine
import time

from firmware.boards import board_config
from firmware.boards.hardware import build

BOARD = "rp2"


def make_adc(pin):
    return machine.ADC(machine.Pin(pin))


def make_board(path="board.json", clock=None):
    """The board for the hardware config at ``path``; ``clock`` defaults to the time module."""
    cfg = board_config.load(path, BOARD)
    return build(cfg, machine, clock or time, make_adc, 0)
