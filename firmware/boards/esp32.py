"""Board driver for an ESP32 (WROOM-32 DevKitC) on the Platewise wiring.

``make_board(path)`` loads and validates the hardware config at ``path``
(board_config.py, rules for "esp32") and builds the parts (hardware.py).
This module and rp2.py are the only firmware modules that import
``machine``.

ESP32 specifics: only ADC1 (GPIO 32-39) works while Wi-Fi is on, so the
config check rejects ADC2 pins. The ADC measures against an internal
reference through an attenuator (``ntc.atten_db``; 11 dB reads up to about
2.45 V within the eFuse calibration, saturating near 3.1 V), so the NTC
ratio is ``read_uv()`` over the configured divider supply ``ntc.supply_v``,
not ``read_u16`` over full scale. GPIO 34-39 are input only.

Failure behaviour: a bad config raises BoardConfigError naming the field; a
missing or wrong part raises RuntimeError naming it. In both cases the
contactor pin, if already created, is at its open level.
"""

import machine
import time

from firmware.boards import board_config
from firmware.boards.hardware import build

BOARD = "esp32"


def _atten(db):
    a = machine.ADC
    if db == 0:
        return a.ATTN_0DB
    if db == 2.5:
        return a.ATTN_2_5DB
    if db == 6:
        return a.ATTN_6DB
    return a.ATTN_11DB


def make_board(path="board.json", clock=None):
    """The board for the hardware config at ``path``; ``clock`` defaults to the time module."""
    cfg = board_config.load(path, BOARD)
    atten = _atten(cfg["ntc"]["atten_db"])

    def make_adc(pin):
        return machine.ADC(machine.Pin(pin), atten=atten)

    supply_uv = int(cfg["ntc"]["supply_v"] * 1000000)
    return build(cfg, machine, clock or time, make_adc, supply_uv)
