"""Virtual board: the real firmware in the MicroPython unix port, lock-stepped
with an emulated cell.

``VirtualBoard`` starts ``micropython -m firmware.main`` in a folder laid
out like a board's root (the precompiled ``firmware/`` and ``shared/``,
host/mpybuild.py, imported from the current folder exactly as on a board)
and serves its board driver (firmware/boards/emulated.py): each request
carries the firmware's actuator state and a tick length; the server
advances the cell by that much simulated time (sub-stepped to
``max_substep_s``) and answers with what the board's sensors read.
Simulated time therefore advances only when the firmware asks, so a run is
as fast as the firmware's ticks, and deterministic for a seed.

The link (``transport``): two FIFOs by default, one write and one read
per exchange on either side, the cheapest round trip between two processes
on one machine (a third of loopback TCP's: ``platewise bench hil
--transport``); ``"tcp"`` serves the same protocol on a loopback socket.

Processor in the loop (``device``): the firmware runs on a real board
flashed with ``platewise flash --pil`` (firmware/boards/pil.py), and this
serves it over the board's serial line (hil/boardlink.py, SerialLink)
instead of starting the unix port: the same cell, sensors, fault injection
and pacing. ``stdout`` is then what the board printed on the line, and
``wait()`` returns 0 once the board said goodbye, 1 if the line went
silent or closed without one.

Pacing: the broker lives in real time, so virtual time must never outrun
it, or a run much faster than real time would lose messages to the
speed-up. Every answer of the server gives the board's driver two limits
(``backlog_max``, ``offline_speedup``), and the driver's tick wait applies
them: while its MQTT client is connected and more than ``backlog_max``
messages wait, virtual time is held while the client is serviced; while it
is not connected, virtual time runs at most ``offline_speedup`` times real
time, so the reconnect backoff (real time) is not stretched into hours of
simulated outage. The firmware's loop and config know nothing of it.

Where the wall time goes (``timing``, read by hil/benchhil.py): each
request carries three of the VM's microsecond stamps (when the last answer
arrived, when its tick wait began, when the request left), so the loop's
wall time splits, exchange by exchange, into the firmware's own work
(tick, reports, MQTT service), its pacing hold, the server's work (cell
step and sensors) and the link between them (the firmware's round trip
less the server's share).

Failure behaviour: if the firmware process dies, ``wait()`` returns its
exit code and the tail of its output; a firmware that does not connect
within ``connect_timeout_s`` raises ``HilError``; so does a temporary
folder whose path has whitespace (the FIFOs' paths travel space-separated).
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from platewise.hil.boardlink import REQUEST_MARK, FifoLink, SerialLink, TcpLink, process_cpu_s
from platewise.host.mpybuild import BOARD_ROOT, micropython_env, micropython_path

FIRMWARE_MAIN = BOARD_ROOT / "firmware" / "main.py"

# firmware/boards/emulated.py: op, dt_ms, setpoint, contactor, and the VM's
# ticks_us when the last answer arrived, the wait began, the request left.
_REQ = struct.Struct("<BIdBQQQ")
_RESP = struct.Struct("<QddddII")  # ..., backlog_max, offline_speedup
_OP_STEP = 1
_OP_BYE = 2
TRANSPORTS = ("fifo", "tcp", "serial")


# The firmware's heap in HIL: on this 64-bit port objects are up to twice a
# 32-bit MCU's, so a board (a Pico W has about 190 KB free with Wi-Fi up)
# has more room than this (docs/firmware.md, Heap: where it goes, what
# binds, the margin).
DEFAULT_HEAPSIZE = "96K"
# Pacing limits (module doc): a backlog below the firmware's default
# outbox_size (8), so the clock waits with RAM to spare; offline, 100x real
# time makes the longest reconnect backoff (16 s by default) under 27
# simulated minutes.
DEFAULT_BACKLOG_MAX = 4
DEFAULT_OFFLINE_SPEEDUP = 100


class HilError(RuntimeError):
    pass


def _recv_rest(readinto, got: int, n: int, view: memoryview) -> bool:
    """Complete a request of which ``got`` bytes came (False: the link closed)."""
    while got < n:
        k = readinto(view[got:])
        if not k:
            return False
        got += k
    return True


class VirtualBoard:
    def __init__(
        self,
        cell,
        sensors,
        fw_config: dict,
        heapsize: str | None = DEFAULT_HEAPSIZE,
        compiled: bool = True,
        flash_dir: str | os.PathLike | None = None,
        max_substep_s: float = 1.0,
        connect_timeout_s: float = 20.0,
        on_step=None,
        backlog_max: int = DEFAULT_BACKLOG_MAX,
        offline_speedup: int = DEFAULT_OFFLINE_SPEEDUP,
        transport: str = "fifo",
        device: str | None = None,
    ):
        self.cell = cell
        self.sensors = sensors
        self.fw_config = dict(fw_config)
        self.cell_id = self.fw_config["cell_id"]
        if not 1 <= backlog_max <= 0xFFFFFFFF or not 1 <= offline_speedup <= 0xFFFFFFFF:
            raise ValueError(f"backlog_max {backlog_max}, offline_speedup {offline_speedup}: each must be 1..2**32-1")
        # The clock must wait before the RAM outbox is full: without a flash
        # spill, a message put into a full outbox drops the oldest sample.
        # (A config without the key has the firmware's default, 8.)
        outbox_size = self.fw_config.get("outbox_size")
        if isinstance(outbox_size, int) and backlog_max >= outbox_size:
            raise ValueError(f"backlog_max {backlog_max}: must be below the firmware's outbox_size {outbox_size}")
        if device is not None:
            transport = "serial"
        if transport not in TRANSPORTS:
            raise ValueError(f"transport {transport!r}: must be one of {', '.join(TRANSPORTS)}")
        if (transport == "serial") != (device is not None):
            raise ValueError("transport 'serial' is a real board's: give its device")
        self.transport = transport
        self.device = device
        self._link: SerialLink | None = None
        self._bye = False
        self.backlog_max = backlog_max
        self.offline_speedup = offline_speedup
        self.heapsize = heapsize
        # Precompiled bytecode (host/mpybuild.py), as a board runs it; False
        # runs the sources (compiled at import, which needs a larger heap).
        self.compiled = compiled
        # A board's filesystem as `platewise flash` left it (/main.py stub,
        # firmware/ and shared/ as .mpy, config.json): booted as a board boots,
        # `micropython main.py` in that folder, with its own config.
        self.flash_dir = flash_dir
        self.max_substep_s = max_substep_s
        self.connect_timeout_s = connect_timeout_s
        self.on_step = on_step  # called as on_step(board) after every tick
        # Cap on virtual seconds per real second (None: as fast as the
        # firmware ticks). A test that talks to the board in real time (sends
        # a command and waits for its answer) sets it, so the firmware cannot
        # run out its max_run_s before the command arrives; see speed_cap().
        self._speed_max: float | None = None
        self._speed_anchor = (0.0, 0)
        self.t_ms = 0
        self.steps = 0
        self.current_a = 0.0
        self.contactor = False
        # Fault injection at the actuator: a current source / load stuck at
        # this current while the contactor is closed (None: healthy). Only
        # the contactor can stop it, which is what the supervisor is for.
        self.actuator_stuck_a: float | None = None
        # Where the loop's wall time went, in microseconds (module doc),
        # complete once the firmware has said goodbye: firmware_us (its own
        # work between an answer and its next wait), hold_us (its pacing
        # waits), emulator_us (the server's work per request), ipc_us (the
        # firmware's round trips less that work), cap_us (speed_cap's
        # sleeps), loop_us (the first request to the last answer: the four
        # add up to it, but for two one-way trips); and CPU seconds
        # (server thread, firmware process) at the goodbye.
        self.timing: dict = {}
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None
        self._dir: tempfile.TemporaryDirectory | None = None
        self._serve_error: BaseException | None = None
        self.stdout = ""
        self.stderr = ""
        self.summary: dict | None = None

    # --- lifecycle ------------------------------------------------------
    def start(self) -> "VirtualBoard":
        if self.device is not None:
            return self._start_serial()
        self._dir = tempfile.TemporaryDirectory(prefix=f"platewise-{self.cell_id}-")
        cfg_path = os.path.join(self._dir.name, "config.json")
        with open(cfg_path, "w") as f:
            json.dump(self.fw_config, f)
        argv = [micropython_path()]
        if self.heapsize:
            argv += ["-X", f"heapsize={self.heapsize}"]
        link = self._fifo_listen() if self.transport == "fifo" else self._tcp_listen()
        extra = {"PLATEWISE_CONFIG": cfg_path, "PLATEWISE_HIL": link.spec}
        cwd = self._dir.name
        if self.flash_dir is not None:
            cwd = str(self.flash_dir)
            del extra["PLATEWISE_CONFIG"]  # the flashed config.json, found as a board finds it
            # A board runs /main.py with '' first on sys.path; `-m main`
            # does the same (a script path would put its folder there).
            argv += ["-m", "main"]
            env = micropython_env(extra, path="")
        elif self.compiled:
            from platewise.host.mpybuild import build, mount

            # The compiled tree, linked into the board's folder and imported
            # from '' as on a board (the names each module interns are the
            # board's: see host.mpybuild).
            mount(build(), Path(cwd))
            argv += ["-m", "firmware.main"]
            env = micropython_env(extra, path="")
        else:
            argv.append(str(FIRMWARE_MAIN))
            env = micropython_env(extra)
        self._proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            readinto, write, close = link.accept()
        except TimeoutError:
            self.kill()
            raise HilError(
                f"{self.cell_id}: firmware did not connect (exit {self._proc.returncode}): "
                f"{self.stdout[-400:]} {self.stderr[-1200:]}"
            ) from None
        except BaseException:
            self.kill()
            raise
        self._thread = threading.Thread(
            target=self._serve, args=(readinto, write, close), name=f"hil-{self.cell_id}", daemon=True
        )
        self._thread.start()
        return self

    def _start_serial(self) -> "VirtualBoard":
        try:
            link = SerialLink(self.device, self._connecting)
        except OSError as e:
            raise HilError(f"{self.cell_id}: {e}") from None
        try:
            readinto, write, close = link.accept()
        except TimeoutError:
            raise HilError(
                f"{self.cell_id}: no board answered on {self.device} within {self.connect_timeout_s:g} s "
                f"(flashed with platewise flash --pil, and reset?): {link.text()[-400:]}"
            ) from None
        self._link = link
        self._thread = threading.Thread(
            target=self._serve, args=(readinto, write, close), name=f"pil-{self.cell_id}", daemon=True
        )
        self._thread.start()
        return self

    def _connecting(self, waited_s: float) -> None:
        """Between tries to reach the firmware: TimeoutError once it died or took too long."""
        if (self._proc is not None and self._proc.poll() is not None) or waited_s > self.connect_timeout_s:
            raise TimeoutError

    def _fifo_listen(self) -> FifoLink:
        assert self._dir is not None
        link = FifoLink(self._dir.name, self._connecting)
        if any(c.isspace() for c in link.spec.replace(" ", "", 1)):
            link.close()
            raise HilError(f"{self.cell_id}: temporary folder {self._dir.name!r} has whitespace; set TMPDIR or use transport='tcp'")
        return link

    def _tcp_listen(self) -> TcpLink:
        return TcpLink(self._connecting)

    def _serve(self, readinto, write, close) -> None:
        mark = len(REQUEST_MARK)
        req = bytearray(mark + _REQ.size)
        view = memoryview(req)
        resp = bytearray(_RESP.size)
        n = len(req)
        unpack, pack = _REQ.unpack_from, _RESP.pack_into
        clock = time.monotonic_ns
        fw_us = hold_us = ipc_us = emu_us = cap_us = 0
        first_ns = last_ns = 0
        prev_send_us = prev_host_us = 0
        cpu0 = time.thread_time()
        try:
            while True:
                k = readinto(req)  # a whole request (a FIFO's always is)
                if k != n and (not k or not _recv_rest(readinto, k, n, view)):
                    break
                h_rx = clock()
                if not req.startswith(REQUEST_MARK):
                    raise HilError(f"{self.cell_id}: a request without its mark: {bytes(req[:mark])!r}")
                op, dt_ms, setpoint_a, contactor, t_rx_us, t_wait_us, t_send_us = unpack(req, mark)
                if t_rx_us:  # not the first request: the last exchange's answer arrived then
                    ipc_us += t_rx_us - prev_send_us - prev_host_us
                    if op == _OP_STEP:
                        fw_us += t_wait_us - t_rx_us
                else:
                    first_ns = h_rx
                self.contactor = bool(contactor)
                if self.actuator_stuck_a is not None:
                    setpoint_a = self.actuator_stuck_a
                self.current_a = setpoint_a if self.contactor else 0.0
                if op == _OP_BYE:
                    self._bye = True
                    self._timing(fw_us, hold_us, ipc_us, emu_us, cap_us, (last_ns - first_ns) // 1000, cpu0)
                    return
                hold_us += t_send_us - t_wait_us
                if dt_ms:
                    self._advance(dt_ms)
                    if self._speed_max is not None:
                        h_cap = clock()
                        self._pace()
                        cap_us += (clock() - h_cap) // 1000
                v, i, t, p = self.sensors.read(self.cell, self.current_a)
                pack(resp, 0, self.t_ms, v, i, t, p, self.backlog_max, self.offline_speedup)
                h_tx = last_ns = clock()
                write(resp)
                prev_host_us = (h_tx - h_rx) // 1000
                emu_us += prev_host_us
                prev_send_us = t_send_us
                self.steps += 1
                if self.on_step is not None:
                    self.on_step(self)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the firmware went away mid-exchange: its exit code says why
        except BaseException as e:  # reported by wait()
            self._serve_error = e
        finally:
            close()

    def _timing(self, fw_us, hold_us, ipc_us, emu_us, cap_us, loop_us, cpu0) -> None:
        self.timing = {
            "firmware_us": fw_us,
            "hold_us": hold_us,
            "emulator_us": emu_us - cap_us,
            "ipc_us": ipc_us,
            "cap_us": cap_us,
            "loop_us": loop_us,
            "steps": self.steps,
            "server_cpu_s": time.thread_time() - cpu0,
            "firmware_cpu_s": process_cpu_s(self._proc.pid) if self._proc is not None else None,
        }

    def speed_cap(self, virtual_s_per_real_s: float | None) -> None:
        """Hold virtual time to at most this many seconds per real second from
        now on (None lifts the cap). Safe to call while the board runs."""
        self._speed_anchor = (time.monotonic(), self.t_ms)
        self._speed_max = virtual_s_per_real_s

    def _pace(self) -> None:
        cap = self._speed_max
        if cap is None:
            return
        real0, virt0_ms = self._speed_anchor
        due = real0 + (self.t_ms - virt0_ms) / 1000.0 / cap
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)

    def _advance(self, dt_ms: int) -> None:
        remaining_s = dt_ms / 1000.0
        step_s = self.max_substep_s
        while remaining_s > 1e-12:
            h = step_s if remaining_s > step_s else remaining_s
            self.cell.step(h, self.current_a)
            remaining_s -= h
        self.t_ms += dt_ms

    @property
    def t_s(self) -> float:
        return self.t_ms / 1000.0

    def running(self) -> bool:
        if self._link is not None:
            return self._thread is not None and self._thread.is_alive()
        return self._proc is not None and self._proc.poll() is None

    def _wait_serial(self, timeout_s: float | None) -> int:
        assert self._thread is not None and self._link is not None
        self._thread.join(timeout=timeout_s)
        if self._thread.is_alive():
            self._link.close()
            self._thread.join(timeout=10)
            raise HilError(f"{self.cell_id}: the board on {self.device} still running after {timeout_s} s; link closed")
        self.stdout, self.stderr = self._link.text(), ""
        self._read_output(self.stdout)
        if self._serve_error is not None:
            raise HilError(f"{self.cell_id}: emulator side failed: {self._serve_error!r}")
        return 0 if self._bye else 1

    def wait(self, timeout_s: float | None = None) -> int:
        """Wait for the firmware to exit; parse its PLATEWISE-EXIT line."""
        if self._link is not None:
            return self._wait_serial(timeout_s)
        assert self._proc is not None
        try:
            out, err = self._proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            out, err = self._proc.communicate()
            self.stdout, self.stderr = out, err
            raise HilError(f"{self.cell_id}: firmware still running after {timeout_s} s; killed")
        self.stdout, self.stderr = out, err
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._read_output(out)
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
        if self._serve_error is not None:
            raise HilError(f"{self.cell_id}: emulator side failed: {self._serve_error!r}")
        return self._proc.returncode

    def _read_output(self, out: str) -> None:
        """The summary (PLATEWISE-EXIT) and the interned names' lines of what the firmware printed."""
        qstr = []
        for line in out.splitlines():
            if line.startswith("qstr pool: "):
                # micropython.qstr_info(), at loop start and at the end:
                # "qstr pool: n_pool=5, n_qstr=609, n_str_data_bytes=.., n_total_bytes=..".
                qstr.append({k: int(v) for k, v in (kv.split("=") for kv in line[len("qstr pool: ") :].split(", "))})
            if line.startswith("PLATEWISE-EXIT "):
                self.summary = json.loads(line[len("PLATEWISE-EXIT ") :])
        if self.summary is not None and qstr:
            # The interned names: pools and names at the end of the run, and
            # the names when the loop started.
            self.summary["qstr_pools"] = qstr[-1]["n_pool"]
            self.summary["qstr_count"] = qstr[-1]["n_qstr"]
            self.summary["qstr_bytes"] = qstr[-1]["n_total_bytes"]
            self.summary["qstr_count_start"] = qstr[0]["n_qstr"]

    def kill(self) -> None:
        if self._link is not None:
            self._link.close()  # the serve loop ends; a real board waits in its next read
            return
        p = self._proc
        if p is None:
            return
        if p.poll() is None:
            p.kill()
        if p.stdout is not None and not p.stdout.closed:  # its output, unless wait() has it
            out, err = p.communicate()
            self.stdout, self.stderr = out or "", err or ""
