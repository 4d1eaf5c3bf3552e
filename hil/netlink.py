"""The board's network link in HIL: a TCP relay between the firmware and the broker.

A virtual board has no radio; its MQTT connection goes through this relay
(the firmware's ``mqtt_host``/``mqtt_port`` point at it), so a scenario can
drop the link the way a Wi-Fi loss does: ``down()`` resets every relayed
connection and refuses new ones, while the broker and everyone else on it
(the twin) stay up; ``up()`` lets the board connect again.

Failure behaviour: a broker that is not reachable makes the relay close
the board's connection at once (what a board sees when the broker is
down); errors on one connection end that connection only.
"""

from __future__ import annotations

import socket
import threading


class NetLink:
    def __init__(self, broker_host: str, broker_port: int, host: str = "127.0.0.1"):
        self.broker = (broker_host, broker_port)
        self._lsock = socket.socket()
        self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._lsock.bind((host, 0))
        self._lsock.listen(8)
        self._lsock.settimeout(0.2)
        self.host, self.port = self._lsock.getsockname()
        self._up = True
        self._stop = False
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self.drops = 0
        self._thread = threading.Thread(target=self._accept, name="hil-netlink", daemon=True)

    def start(self) -> "NetLink":
        self._thread.start()
        return self

    def down(self) -> None:
        with self._lock:
            self._up = False
            self.drops += 1
            conns, self._conns = self._conns, []
        for s in conns:
            _reset(s)

    def up(self) -> None:
        with self._lock:
            self._up = True

    def stop(self) -> None:
        self._stop = True
        self.down()
        self._thread.join(timeout=2)
        self._lsock.close()

    def _accept(self) -> None:
        while not self._stop:
            try:
                board, _ = self._lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                up = self._up
            if not up:
                _reset(board)
                continue
            try:
                upstream = socket.create_connection(self.broker, timeout=2)
            except OSError:
                _reset(board)
                continue
            for s in (board, upstream):
                s.settimeout(None)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._conns += [board, upstream]
            for a, b in ((board, upstream), (upstream, board)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def _reset(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        _reset(src)
        _reset(dst)
