"""Shared by the self-checks: a board at the hardware boundary that reads the
check's own numbers and records what the firmware set."""


class Board:
    def __init__(self, v=3.3, i=0.0, t=25.0, p=1.0):
        self.v = v  # what the channels read
        self.i_read = i
        self.t = t
        self.p = p
        self.t_s = 0.0
        self.i = 0.0  # what the firmware set
        self.c = False
        self.net_ms = 0  # the network clock (net_ticks_ms)

    def read_voltage_v(self):
        return self.v

    def read_current_a(self):
        return self.i_read

    def read_temperature_c(self):
        return self.t

    def read_pressure_mpa(self):
        return self.p

    def time_s(self):
        return self.t_s

    def net_ticks_ms(self):
        return self.net_ms

    def set_current_a(self, a):
        self.i = a

    def set_contactor(self, closed):
        self.c = closed
