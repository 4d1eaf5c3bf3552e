"""Composes the board's messages (telemetry contract v1) and queues them.

Sequence numbers: every data message (telemetry, cycle, event) takes the
next number, starting at 1 after boot. Status messages (the retained birth
message and the last will) carry the current watermark, the seq of the last
data message produced, without taking a new number: they are connection
state, and a will that the broker never publishes (because the broker itself
went down) must not look like lost data. The twin counts gaps over data
messages only.

Priorities: cycle summaries, events and status go to the outbox as
priority messages, which are dropped only after every sample is.
"""

from shared import wire

FW_VERSION = "0.1.0"


class Reporter:
    def __init__(self, cell_id, net):
        self.cell_id = cell_id
        self.net = net
        self.seq = 0  # last data seq used
        self.boot = 1
        self._t_telemetry = wire.topic(cell_id, "telemetry")
        self._t_cycle = wire.topic(cell_id, "cycle")
        self._t_event = wire.topic(cell_id, "event")
        self._t_status = wire.topic(cell_id, "status")
        self.cmd_topic = wire.topic(cell_id, "cmd")

    def _next(self):
        self.seq += 1
        return self.seq

    def sample(self, meas, r_ohm, state, i_limit_a=None):
        c = meas.cycle
        # v, cell and seq (set by wire.encode) are in the literal, so the
        # dict is made at its final size and never grows (each growth wants
        # a larger contiguous block).
        msg = {
            "v": 0,
            "cell": "",
            "seq": 0,
            "t_s": meas.t_s,
            "voltage_v": meas.voltage_v,
            "current_a": meas.current_a,
            "temperature_c": meas.temperature_c,
            "pressure_mpa": meas.pressure_mpa,
            "cycle": c.index,
            "cycle_charge_ah": c.charge_ah,
            "cycle_discharge_ah": c.discharge_ah,
            "total_charge_ah": meas.total_charge_ah,
            "total_discharge_ah": meas.total_discharge_ah,
            "r_ohm": r_ohm,
            "state": state,
            "i_limit_a": i_limit_a,
        }
        if i_limit_a is None:
            del msg["i_limit_a"]  # a deleted key leaves the table as it is
        self.net.publish(self._t_telemetry, wire.encode_text("telemetry", self.cell_id, self._next(), msg), False, False)

    def cycle(self, meas, r_ohm, formation=False):
        c = meas.cycle
        msg = {
            "v": 0,
            "cell": "",
            "seq": 0,
            "t_s": meas.t_s,
            "cycle": c.index,
            "charge_ah": c.charge_ah,
            "discharge_ah": c.discharge_ah,
            "ce": c.ce(),
            "charge_wh": c.charge_wh,
            "discharge_wh": c.discharge_wh,
            "t_min_c": c.t_min_c,
            "t_max_c": c.t_max_c,
            "p_min_mpa": c.p_min_mpa,
            "p_max_mpa": c.p_max_mpa,
            "r_ohm": r_ohm,
            "formation": formation,
            "partial": c.partial,
        }
        self.net.publish(self._t_cycle, wire.encode_text("cycle", self.cell_id, self._next(), msg), False, True)

    def event(self, t_s, kind, code, text, value=None, limit=None):
        msg = {"v": 0, "cell": "", "seq": 0, "t_s": t_s, "event": kind, "code": code, "msg": text, "value": value, "limit": limit}
        if value is None:
            del msg["value"]
        if limit is None:
            del msg["limit"]
        self.net.publish(self._t_event, wire.encode_text("event", self.cell_id, self._next(), msg), False, True)

    def status_message(self, state, t_s=None):
        """(topic, payload) of a status message; used for birth, will and goodbye."""
        msg = {"state": state, "fw": FW_VERSION, "boot": self.boot}
        if t_s is not None:
            msg["t_s"] = t_s
        return self._t_status, wire.encode_text("status", self.cell_id, self.seq, msg)

    def status(self, state, t_s=None):
        t, p = self.status_message(state, t_s)
        self.net.publish(t, p, True, True)
