"""A board on a serial line, for mpremote: the MicroPython unix port on a
pseudo-terminal, its working folder standing for the board's filesystem.

mpremote opens a serial device and speaks MicroPython's raw REPL, which the
unix port implements. Two pty pairs and a relay make a device path that
mpremote opens like /dev/ttyACM0 (the fake is only the cable: what answers
is the real MicroPython VM). The unix port exits where a board would soft-
reset, so mpremote must be used with ``resume`` (platewise flash does).

``boots=True`` stands for the board's power and reset line too: the board
boots as a board does, running its ``main.py`` (``micropython -m main`` in
the folder, 96 KB heap), at power-on and when the host sends
``machine.reset()`` (mpremote's ``reset``; the unix port has no such
function, so the REPL is stopped instead); when main.py returns (or there
is none), the REPL is up. ``booted`` counts the boots. As a USB board's
port does, the device (then a link to the pty) is gone for
``REBOOT_GONE_S`` from the reset on, so a tool that talks to the board
after a reset opens it again once the boot has printed what it prints.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import threading
import tty
from pathlib import Path

from platewise.host.mpybuild import micropython_env, micropython_path

RESET = b"machine.reset()"
REBOOT_GONE_S = 0.5


class PtyBoard:
    def __init__(self, fs_dir: Path, boots: bool = False, heapsize: str = "96K"):
        import tempfile

        self.fs_dir = Path(fs_dir)
        self._links = tempfile.TemporaryDirectory(prefix="platewise-tty-")
        self.boots = boots
        self.heapsize = heapsize
        self.booted = 0  # times main.py ran
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._seen = b""  # the host's last bytes, for a reset split across reads

    def _repl(self) -> subprocess.Popen:
        env = {"MICROPYPATH": ".:.frozen", "PATH": os.environ.get("PATH", "/usr/bin")}
        return subprocess.Popen(
            [micropython_path()], stdin=self._board_s, stdout=self._board_s, stderr=self._board_s, cwd=self.fs_dir, env=env
        )

    def _main(self) -> subprocess.Popen:
        self.booted += 1
        argv = [micropython_path(), "-X", f"heapsize={self.heapsize}", "-m", "main"]
        return subprocess.Popen(
            argv, stdin=self._board_s, stdout=self._board_s, stderr=self._board_s, cwd=self.fs_dir, env=micropython_env(path="")
        )

    def __enter__(self) -> "PtyBoard":
        self._board_m, self._board_s = pty.openpty()
        self._host_m, host_s = pty.openpty()
        for fd in (self._board_s, host_s):
            tty.setraw(fd)
        self.proc = self._main() if self.boots else self._repl()
        self._tty = os.ttyname(host_s)
        self.device = self._tty
        if self.boots:
            self.device = os.path.join(self._links.name, "ttyPW0")
            os.symlink(self._tty, self.device)
        self._host_s = host_s  # kept open: the device exists while we hold it
        self._threads = [
            threading.Thread(target=self._relay, args=(self._board_m, self._host_m, False), daemon=True),
            threading.Thread(target=self._relay, args=(self._host_m, self._board_m, True), daemon=True),
        ]
        if self.boots:
            self._threads.append(threading.Thread(target=self._power, daemon=True))
        for t in self._threads:
            t.start()
        return self

    def _relay(self, src: int, dst: int, from_host: bool) -> None:
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
                if self.boots:
                    self._watch_reset(data, from_host)

    def _watch_reset(self, data: bytes, from_host: bool) -> None:
        # mpremote's reset runs "time.sleep_ms(100); machine.reset()" on the
        # board without waiting for its end: the reset comes 100 ms after.
        if from_host:
            self._seen = (self._seen + data)[-64:]
            if RESET in self._seen:
                self._seen = b""
                threading.Timer(0.1, self._reset).start()

    def _reset(self) -> None:
        with self._lock:
            os.unlink(self.device)  # the board's port goes away while it reboots
            threading.Timer(REBOOT_GONE_S, os.symlink, (self._tty, self.device)).start()
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def _power(self) -> None:
        """The board's life: main.py -> REPL -> (reset) -> main.py -> REPL -> ..."""
        in_main = True
        while not self._stop.is_set():
            with self._lock:
                if self.proc.poll() is not None and not self._stop.is_set():
                    in_main = not in_main
                    self.proc = self._main() if in_main else self._repl()
            self._stop.wait(0.05)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        with self._lock:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(timeout=10)
        for t in self._threads:
            t.join(timeout=2)
        for fd in (self._board_m, self._board_s, self._host_m, self._host_s):
            try:
                os.close(fd)
            except OSError:
                pass
        self._links.cleanup()
