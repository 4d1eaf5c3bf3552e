"""Processor in the loop: the firmware on a real board (RP2040, ESP32), its
cell, sensors and actuators emulated on the host, over the board's USB
serial line; no wiring.

The board runs the firmware unchanged; only its board driver differs: the
emulated board's (firmware/boards/emulated.py: a request with the actuator
state and the tick length, an answer with the sensor readings), carried
over the serial line that is also the board's REPL and its ``print``s.
``platewise flash ... --pil`` writes the /main.py that starts it
(``main(make_board=pil.make_board)``); the host's side is ``platewise hil
run --device /dev/ttyACM0`` (hil/boardlink.py, ``SerialLink``;
docs/hil-scenarios.md, Processor in the loop).

The line carries text and frames, so each frame is marked:
  host -> board  ``\\x00PWH`` hello (repeated until the first request
                 arrives), then each answer as ``\\x00PW<`` + the answer
  board -> host  each request as ``\\x00PW>`` + the request, between the
                 lines the firmware prints (a NUL never occurs in them)
The board waits for a hello before its first request (a USB host that was
not listening would lose it) and finds each answer by its mark, skipping
anything before it (the hellos that crossed its first request). Raw bytes:
``sys.stdin.buffer`` / ``sys.stdout.buffer`` (no CR/LF translation). While
the board waits for the hello, Ctrl-C stops it as usual (so mpremote can
flash it again); from the hello on, Ctrl-C is data
(``micropython.kbd_intr(-1)``), restored at ``close``, after the run.

Network time is the board's own clock (its Wi-Fi link to the broker is
real); pacing is the emulated board's.

Failure behaviour: the host going away mid-run blocks the board's next
read (a serial line has no end) with Ctrl-C off; the host's harness
reports the run as ended without a goodbye, and the board sits in its wait
with the actuator state it last sent, which drives nothing (the cell is
emulated). Reset the board (button or power) to run or flash again. A
line that closes (a pty's other end) raises OSError: main.py ends in the
safe state.
"""

import sys
import time

import micropython

from firmware.boards.emulated import EmulatedBoard
from shared.compat import const

_OP_STEP = const(1)


class _Line:
    """The serial line as the emulated board uses it: ``write`` a request;
    ``readinto(buf)`` the bytes after the next answer mark, the rest of a
    partly read answer first (allocation-free); ``close`` leaves the
    board's stdio open."""

    def __init__(self, mark):
        self.stream = sys.stdin.buffer
        self.write = sys.stdout.buffer.write
        self.mark = mark
        self._b = bytearray(1)
        self._left = 0  # bytes of the answer still to come

    def _read(self, buf):
        k = self.stream.readinto(buf)
        if not k:
            raise OSError(104)  # the line closed (a pty's other end; a board's never does)
        return k

    def skip_to_mark(self):
        b, mark, got = self._b, self.mark, 0
        while got < len(mark):
            self._read(b)
            if b[0] == mark[got]:
                got += 1
            else:
                got = 1 if b[0] == mark[0] else 0

    def readinto(self, buf):
        if self._left <= 0:
            self.skip_to_mark()
            self._left = len(buf)
        k = self._read(buf)
        self._left -= k
        return k

    def close(self):
        micropython.kbd_intr(3)  # the REPL takes Ctrl-C again


def make_board(socket_mod=None):
    """The board driver over this board's own serial line (main.py's ``make_board``)."""
    # Ctrl-C still stops the board while it waits for the host (mpremote can
    # flash it again); from the hello on, a 0x03 in an answer is data.
    _Line(b"\x00PWH").skip_to_mark()
    micropython.kbd_intr(-1)
    line = _Line(b"\x00PW<")
    b = EmulatedBoard(line, line)
    b._exchange(0, _OP_STEP, time.ticks_us())  # type: ignore[attr-defined]  # first readings at t = 0
    return b
