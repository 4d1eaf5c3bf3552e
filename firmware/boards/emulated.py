"""Virtual board: the board driver used under the MicroPython unix port in HIL.

The cell, its sensors and the actuators live in the host's cell emulator,
reached over a TCP socket (``PLATEWISE_HIL=host:port``). The board's clock
is virtual and owned by the emulator: ``wait_tick(period_ms, client)``
sends the actuator state and the tick length, the emulator advances the cell by
that much simulated time and answers with the new readings. So a simulated
hour takes as long as its ticks take to compute, not an hour.

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
  request  ``<BIdB``: op (1 step, 2 bye), dt_ms, current setpoint A, contactor 0/1
  response ``<QddddII``: virtual time ms, voltage V, current A, temperature C,
           pressure MPa, backlog_max, offline_speedup

Network time (MQTT keepalive, reconnect backoff) is real time, so
``net_ticks_ms`` reads the host's monotonic clock.

Failure behaviour: if the emulator goes away, ``wait_tick`` raises OSError
and main.py ends in the safe state.
"""

import struct
import time
from shared.compat import const

_REQ = const("<BIdB")
_RESP = const("<QddddII")
_OP_STEP = const(1)
_OP_BYE = const(2)
_TICKS_MASK = const((1 << 30) - 1)
_HOLD_POLL_MS = const(5)  # how long one service call of a held tick may wait for the broker


class EmulatedBoard:
    def __init__(self, sock):
        self._sock = sock
        self._req = bytearray(struct.calcsize(_REQ))
        self._resp = bytearray(struct.calcsize(_RESP))
        self._mv = memoryview(self._resp)
        self._t_ms = 0
        self._v = 0.0
        self._i = 0.0
        self._t = 25.0
        self._p = 0.0
        self._setpoint_a = 0.0
        self._contactor = 0
        self._backlog_max = 0
        self._offline_speedup = 1
        self.watchdog_feeds = 0

    @classmethod
    def connect(cls, spec, socket_mod):
        host, port = spec.rsplit(":", 1)
        s = socket_mod.socket()
        s.connect(socket_mod.getaddrinfo(host, int(port))[0][-1])
        b = cls(s)
        b._exchange(0)  # first readings at t = 0
        return b

    def _exchange(self, dt_ms, op=_OP_STEP):
        struct.pack_into(_REQ, self._req, 0, op, dt_ms, self._setpoint_a, self._contactor)
        self._sock.write(self._req)
        if op != _OP_STEP:
            return
        got = 0
        n = len(self._resp)
        while got < n:
            k = self._sock.readinto(self._mv[got:])
            if not k:
                raise OSError(104)  # emulator closed the link
            got += k
        self._t_ms, self._v, self._i, self._t, self._p, self._backlog_max, self._offline_speedup = struct.unpack_from(_RESP, self._resp, 0)

    # --- clock ---
    def ticks_ms(self):
        return self._t_ms & _TICKS_MASK

    def time_s(self):
        return self._t_ms / 1000.0

    def net_ticks_ms(self):
        return time.ticks_ms()  # type: ignore[attr-defined]

    def wait_tick(self, period_ms, client=None):
        """The next tick, ``period_ms`` of virtual time on, paced by the MQTT
        ``client`` (``connected()``, ``backlog()``, ``service(now_ms,
        wait_ms)``) as the module doc says."""
        if client is not None:
            while client.connected() and client.backlog() > self._backlog_max:
                client.service(time.ticks_ms(), _HOLD_POLL_MS)  # type: ignore[attr-defined]
            if not client.connected():
                real_ms = period_ms // self._offline_speedup
                if real_ms > 0:
                    time.sleep_ms(real_ms)  # type: ignore[attr-defined]
        self._exchange(period_ms)

    # --- sensors ---
    def read_voltage_v(self):
        return self._v

    def read_current_a(self):
        return self._i

    def read_temperature_c(self):
        return self._t

    def read_pressure_mpa(self):
        return self._p

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
            self._exchange(0, _OP_BYE)
        except OSError:
            pass
        self._sock.close()
