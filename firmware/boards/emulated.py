"""Virtual board: the board driver used under the MicroPython unix port in HIL.

The cell, its sensors and the actuators live in the host's cell emulator.
The board's clock is virtual and owned by the emulator: ``wait_tick(period_ms,
client)`` sends the actuator state and the tick length, the emulator advances
the cell by that much simulated time and answers with the new readings. So a
simulated hour takes as long as its ticks take to compute, not an hour.

The link (``PLATEWISE_HIL``): two FIFOs, ``"REQUESTS ANSWERS"`` (their paths,
a space between), which the emulator made: a request and its answer are one
write each, below the pipe's atomic size, so each is one system call on
either side and arrives whole; or ``host:port``, a TCP socket (an emulator
on another machine), read until an answer is complete.

Pacing (this board's part of the tick wait; the firmware's loop knows
nothing of it): the broker lives in real time even when the cell does not,
so virtual time must not outrun it, or a run much faster than real time
would lose messages to the speed-up. While the MQTT client is connected and
more than ``backlog_max`` messages wait, the wait holds virtual time and
services the client; while it is not connected, each tick spends at least
``period_ms // offline_speedup`` ms of real time, so the reconnect backoff
(real time) is not stretched into hours of simulated outage. Both limits
are the emulator's: every answer carries them.

Wire format (little-endian, fixed size):
  request  ``\x00PW>`` then ``<BIdBQQQ``: op (1 step, 2 bye), dt_ms, current setpoint A,
           contactor 0/1, and three of the VM's ``ticks_us``: when the last
           answer arrived, when this wait began, when this request left
           (the emulator splits the loop's wall time with them:
           hil/benchhil.py)
  response ``<QddddII``: virtual time ms, voltage V, current A, temperature C,
           pressure MPa, backlog_max, offline_speedup

The request's four-byte mark costs nothing on a FIFO or a socket; on a
serial line (processor in the loop, firmware/boards/pil.py) it is how the
host finds each request among the text the firmware prints on the same
line: a NUL never occurs in that text.

Network time (MQTT keepalive, reconnect backoff) is real time, so
``net_ticks_ms`` reads the host's monotonic clock.

Failure behaviour: if the emulator goes away, ``wait_tick`` raises OSError
and main.py ends in the safe state.
"""

import struct
import time
from shared.compat import const

_REQ = const("<BIdBQQQ")
_REQ_AT = const(4)  # the request follows its mark, b"\x00PW>"
_RESP = const("<QddddII")
_OP_STEP = const(1)
_OP_BYE = const(2)
_TICKS_MASK = const((1 << 30) - 1)
_HOLD_POLL_MS = const(5)  # how long one service call of a held tick may wait for the broker
# The answer's fields, as unpacked (compile-time names: nothing interned).
_A_T_MS = const(0)
_A_V = const(1)
_A_I = const(2)
_A_T = const(3)
_A_P = const(4)
_A_BACKLOG_MAX = const(5)
_A_OFFLINE_SPEEDUP = const(6)


class EmulatedBoard:
    def __init__(self, rx, tx):
        self._rx = rx  # answers come from here, requests go to tx (one socket: both)
        self._tx = tx
        self._req = bytearray(b"\x00PW>" + bytes(struct.calcsize(_REQ)))
        self._resp = bytearray(struct.calcsize(_RESP))
        self._mv = memoryview(self._resp)
        self._r = (0, 0.0, 0.0, 25.0, 0.0, 0, 1)  # the last answer, as unpacked
        self._t_rx = 0  # ticks_us when it arrived
        self._setpoint_a = 0.0
        self._contactor = 0
        self.watchdog_feeds = 0

    @classmethod
    def connect(cls, spec, socket_mod):
        fifos = spec.split()
        if len(fifos) == 2:
            # The emulator holds the request FIFO open for reading, so this
            # opens at once; the answer FIFO opens when the emulator does.
            b = cls(None, open(fifos[0], "wb"))
            b._rx = open(fifos[1], "rb")
        else:
            host, port = spec.rsplit(":", 1)
            s = socket_mod.socket()
            s.connect(socket_mod.getaddrinfo(host, int(port))[0][-1])
            b = cls(s, s)
        b._exchange(0, _OP_STEP, time.ticks_us())  # type: ignore[attr-defined]  # first readings at t = 0
        return b

    def _exchange(self, dt_ms, op, t0):
        """One request (``t0``: when the wait began) and, for a step, its answer."""
        struct.pack_into(_REQ, self._req, _REQ_AT, op, dt_ms, self._setpoint_a, self._contactor, self._t_rx, t0, time.ticks_us())  # type: ignore[attr-defined]
        self._tx.write(self._req)
        if op != _OP_STEP:
            return
        got = 0
        n = len(self._resp)
        while got < n:
            # The whole answer in one read (a FIFO's always is); a view of
            # the rest only for a partial one.
            k = self._rx.readinto(self._mv[got:] if got else self._resp)
            if not k:
                raise OSError(104)  # emulator closed the link
            got += k
        self._t_rx = time.ticks_us()  # type: ignore[attr-defined]
        self._r = struct.unpack_from(_RESP, self._resp, 0)

    # --- clock ---
    def ticks_ms(self):
        return int(self._r[_A_T_MS]) & _TICKS_MASK  # an int already: int() for the type checker

    def time_s(self):
        return self._r[_A_T_MS] / 1000.0

    def net_ticks_ms(self):
        return time.ticks_ms()  # type: ignore[attr-defined]

    def wait_tick(self, period_ms, client=None):
        """The next tick, ``period_ms`` of virtual time on, paced by the MQTT
        ``client`` (``connected()``, ``backlog()``, ``service(now_ms,
        wait_ms)``) as the module doc says."""
        t0 = time.ticks_us()  # type: ignore[attr-defined]
        if client is not None:
            while client.connected() and client.backlog() > self._r[_A_BACKLOG_MAX]:
                client.service(time.ticks_ms(), _HOLD_POLL_MS)  # type: ignore[attr-defined]
            if not client.connected():
                real_ms = period_ms // self._r[_A_OFFLINE_SPEEDUP]
                if real_ms > 0:
                    time.sleep_ms(real_ms)  # type: ignore[attr-defined]
        self._exchange(period_ms, _OP_STEP, t0)

    # --- sensors ---
    def read_voltage_v(self):
        return self._r[_A_V]

    def read_current_a(self):
        return self._r[_A_I]

    def read_temperature_c(self):
        return self._r[_A_T]

    def read_pressure_mpa(self):
        return self._r[_A_P]

    # --- actuators ---
    def set_current_a(self, a):
        self._setpoint_a = a

    def set_contactor(self, closed):
        self._contactor = 1 if closed else 0

    def feed_watchdog(self):
        self.watchdog_feeds += 1

    def close(self):
        try:
            self._setpoint_a = 0.0
            self._contactor = 0
            self._exchange(0, _OP_BYE, 0)
        except OSError:
            pass
        self._tx.close()
        if self._rx is not self._tx:
            self._rx.close()
