"""Self-check of firmware.boards.pil, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py: the serial line's input finds each
answer by its mark among other bytes (the hellos that crossed the first
request, a partial mark), completes an answer that comes in pieces without
looking for a mark again, and reads a closed line as an error."""

import struct

from firmware.boards import pil
from firmware.boards.emulated import EmulatedBoard


class _Stream:
    """Bytes that come at most ``chunk`` at a time; what is written is kept."""

    def __init__(self, data, chunk):
        self.data = data
        self.chunk = chunk
        self.out = b""

    def readinto(self, buf):
        n = min(len(buf), self.chunk, len(self.data))
        buf[:n] = self.data[:n]
        self.data = self.data[n:]
        return n

    def write(self, b):
        self.out += bytes(b)
        return len(b)


def _line(data, chunk, mark=b"\x00PW<"):
    line = pil._Line(mark)
    s = _Stream(data, chunk)
    line.stream, line.write = s, s.write
    return line, s


def run():
    # the hello among boot text, and a partial mark before the real one
    line, s = _line(b"MicroPython boot\r\n\x00P\x00PWH", 1, b"\x00PWH")
    line.skip_to_mark()
    assert s.data == b""
    # an answer after crossed hellos, in pieces of 3 bytes: one mark, then its bytes
    answer = struct.pack("<QddddII", 7000, 3.31, 0.5, 24.5, 1.2, 4, 100)
    line, s = _line(b"\x00PWH\x00PWH\x00PW" + b"\x00PW<" + answer + b"\x00PW<" + answer, 3)
    b = EmulatedBoard(line, line)
    b.set_current_a(0.25)
    b.set_contactor(True)
    b._exchange(1000, 1, 0)
    assert b.ticks_ms() == 7000 and b.read_voltage_v() == 3.31 and b.read_pressure_mpa() == 1.2
    req = s.out
    assert req[:4] == b"\x00PW>" and len(req) == 4 + struct.calcsize("<BIdBQQQ")
    op, dt_ms, setpoint_a, contactor = struct.unpack("<BIdBQQQ", req[4:])[:4]
    assert (op, dt_ms, setpoint_a, contactor) == (1, 1000, 0.25, 1)
    b._exchange(1000, 1, 0)  # the second answer: its mark found again
    assert b.ticks_ms() == 7000 and s.data == b""
    # a line that closes mid-answer is an error, not a hang
    line, s = _line(b"\x00PW<" + answer[:5], 64)
    b = EmulatedBoard(line, line)
    try:
        b._exchange(1000, 1, 0)
        raise AssertionError("a closed line read as an answer")
    except OSError:
        pass
    line.close()  # Ctrl-C back for the REPL; the board's stdio stays open
    return True
