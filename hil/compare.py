"""`platewise hil compare`: adaptive charging against plain CC-CV, to end of life.

Two virtual boards (the real firmware in the MicroPython unix port, each
lock-stepped with its own emulated cell, as in `platewise demo`) run side
by side through one broker: the same preset, the same seed, the same
nominal charge current (the preset's ``nominal_current_ma_cm2`` times the
area, ``firmware_config`` in hil/demo.py), one in ``cccv`` mode and one in
``adaptive`` mode. Each runs until its cell reaches end of life or
``--max-cycles`` cycles.

What each figure is (R, one per mode; all from the emulator's truth and
the current the firmware set, sampled once per firmware tick):

- a *cycle* is one charge phase followed by one discharge phase: it ends at
  the first tick without discharge current after a discharge (the
  firmware's cut-off), formation cycles included;
- ``cycles_to_80``: the number of the first cycle at whose end the cell's
  cyclable lithium (cathode + plated, ``Cell.inventory_ah``) is at or below
  80 % (shared.cellconst.EOL_RETENTION) of the inventory it was assembled
  with (``Cell.initial_inventory_ah``), so the reference is the same for
  both modes and includes the first cycle's SEI loss (cell-physics sec. 2).
  ``null`` if the run ended first (``--max-cycles``, or another end of life);
- ``eol_cause``: ``"inventory"`` (the 80 % above), ``"fracture"`` (the
  electrolyte fractured), ``"short"`` (a hard short), ``"fault:CODE"`` (the
  firmware latched a fault and stopped cycling), or ``null`` (none before
  ``--max-cycles``); the cell's state is judged at every cycle end, the
  firmware's fault at every tick;
- ``mean_charge_time_s``: the mean, over the completed cycles after
  formation, of the charge phase's duration: from the start of the first
  tick with charge current to the end of the last one before discharge
  begins (CC, CV and the rest ticks of impedance pulses; not the rest after
  charge). In ``cccv`` every cycle counts;
- ``formation_time_s``: simulated time from the start of the run to the end
  of the last formation cycle's discharge (the start-up rest, the charges,
  the discharges and the rests between them); 0.0 in
  ``cccv`` mode and in a run stopped before formation ended;
- ``energy_throughput_wh``: energy delivered on discharge over the whole
  run, formation included: the sum over discharge ticks of the terminal
  voltage times the current times the tick.

Top level: ``gain_cycles`` = adaptive / cccv ``cycles_to_80`` - 1 (0.30 is
+30 %), ``charge_time_ratio`` = adaptive / cccv ``mean_charge_time_s``; each
is ``null`` when a figure it needs is. ``acceptance``: the claim's
thresholds (MIN_GAIN_CYCLES, MAX_CHARGE_TIME_RATIO) and ``met``, true
when both hold (``null`` when a figure is). ``preset``, ``aging_factor`` (the
emulator's; above 1 it compresses life, and ``note`` says so), ``seed``,
``max_cycles``, ``charge_current_a`` and ``wall_s`` say how it was run.

``--adaptive-set KEY=VALUE`` (repeatable) gives the adaptive board's
firmware other settings (a strategy to try); keys both boards must share
(SHARED_KEYS: the operating window, the nominal currents) are refused, and
what is set travels in the output as ``adaptive_settings``.

Failure behaviour: a bad preset name or file exits 2 with the field named
(ParamError); a malformed or shared ``--adaptive-set`` exits 2 naming the
key; a setting the firmware's config check refuses stops that board at
boot, and the command exits 1 with the firmware's message (which names the
field); a firmware that crashes (not a latched fault, which is an end
of life) or a run past ``--timeout`` raises HilError with the board's
output; both boards are killed on any error.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from platewise.hil.cell.model import Cell, ParamError, load_params
from platewise.hil.cell.sensors import Sensors
from platewise.hil.commands import BoardWatch
from platewise.hil.demo import firmware_config
from platewise.hil.virtual_board import HilError, VirtualBoard
from platewise.host.broker import EmbeddedBroker, MosquittoBroker, mosquitto_path
from platewise.shared.cellconst import EOL_RETENTION

MODES = ("cccv", "adaptive")
# The claim under test (issue 13): adaptive lives at least this much longer
# to 80 % ...
MIN_GAIN_CYCLES = 0.30
# ... at no more than this mean charge time relative to CC-CV.
MAX_CHARGE_TIME_RATIO = 1.25
# What makes the comparison fair: the operating window and the nominal
# currents both boards share. ``--adaptive-set`` may not move them.
SHARED_KEYS = (
    "charge_current_a",
    "discharge_current_a",
    "charge_voltage_v",
    "cv_cutoff_a",
    "discharge_cutoff_v",
    "mode",
    "max_cycles",
    "cell_id",
    "mqtt_host",
    "mqtt_port",
)


class CompareError(ValueError):
    """A bad ``--adaptive-set``; the message names the key."""


def parse_settings(items: list[str]) -> dict:
    """``KEY=VALUE`` strings -> {key: value}; VALUE is JSON (a bare word is a string)."""
    out = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise CompareError(f"--adaptive-set {item!r}: expected KEY=VALUE")
        if key in SHARED_KEYS:
            raise CompareError(f"--adaptive-set {key}: shared by both modes (the comparison's fairness), not settable")
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


class LifeRecord:
    """Per-tick bookkeeping of one board's run (``on_step``); see the module doc."""

    def __init__(self, formation_cycles: int, max_cycles: int):
        self.formation_cycles = formation_cycles
        self.max_cycles = max_cycles
        self.cycles = 0
        self.charge_times_s: list[float] = []  # completed charge phases after formation
        self.formation_time_s = 0.0
        self.energy_wh = 0.0
        self.cycles_to_80: int | None = None
        self.eol_cause: str | None = None
        self.inventory_pct: list[float] = []  # at each cycle end
        self.done = threading.Event()
        self._t_prev_s = 0.0
        self._charge_start_s: float | None = None
        self._charge_last_s = 0.0
        self._discharging = False

    def on_step(self, board) -> None:
        t_s = board.t_s
        dt_s = t_s - self._t_prev_s
        self._t_prev_s = t_s
        if self.done.is_set() or dt_s <= 0.0:
            return
        i_a = board.current_a
        cell = board.cell
        if i_a > 0.0:
            if self._charge_start_s is None:
                self._charge_start_s = t_s - dt_s
            self._charge_last_s = t_s
        elif i_a < 0.0:
            if self._charge_start_s is not None:
                if self.cycles >= self.formation_cycles:
                    self.charge_times_s.append(self._charge_last_s - self._charge_start_s)
                self._charge_start_s = None
            self._discharging = True
            self.energy_wh += cell.voltage_v * -i_a * dt_s / 3600.0
        elif self._discharging:
            self._cycle_end(t_s, cell)

    def _cycle_end(self, t_s: float, cell) -> None:
        self._discharging = False
        self.cycles += 1
        if self.cycles == self.formation_cycles:
            self.formation_time_s = t_s
        frac = cell.inventory_ah / cell.initial_inventory_ah
        self.inventory_pct.append(100.0 * frac)
        if cell.fractured:
            self.eol_cause = "fracture"
        elif cell.hard_short:
            self.eol_cause = "short"
        elif frac <= EOL_RETENTION:
            self.eol_cause = "inventory"
            self.cycles_to_80 = self.cycles
        if self.eol_cause is not None or self.cycles >= self.max_cycles:
            self.done.set()

    def result(self) -> dict:
        ts = self.charge_times_s
        return {
            "cycles_to_80": self.cycles_to_80,
            "mean_charge_time_s": sum(ts) / len(ts) if ts else None,
            "formation_time_s": self.formation_time_s,
            "energy_throughput_wh": self.energy_wh,
            "eol_cause": self.eol_cause,
        }


class FaultWatch(BoardWatch):
    """Every board's events: a latched fault ends that board's life (the
    firmware stays in FAULT, contactor open, until cleared)."""

    def __init__(self, host: str, port: int, records: dict[str, LifeRecord]):
        self._records = records  # before the subscription: messages may come at once
        super().__init__(host, port)

    def _keep(self, cell_id: str, kind: str, m: dict) -> None:
        rec = self._records.get(cell_id)
        if rec is not None and kind == "event" and m["event"] == "fault" and not rec.done.is_set():
            rec.eol_cause = f"fault:{m['code']}"
            rec.done.set()


def _ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def run_compare(
    preset: str,
    aging_factor: float | None = None,
    max_cycles: int = 400,
    seed: int = 0,
    timeout_s: float = 3600.0,
    progress: bool = False,
    adaptive_settings: dict | None = None,
) -> dict:
    """Both modes to end of life; the JSON contract of the module doc.
    ``adaptive_settings``: firmware config overrides for the adaptive board
    (see parse_settings); the firmware's own validation judges them."""
    adaptive_settings = dict(adaptive_settings or {})
    bad = [k for k in adaptive_settings if k in SHARED_KEYS]
    if bad:
        raise CompareError(f"adaptive settings {', '.join(bad)}: shared by both modes, not settable")
    overrides = {} if aging_factor is None else {"aging_factor": aging_factor}
    params = load_params(preset, overrides)
    brk = (MosquittoBroker() if mosquitto_path() else EmbeddedBroker()).start()
    watch = None
    boards: dict[str, VirtualBoard] = {}
    records: dict[str, LifeRecord] = {}
    t0 = time.monotonic()
    try:
        cfgs = {}
        for mode in MODES:
            extra = adaptive_settings if mode == "adaptive" else {}
            cfg = firmware_config(Cell(params, seed=seed), f"compare-{mode}", brk.host, brk.port, max_cycles, mode=mode, **extra)
            cfgs[mode] = cfg
            records[mode] = LifeRecord(cfg["formation_cycles"] if mode == "adaptive" else 0, max_cycles)
        watch = FaultWatch(brk.host, brk.port, {f"compare-{m}": r for m, r in records.items()})
        for mode in MODES:
            cell = Cell(params, seed=seed)
            boards[mode] = VirtualBoard(cell, Sensors(params, seed=seed), cfgs[mode], on_step=records[mode].on_step).start()
        last = t0
        open_modes = list(MODES)
        while open_modes:
            for mode in list(open_modes):
                rec, b = records[mode], boards[mode]
                if rec.done.is_set():
                    b.kill()  # end of life or max cycles seen: no need to wait for the firmware's own stop
                    open_modes.remove(mode)
                elif not b.running():  # the firmware stopped by itself: judged at once, not after the other's life
                    rc = b.wait(timeout_s=60)
                    fault = (b.summary or {}).get("fault")
                    if fault:
                        rec.eol_cause = f"fault:{fault}"
                    elif rc != 0:
                        raise HilError(f"{mode}: firmware exit {rc}: {b.stderr[-1200:]}")
                    open_modes.remove(mode)
            now = time.monotonic()
            if now - t0 > timeout_s:
                raise HilError(f"compare did not finish in {timeout_s:.0f} s")
            if progress and now - last >= 5.0:
                last = now
                parts = [
                    f"{m}: cycle {r.cycles}, {r.inventory_pct[-1] if r.inventory_pct else 100.0:5.1f} %"
                    for m, r in records.items()
                ]
                print(f"[{now - t0:6.1f} s] " + " | ".join(parts), file=sys.stderr, flush=True)
            time.sleep(0.05)
        out = {mode: records[mode].result() for mode in MODES}
        cccv, adaptive = out["cccv"], out["adaptive"]
        ratio = _ratio(adaptive["cycles_to_80"], cccv["cycles_to_80"])
        gain = None if ratio is None else ratio - 1.0
        time_ratio = _ratio(adaptive["mean_charge_time_s"], cccv["mean_charge_time_s"])
        af = float(params["aging_factor"])
        met = None if gain is None or time_ratio is None else gain >= MIN_GAIN_CYCLES and time_ratio <= MAX_CHARGE_TIME_RATIO
        return {
            "cccv": cccv,
            "adaptive": adaptive,
            "gain_cycles": gain,
            "charge_time_ratio": time_ratio,
            "acceptance": {"min_gain_cycles": MIN_GAIN_CYCLES, "max_charge_time_ratio": MAX_CHARGE_TIME_RATIO, "met": met},
            "preset": params["preset"],
            "aging_factor": af,
            "note": (f"aging factor {af:g}: every aging rate x{af:g}, life compressed" if af != 1.0 else None),
            "seed": seed,
            "max_cycles": max_cycles,
            "adaptive_settings": adaptive_settings,
            "charge_current_a": boards["cccv"].fw_config["charge_current_a"],
            "wall_s": time.monotonic() - t0,
        }
    finally:
        for b in boards.values():
            b.kill()
        if watch is not None:
            watch.close()
        brk.stop()


def add_compare_command(hsub) -> None:
    """Register ``compare`` on the ``platewise hil`` subparsers."""
    c = hsub.add_parser("compare", help="adaptive vs CC-CV to 80 %% of the initial Li inventory (real firmware)")
    c.add_argument("--preset", required=True, help="cell preset name or JSON file")
    c.add_argument("--aging-factor", type=float, default=None, help="multiply every aging rate (shortens life; reported)")
    c.add_argument("--max-cycles", type=int, default=400, help="stop a mode after this many cycles (default 400)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument(
        "--adaptive-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="firmware config for the adaptive board only (VALUE as JSON), e.g. formation_cycles=4; "
        "the shared operating window and currents are refused",
    )
    c.add_argument("--timeout", type=float, default=3600.0, help="wall seconds before giving up (default 3600)")
    c.add_argument("--json", action="store_true", help="print the JSON contract on stdout")
    c.add_argument("--quiet", action="store_true", help="no progress on stderr")
    c.set_defaults(handler=main, compare_parser=c)


def main(args) -> int:
    if args.max_cycles < 1:
        args.compare_parser.error("--max-cycles must be at least 1")
    try:
        settings = parse_settings(args.adaptive_set)
        r = run_compare(args.preset, args.aging_factor, args.max_cycles, args.seed, args.timeout, not args.quiet, settings)
    except (ParamError, CompareError) as e:  # a preset's field, or a setting's key, named
        print(f"platewise hil compare: {e}", file=sys.stderr)
        return 2
    except HilError as e:  # e.g. a setting the firmware's config check refused: its message names the field
        print(f"platewise hil compare: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(r))
    else:
        print_table(r)
    return 0


def print_table(r: dict) -> None:
    af = f", aging factor {r['aging_factor']:g}" if r["note"] else ""
    print(f"hil compare: {r['preset']} (seed {r['seed']}{af}), {r['charge_current_a'] * 1000:g} mA nominal, {r['wall_s']:.0f} s wall")
    print(f"{'mode':9} {'cycles to 80 %':>14} {'mean charge h':>13} {'formation h':>11} {'Wh out':>8}  eol")
    for m in MODES:
        x = r[m]
        ct = x["mean_charge_time_s"]
        print(
            f"{m:9} {str(x['cycles_to_80']):>14} {ct / 3600 if ct is not None else float('nan'):13.2f} "
            f"{x['formation_time_s'] / 3600:11.2f} {x['energy_throughput_wh']:8.3f}  {x['eol_cause']}"
        )
    if r["note"]:
        print(f"note: {r['note']}")
    g, t = r["gain_cycles"], r["charge_time_ratio"]
    a = r["acceptance"]
    verdict = {True: "met", False: "not met", None: "undecided"}[a["met"]]
    print(
        f"gain in cycles: {'n/a' if g is None else f'{100 * g:+.0f} %'}; charge time ratio: {'n/a' if t is None else f'{t:.3f}'}; "
        f"claim (>= {100 * a['min_gain_cycles']:+.0f} % at <= {a['max_charge_time_ratio']:g}x): {verdict}"
    )
