"""Failure detection of the twin: internal-short risk and the alarm table.

Detection, decision and reporting are apart (docs/style.md rule 6, foxBMS):
``ShortDetector`` turns each cycle into evidence (numbers, each with what it
means) and a risk score in [0, 1]; ``AlarmTable`` decides, from the table
``ALARMS`` (data: threshold, release, severity, debounce), which alarms are
raised or cleared; the service stores and publishes the result.

Evidence of a soft short (cell-physics sec. 6: self-discharge, voltage noise,
CE anomalies, before the hard short), per cycle:
- ``loss_z``: the cycle lost more Li than the inventory filter predicted, in
  std of that prediction. A leak path drains the plated Li while charging,
  resting and discharging, so the charge counts more than it plates and the
  discharge returns less: the loss jumps by the leaked charge.
- ``ce_deficit_z``: CE below the cell's own healthy baseline (the running
  mean of its CE over unalarmed cycles after formation), in std of the
  counting noise. Unlike ``loss_z`` this persists after the filter re-learns
  the leaky cell (gate restart), so a short does not "heal" in the twin.
- ``ce_above_100_z`` (reported, not scored): CE above 1 beyond counting
  noise. A leak path drains charge, it cannot return more than was put in,
  so CE above 100 % is no evidence of a short: it is a counting artefact
  (sparse logging, a charge counted in the previous cycle, a cycler counter
  jump) or Li reconnecting. It becomes a ``DATA_QUALITY`` flag (cycle and
  reason, severity info), never a cell fault.
- ``pressure_jump_mpa``: the irreversible (end-of-discharge) stack pressure
  jumped against its recent median: a filament or crack pushing the stack.

Scale: real cycler data scatter more than the emulator's counting noise
(CE of a healthy Arbin-cycled Li-ion cell spreads about +/-0.5 %, against
the 0.14 % of ``ce_sigma_rel``). A replay measures its recording's scatter
and raises ``ce_sigma_rel`` (and the filter's counting sigmas) for that
cell (``Twin.calibrate``); it never lowers them. What it measures depends
on the record's length (cycles.counting_scatter, replay.calibrate):

- a long record (200 cycles or more) gives the tail of its counts (the
  99th percentile: CALCE CS2_35, 886 cycles, CE 0.73 %), and a single
  cycle's evidence is scored against it, as on a board;
- a short one has no tail to measure (its largest event could be a short's
  onset) and gives its robust scale (median absolute deviation: CALCE's
  50-cycle workbook, CE 0.22 %; the long record's is 0.27 %, 2.7x under its
  tail). A cycler's tail events are one-cycle excursions of 4-8 robust std
  (a counter jump, state of charge carried into the next cycle), so a
  short record's evidence is scored only once it lasts ``confirm_cycles``
  (2) consecutive cycles, at its smallest: a leak path drains every cycle
  from its onset on (cell-physics sec. 6), an excursion is gone the next
  cycle.

Before the filter's loss prediction rests on the cell's own losses
(``loss_learnt_cycles``), ``loss_z`` is reported and not scored: the
prediction is then the prior, CE 99.5-100 % (cell-physics sec. 2, the
project's anode-less cells), and a cell outside it is not leaking for that.
Reported CEs run from 75 % to 99.8 % (cell-physics sec. 2), and a replayed
half cell (the IFE Arbin .res sample) loses 8 % a cycle right after its
first: scored against the prior, that read as 8.6 and 11.8 std, and
SHORT_LIKELY at cycle 3.

Risk: each evidence maps to a probability-like score by a logistic with a
midpoint and width from ``DETECTOR_TUNING`` (data, with a reason each);
scores combine as independent: risk = 1 - prod(1 - s_i).

Failure behaviour:
- a cycle message with missing optional fields (no pressure) skips that
  evidence; nothing here raises on valid messages; a bad tuning field
  raises ValueError naming it;
- a cycle with no value for an evidence (no baseline yet, the filter just
  restarted so there is no innovation, the loss not yet learnt) breaks that
  evidence's run: with ``confirm_cycles`` 2 it is scored again from the
  second cycle that has one;
- under confirmation a short's first cycle scores low (its risk is reported
  as it is), but the CE baseline and the pressure reference learn only from
  cycles that look healthy on their own, so that cycle does not teach the
  twin the short is normal; the alarm comes one cycle after the onset;
- what a short record cannot show: a leak smaller than its scatter allows.
  On the CALCE workbook a leak of 3 % of the charge a cycle (13 robust std;
  about 400 Ohm on that 1.1 Ah cell over its 3.3 h cycles) is raised one
  cycle after its onset, 2 % (600 Ohm) only from a later onset, 1.5 % not
  at all. And a dying cell's run of low-CE cycles is a leak to this
  detector: a 20-cycle cut of CALCE CS2_35 at 32 % capacity (cycles
  860-880, two dips of 3 % in a row) raises SHORT_SUSPECTED (risk 0.94).
"""

import math

from platewise.shared.cellconst import EOL_RETENTION

from .tuning import overridden

# name -> (value, why)
DETECTOR_TUNING = {
    "loss_z_mid": (6.0, "loss innovation at risk 0.5: healthy emulated cells stay below 1, a 100 kOhm leak on a 20 mAh cell gives > 10"),
    "loss_z_width": (1.0, "risk goes from 0.12 to 0.88 within +/- 2 of the midpoint"),
    "ce_deficit_mid": (8.0, "CE deficit (in counting std) at risk 0.5: wider than the loss gate because the baseline itself drifts"),
    "ce_deficit_width": (1.5, "a gentler slope: CE drifts with temperature and rate"),
    "ce_baseline_cycles": (3, "cycles (after the first) before a CE baseline exists: formation CE is not the cell's normal"),
    "ce_baseline_weight": (0.2, "weight of a new healthy cycle in the CE baseline (running mean over ~5 cycles)"),
    "ce_sigma_rel": (0.0014, "std of one cycle's CE from counting noise: sqrt(2) x 0.1 % (the inventory filter's sigma_charge_rel)"),
    "ce_above_mid": (4.0, "CE above 1 by this many counting std: a DATA_QUALITY flag (never short risk: a leak cannot return more than was charged)"),
    "pressure_jump_mid_mpa": (0.15, "irreversible pressure jump at risk 0.5: 7x the pressure noise (0.02 MPa) and above one cycle of swelling"),
    "pressure_jump_width_mpa": (0.03, "about the pressure noise"),
    "pressure_window_cycles": (5, "recent cycles whose median end-of-discharge pressure is the reference"),
    "confirm_cycles": (1, "consecutive cycles that must each show a loss excess or a CE deficit before it is scored (their smallest): 1 where counts are Gaussian (board, emulator), so a short is caught on its first cycle; a replay too short to measure its counts' tail sets 2 (replay.calibrate)"),
    "loss_learnt_cycles": (2, "the cell's own losses the filter must have applied (since its last start) before its loss innovation is scored: before, the prediction is the prior (CE 99.5-100 %, cell-physics sec. 2) and a cell outside it is not a leak; two, because one can be a count artefact (a CE above 100 % that a restart starts from)"),
}


def detector_tuning(overrides=None):
    values = overridden(DETECTOR_TUNING, overrides, "detector tuning")
    for k in ("loss_z_width", "ce_deficit_width", "ce_sigma_rel", "pressure_jump_width_mpa", "ce_baseline_weight"):
        if not values[k] > 0:
            raise ValueError("detector tuning: " + k + " must be > 0")
    for k in ("confirm_cycles", "loss_learnt_cycles"):
        if int(values[k]) != values[k] or values[k] < (1 if k == "confirm_cycles" else 0):
            raise ValueError("detector tuning: " + k + " must be a whole number >= " + ("1" if k == "confirm_cycles" else "0"))
        values[k] = int(values[k])
    return values


def _logistic(x, mid, width):
    u = (x - mid) / width
    if u > 40:
        return 1.0
    if u < -40:
        return 0.0
    return 1.0 / (1.0 + math.exp(-u))


class ShortDetector:
    """Per-cell evidence of an internal short, one update per applied or gated cycle."""

    def __init__(self, tuning=None):
        self.t = detector_tuning(tuning)
        self.ce_baseline = None
        self.ce_cycles = 0
        self.p_recent = []
        self.loss_run = []  # the last confirm_cycles cycles' scored loss_z, newest last
        self.deficit_run = []  # the same for ce_deficit_z
        self.risk = 0.0
        self.evidence = {}
        self.data_quality = []  # reasons of the last cycle's data-quality flags

    def _sustained(self, run, value):
        """The smallest of the last ``confirm_cycles`` values, None until that many
        consecutive cycles had one (a cycle without one breaks the run)."""
        if value is None:
            run.clear()
            return None
        run.append(value)
        del run[: -self.t["confirm_cycles"]]
        return min(run) if len(run) == self.t["confirm_cycles"] else None

    def update(self, msg, loss_z, alarmed, loss_learnt_cycles=None):
        """Take one cycle message and the inventory filter's loss innovation; return (risk, evidence).

        ``loss_learnt_cycles``: how many of this cell's own losses the
        filter's prediction rests on (InventoryFilter.loss_cycles); None
        when the caller does not know, taken as enough."""
        t = self.t
        ce = float(msg["ce"]) if float(msg["charge_ah"]) > 0 else None
        ev = {}
        single = []  # what this cycle alone says: it decides what the baseline may learn
        scores = []  # what is scored: the evidence sustained over confirm_cycles cycles
        self.data_quality = []
        confirm = t["confirm_cycles"]
        learnt = loss_learnt_cycles is None or loss_learnt_cycles >= t["loss_learnt_cycles"]
        if loss_z is not None:
            ev["loss_z"] = loss_z
        if loss_z is not None and learnt:
            single.append(_logistic(loss_z, t["loss_z_mid"], t["loss_z_width"]))
        held = self._sustained(self.loss_run, loss_z if learnt else None)
        if held is not None:
            if confirm > 1:
                ev["loss_z_sustained"] = held
            scores.append(_logistic(held, t["loss_z_mid"], t["loss_z_width"]))
        deficit = None
        if ce is not None and self.ce_baseline is not None and self.ce_cycles >= t["ce_baseline_cycles"]:
            deficit = (self.ce_baseline - ce) / t["ce_sigma_rel"]
            ev["ce_deficit_z"] = deficit
            single.append(_logistic(deficit, t["ce_deficit_mid"], t["ce_deficit_width"]))
        held = self._sustained(self.deficit_run, deficit)
        if held is not None:
            if confirm > 1:
                ev["ce_deficit_z_sustained"] = held
            scores.append(_logistic(held, t["ce_deficit_mid"], t["ce_deficit_width"]))
        if ce is not None and int(msg["cycle"]) > 1:
            above = (ce - 1.0) / t["ce_sigma_rel"]
            ev["ce_above_100_z"] = above
            if above > t["ce_above_mid"]:
                self.data_quality.append("ce above 100 %%: CE %.4f is %.1f counting std above 1, a counting artefact, not a cell fault" % (ce, above))
        p = msg.get("p_min_mpa")
        if p is not None and self.p_recent:
            ref = sorted(self.p_recent)[len(self.p_recent) // 2]
            jump = float(p) - ref
            ev["pressure_jump_mpa"] = jump
            # a jump against the recent median is sustained by construction (the
            # median forgets a one-cycle reading): scored as it comes
            s = _logistic(jump, t["pressure_jump_mid_mpa"], t["pressure_jump_width_mpa"])
            single.append(s)
            scores.append(s)
        risk, risk_single = _combined(scores), _combined(single)
        # Learn the healthy baseline only from cycles that look healthy on their
        # own and are past formation, so a short cannot teach the twin that it
        # is normal, not even on its first cycle, before a second confirms it.
        # A flagged count (CE above 100 %) teaches nothing either.
        if ce is not None and not alarmed and risk_single < 0.2 and not self.data_quality and not msg.get("formation") and int(msg["cycle"]) > 1:
            self.ce_cycles += 1
            if self.ce_baseline is None:
                self.ce_baseline = ce
            else:
                self.ce_baseline += t["ce_baseline_weight"] * (ce - self.ce_baseline)
        if p is not None and risk_single < 0.2:
            self.p_recent.append(float(p))
            if len(self.p_recent) > t["pressure_window_cycles"]:
                self.p_recent.pop(0)
        self.risk = risk
        self.evidence = ev
        return risk, ev


def _combined(scores):
    """Scores combined as independent evidence: 1 - prod(1 - s)."""
    keep = 1.0
    for s in scores:
        keep *= 1.0 - s
    return 1.0 - keep


# A data-quality flag: about the data, not the cell. It is stored and
# reported per cycle with its reason and never enters the active alarms.
DATA_QUALITY = {"code": "DATA_QUALITY", "severity": "info",
                "why": "the counts of this cycle cannot be right (e.g. CE above 100 %): reported, never a cell fault"}


# The decision table: alarm code -> what raises it, what releases it, how bad it is.
# quantity: a key of the per-cycle assessment ("short_risk", "eol_margin_cycles", "inventory_fraction", "fade_knee").
ALARMS = {
    "SHORT_SUSPECTED": {"quantity": "short_risk", "raise_above": 0.5, "clear_below": 0.2, "severity": "warning", "latch": True,
                        "why": "a soft short drains plated Li (cell-physics sec. 6); latched until cleared by a person"},
    "SHORT_LIKELY": {"quantity": "short_risk", "raise_above": 0.95, "clear_below": 0.5, "severity": "critical", "latch": True,
                     "why": "strong evidence of a leak path: stop charging before it turns into a hard short"},
    "EOL_NEAR": {"quantity": "eol_margin_cycles", "raise_below": 10.0, "clear_above": 15.0, "severity": "info", "latch": False,
                 "why": "the 90 % interval's early bound is within 10 cycles"},
    "EOL_REACHED": {"quantity": "inventory_fraction", "raise_below": EOL_RETENTION, "clear_above": round(EOL_RETENTION + 0.02, 6), "severity": "warning", "latch": False,
                    "why": "inventory below the end-of-life retention (cell-physics sec. 2)"},
    "FADE_ACCELERATING": {"quantity": "fade_knee", "raise_above": 0.5, "clear_below": 0.5, "severity": "warning", "latch": True,
                          "why": "the fade bent downwards (knee.py): end of life comes sooner than the straight fade said (cell-physics sec. 12); a knee does not unbend"},
}


class AlarmTable:
    """Active alarms of one cell; ``evaluate`` returns the changes (raise/clear) for this cycle."""

    def __init__(self, table=None):
        self.table = ALARMS if table is None else table
        self.active = {}  # code -> cycle raised

    def evaluate(self, cycle, assessment, evidence):
        changes = []
        for code, spec in self.table.items():
            value = assessment.get(spec["quantity"])
            if value is None:
                continue
            on = code in self.active
            if "raise_above" in spec:
                trigger, release = value > spec["raise_above"], value < spec["clear_below"]
            else:
                trigger, release = value < spec["raise_below"], value > spec["clear_above"]
            if not on and trigger:
                self.active[code] = cycle
                changes.append({"code": code, "action": "raise", "severity": spec["severity"], "value": value, "evidence": dict(evidence)})
            elif on and release and not spec.get("latch"):
                del self.active[code]
                changes.append({"code": code, "action": "clear", "severity": spec["severity"], "value": value, "evidence": dict(evidence)})
        return changes

    def clear(self, code):
        """A person acknowledged and cleared a latched alarm."""
        return self.active.pop(code, None) is not None
