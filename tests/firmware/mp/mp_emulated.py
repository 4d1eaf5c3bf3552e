"""The emulated board's tick wait (firmware/boards/emulated.py) under
MicroPython, against a scripted emulator socket and a stand-in MQTT link.
Run: micropython mp_emulated.py [case ...]; output as mp_drivers.py."""

import struct
import sys
import time

from mp_fakes import run_cases

from firmware.boards.emulated import EmulatedBoard


class _Emulator:
    """The socket to the cell emulator: answers each step request with
    virtual time advanced by its dt_ms, and the pacing limits."""

    def __init__(self, log, backlog_max, offline_speedup):
        self.log = log
        self.t_ms = 0
        self.limits = (backlog_max, offline_speedup)
        self.pending = b""
        self.steps = []

    def connect(self, addr):
        self.log.append("connect")

    def write(self, buf):
        assert bytes(buf[:4]) == b"\x00PW>", buf[:4]  # every request's mark
        op, dt_ms, setpoint_a, contactor, _t_rx, _t_wait, _t_send = struct.unpack("<BIdBQQQ", buf[4:])
        self.log.append("step %d" % dt_ms)
        self.steps.append(dt_ms)
        if op == 1:
            self.t_ms += dt_ms
            self.pending += struct.pack("<QddddII", self.t_ms, 3.3, 0.0, 25.0, 1.0, self.limits[0], self.limits[1])
        return len(buf)

    def readinto(self, mv):
        n = min(len(mv), len(self.pending))
        mv[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n

    def close(self):
        pass


class _SocketModule:
    def __init__(self, emulator):
        self.emulator = emulator

    def socket(self):
        return self.emulator

    def getaddrinfo(self, host, port):
        return [(2, 1, 0, "", (host, port))]


class _Link:
    """The MQTT client as the wait sees it: each service call gets one
    message acknowledged."""

    def __init__(self, log, backlog, up=True):
        self.log = log
        self.n = backlog
        self.up = up
        self.waits = []

    def connected(self):
        return self.up

    def backlog(self):
        return self.n

    def service(self, now_ms, wait_ms):
        self.log.append("service")
        self.waits.append(wait_ms)
        if self.n:
            self.n -= 1


def _board(log, backlog_max=4, offline_speedup=20):
    em = _Emulator(log, backlog_max, offline_speedup)
    return EmulatedBoard.connect("127.0.0.1:9", _SocketModule(em)), em


def case_connected_backlog_holds_virtual_time():
    log = []
    b, em = _board(log)
    link = _Link(log, 7)
    t0 = time.ticks_ms()
    b.wait_tick(1000, link)
    real_ms = time.ticks_diff(time.ticks_ms(), t0)
    # Then a tick at the limit: nothing to hold.
    b.wait_tick(1000, link)
    return {"log": log, "waits": link.waits, "backlog": link.n, "board_ms": b.ticks_ms(), "real_ms": real_ms}


def case_offline_caps_the_speedup():
    log = []
    b, em = _board(log, offline_speedup=20)
    link = _Link(log, 50, up=False)  # a backlog, but no broker to hold for
    t0 = time.ticks_ms()
    for _ in range(5):
        b.wait_tick(1000, link)
    real_ms = time.ticks_diff(time.ticks_ms(), t0)
    return {"steps": em.steps, "services": len(link.waits), "board_ms": b.ticks_ms(), "real_ms": real_ms}


def case_without_link_no_pacing():
    log = []
    b, em = _board(log, offline_speedup=1)  # 1x: a paced tick would take 1 s
    t0 = time.ticks_ms()
    b.wait_tick(1000)
    return {"steps": em.steps, "board_ms": b.ticks_ms(), "real_ms": time.ticks_diff(time.ticks_ms(), t0)}


run_cases(globals(), sys.argv[1:])
