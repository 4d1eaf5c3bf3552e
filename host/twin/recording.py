"""A recorded test, as every cycler reader hands it to the replay.

``Recording`` is the one shape between the readers (one per cycler format)
and the replay's cycle accounting (replay.py), so that neither knows the
other's details:

- ``cols``: {name: list}, one entry per sample, all lists the same length,
  time in order. Always ``time_s`` (s, non-decreasing, from any origin; a
  folder of session files keeps the real gaps between sessions),
  ``voltage_v`` (V) and ``current_a`` (A, + charging). Optional:
  ``temperature_c`` (degC; absent when the cycler logged none, never
  invented), ``pressure_mpa`` (MPa), ``cycle_index`` (int, the cycler's own
  cycle numbering, made unique across the sessions of a folder) and
  ``step_index`` (int, the cycler's step within its procedure).
- ``cycle_ah``: the cycler's own counters per cycle, {cycle_index:
  (charge_ah, discharge_ah)}, or None when the file has no capacity
  columns. A reader normalises whatever the format counts (per step, per
  half cycle, per state, cumulative over the file) to the Ah charged and
  discharged within each cycle.
- ``meta``: what the file says about itself: ``format`` (e.g. "arbin-xlsx"),
  ``files`` (the paths read, in time order), and where known
  ``nominal_ah``, ``cell`` (a name or barcode), ``start`` (ISO text).

Failure behaviour: ``check()`` raises ``ReplayError`` naming what is wrong
(lists of unequal length, a missing required column, time going backwards),
so a reader cannot hand over half a recording.
"""


class ReplayError(ValueError):
    """The file cannot be replayed; str(e) says where and why."""


REQUIRED = ("time_s", "voltage_v", "current_a")


class Recording:
    def __init__(self, cols, cycle_ah=None, meta=None):
        self.cols = cols
        self.cycle_ah = cycle_ah
        self.meta = dict(meta or {})

    def check(self):
        """Raise ReplayError unless the recording has the shape above; return self."""
        missing = [c for c in REQUIRED if c not in self.cols]
        if missing:
            raise ReplayError("recording has no %s" % ", ".join(missing))
        n = len(self.cols["time_s"])
        for name, values in self.cols.items():
            if len(values) != n:
                raise ReplayError("column %s has %d values, time_s %d" % (name, len(values), n))
        if n < 2:
            raise ReplayError("fewer than 2 samples")
        t = self.cols["time_s"]
        for k in range(1, n):
            if t[k] < t[k - 1]:
                raise ReplayError("sample %d: time_s goes backwards (%g after %g)" % (k, t[k], t[k - 1]))
        return self
