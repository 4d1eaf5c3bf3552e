"""The virtual board server's end of its link to the firmware's board driver
(firmware/boards/emulated.py): two FIFOs, a loopback TCP socket, or a real
board's serial line (processor in the loop, firmware/boards/pil.py).

``FifoLink(folder, connecting)`` makes the two FIFOs and holds the request
FIFO open; ``TcpLink(connecting)`` listens on a free loopback port;
``SerialLink(device, connecting)`` opens a board's serial port (pyserial).
Each has ``spec`` (what ``PLATEWISE_HIL`` says to the firmware; for a
serial line, the device) and ``accept()``, which waits for the firmware to
open its end, calling ``connecting(waited_s)`` between tries, and returns
``(readinto, write, close)`` for the server's loop.

On a serial line the board's prints share the line with the frames:
``SerialLink`` sends hellos until the board's first request comes, finds
each request by its mark (``\x00PW>``) and keeps the text between them
(``text()``: what the board printed, its ``PLATEWISE-EXIT`` line too), and
marks each answer (``\x00PW<``).

Failure behaviour: ``connecting`` raising (VirtualBoard's raises
TimeoutError once the firmware died or took too long) ends ``accept()``
with that exception and the link closed; any other OS error opening a FIFO
is raised as it is; a serial port that cannot be opened raises OSError
naming it. A serial line silent for ``idle_timeout_s`` mid-run, or closed
by ``close()``, reads as the link's end (the server's loop stops; the run
has no goodbye, which VirtualBoard reports).
"""

from __future__ import annotations

import errno
import os
import socket
import time


def process_cpu_s(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far, from /proc; None where there is none."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class FifoLink:
    """Two FIFOs in ``folder``: requests (the firmware writes) and answers."""

    def __init__(self, folder: str, connecting):
        self._req = os.path.join(folder, "hil-requests")
        self._resp = os.path.join(folder, "hil-answers")
        os.mkfifo(self._req)
        os.mkfifo(self._resp)
        # Open now, without a writer yet, so the firmware's open of the
        # request FIFO returns at once.
        self._rfd = os.open(self._req, os.O_RDONLY | os.O_NONBLOCK)
        self._connecting = connecting
        self.spec = f"{self._req} {self._resp}"

    def accept(self):
        """Once the firmware opens the answers FIFO: (readinto, write, close)."""
        waited_s = 0.0
        while True:
            try:
                wfd = os.open(self._resp, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as e:
                if e.errno != errno.ENXIO:  # ENXIO: no reader yet
                    self.close()
                    raise
            try:
                self._connecting(waited_s)
            except TimeoutError:
                self.close()
                raise
            time.sleep(0.01)
            waited_s += 0.01
        os.set_blocking(self._rfd, True)
        os.set_blocking(wfd, True)
        rx = open(self._rfd, "rb", buffering=0)
        tx = open(wfd, "wb", buffering=0)

        def close():
            rx.close()
            tx.close()

        return rx.readinto, tx.write, close

    def close(self) -> None:
        os.close(self._rfd)


class TcpLink:
    """A loopback TCP socket, one connection."""

    def __init__(self, connecting):
        self._lsock = socket.socket()
        self._lsock.bind(("127.0.0.1", 0))
        self._lsock.listen(1)
        self._lsock.settimeout(0.1)
        self._connecting = connecting
        self.spec = "127.0.0.1:%d" % self._lsock.getsockname()[1]

    def accept(self):
        waited_s = 0.0
        try:
            while True:
                try:
                    conn, _ = self._lsock.accept()
                    break
                except socket.timeout:
                    waited_s += 0.1
                    self._connecting(waited_s)
        finally:
            self._lsock.close()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.settimeout(None)
        return conn.recv_into, conn.sendall, conn.close


REQUEST_MARK = b"\x00PW>"  # before every request, on every link (firmware/boards/emulated.py)
SERIAL_HELLO = b"\x00PWH"
SERIAL_ANSWER = b"\x00PW<"


class SerialLink:
    """A real board's serial line (or a pty standing for one)."""

    def __init__(self, device: str, connecting, baudrate: int = 115200, idle_timeout_s: float = 30.0):
        import serial  # pyserial

        try:
            self._port = serial.Serial(device, baudrate=baudrate, timeout=0.05)
        except (serial.SerialException, ValueError) as e:
            raise OSError(f"serial port {device}: {e}") from None
        self._connecting = connecting
        self.idle_timeout_s = idle_timeout_s
        self.spec = device
        self._buf = bytearray()
        self._text = bytearray()
        self._closed = False

    def text(self) -> str:
        """What the board printed between the frames, so far."""
        return self._text.decode("utf-8", "replace")

    def _more(self) -> bool:
        """Read what has come (False: nothing within the port's timeout, or the port closed)."""
        if self._closed:
            return False
        try:
            data = self._port.read(max(1, self._port.in_waiting))
        except (OSError, TypeError, AttributeError):  # closed under us by close()
            return False
        self._buf += data
        return bool(data)

    def _frame(self, n: int) -> bytes | None:
        """The next request (its mark and the rest, ``n`` bytes) if it is all
        here; the text before it moves to ``text``."""
        i = self._buf.find(REQUEST_MARK)
        if i < 0:
            # Keep a tail that could be the start of a mark.
            keep = next((k for k in range(len(REQUEST_MARK) - 1, 0, -1) if self._buf.endswith(REQUEST_MARK[:k])), 0)
            cut = len(self._buf) - keep
            self._text += self._buf[:cut]
            del self._buf[:cut]
            return None
        self._text += self._buf[:i]
        del self._buf[:i]
        if len(self._buf) < n:
            return None
        frame = bytes(self._buf[:n])
        del self._buf[:n]
        return frame

    def readinto(self, req) -> int:
        """The next whole request into ``req``; 0 once the link is closed or silent."""
        n, quiet_s = len(req), 0.0
        while not self._closed:
            frame = self._frame(n)
            if frame is not None:
                req[:] = frame
                return n
            if self._more():
                quiet_s = 0.0
            else:
                quiet_s += self._port.timeout
                if quiet_s > self.idle_timeout_s:
                    break
        return 0

    def write(self, resp) -> None:
        self._port.write(SERIAL_ANSWER + bytes(resp))

    def accept(self):
        """Hellos until the board's first request; then (readinto, write, finish)."""
        waited_s = 0.0
        while True:
            self._port.write(SERIAL_HELLO)
            for _ in range(4):
                self._more()
            if REQUEST_MARK in self._buf:
                break
            try:
                self._connecting(waited_s)
            except TimeoutError:
                self.close()
                raise
            waited_s += 4 * self._port.timeout
        return self.readinto, self.write, self.finish

    def finish(self, quiet_s: float = 0.3) -> None:
        """After the board's goodbye: what it still prints (a traceback) until it is quiet, then close."""
        t = 0.0
        while not self._closed and t < quiet_s:
            t = 0.0 if self._more() else t + self._port.timeout
        self._text += self._buf
        self._buf.clear()
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._port.close()
