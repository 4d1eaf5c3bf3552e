"""A board on a serial line, for mpremote: the MicroPython unix port on a
pseudo-terminal, its working folder standing for the board's filesystem.

mpremote opens a serial device and speaks MicroPython's raw REPL, which the
unix port implements. Two pty pairs and a relay make a device path that
mpremote opens like /dev/ttyACM0 (the fake is only the cable: what answers
is the real MicroPython VM). The unix port exits where a board would soft-
reset, so mpremote must be used with ``resume`` (platewise flash does).
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import threading
import tty
from pathlib import Path

from platewise.host.mpybuild import micropython_path


class PtyBoard:
    def __init__(self, fs_dir: Path):
        self.fs_dir = Path(fs_dir)
        self._stop = threading.Event()

    def __enter__(self) -> "PtyBoard":
        self._board_m, board_s = pty.openpty()
        self._host_m, host_s = pty.openpty()
        for fd in (board_s, host_s):
            tty.setraw(fd)
        env = {"MICROPYPATH": ".:.frozen", "PATH": os.environ.get("PATH", "/usr/bin")}
        self.proc = subprocess.Popen(
            [micropython_path()], stdin=board_s, stdout=board_s, stderr=board_s, cwd=self.fs_dir, env=env
        )
        os.close(board_s)
        self.device = os.ttyname(host_s)
        self._host_s = host_s  # kept open: the device exists while we hold it
        self._threads = [
            threading.Thread(target=self._relay, args=(self._board_m, self._host_m), daemon=True),
            threading.Thread(target=self._relay, args=(self._host_m, self._board_m), daemon=True),
        ]
        for t in self._threads:
            t.start()
        return self

    def _relay(self, src: int, dst: int) -> None:
        while not self._stop.is_set():
            r, _, _ = select.select([src], [], [], 0.1)
            if not r:
                continue
            try:
                data = os.read(src, 4096)
            except OSError:  # the other side closed
                continue
            if data:
                os.write(dst, data)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for t in self._threads:
            t.join(timeout=2)
        for fd in (self._board_m, self._host_m, self._host_s):
            try:
                os.close(fd)
            except OSError:
                pass
