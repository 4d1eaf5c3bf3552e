"""The virtual board server's end of its link to the firmware's board driver
(firmware/boards/emulated.py): two FIFOs or a loopback TCP socket.

``FifoLink(folder, connecting)`` makes the two FIFOs and holds the request
FIFO open; ``TcpLink(connecting)`` listens on a free loopback port. Each
has ``spec`` (what ``PLATEWISE_HIL`` says to the firmware) and
``accept()``, which waits for the firmware to open its end, calling
``connecting(waited_s)`` between tries, and returns ``(readinto, write,
close)`` for the server's loop.

Failure behaviour: ``connecting`` raising (VirtualBoard's raises
TimeoutError once the firmware died or took too long) ends ``accept()``
with that exception and the link closed; any other OS error opening a FIFO
is raised as it is.
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
