"""`platewise demo`: the whole system end to end on one machine.

A broker (embedded amqtt by default, or Mosquitto, or one given by URL), N
virtual boards (the real firmware in the MicroPython unix port, each
lock-stepped with its own emulated cell), and the digital twin subscribed
to all of them. Ends after the asked number of cycles with a summary per
cell: messages published by the board and received by the twin, sequence
gaps, the emulator's true lithium inventory and the twin's estimate.
The dashboard (host/dashboard) serves the twin's database while it runs and
its URL is printed on stderr (``--no-dashboard``: none; ``--keep``: it stays
up after the summary until Ctrl-C).

Failure behaviour: a board whose firmware crashes or faults is reported
with its exit code and the tail of its output (``error`` in the summary)
and the demo exits non-zero; the other boards finish.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from platewise.hil.cell.model import Cell, load_params
from platewise.hil.cell.sensors import Sensors
from platewise.hil.virtual_board import VirtualBoard
from platewise.host.broker import EmbeddedBroker, MosquittoBroker, parse_broker_url
from platewise.host.dashboard.server import Dashboard
from platewise.host.twin.mqtt import TwinSubscriber
from platewise.host.twin.service import Twin


def firmware_config(cell: Cell, cell_id: str, host: str, port: int, cycles: int, **overrides) -> dict:
    """The firmware's config.json for an emulated cell, from its preset.

    Charge (plating) at the preset's nominal current density times the cell
    area (cell-physics sec. 3: the density is what matters for Li morphology);
    discharge (stripping) at the preset's maximum density; CV voltage,
    cut-off and C/20-style termination from the preset; safety limits a
    margin outside the operating points; the stack-pressure fault window
    wider than the preset's healthy window (cell-physics sec. 4), so only a
    real fixture fault trips it.
    """
    p = cell.params
    area_cm2 = p["area_cm2"]
    charge_a = p["nominal_current_ma_cm2"] * area_cm2 / 1000.0
    discharge_a = p["max_current_ma_cm2"] * area_cm2 / 1000.0
    cv_v = p["charge_voltage_v"]
    cutoff_v = p["discharge_cutoff_v"]
    cfg = {
        "cell_id": cell_id,
        "mqtt_host": host,
        "mqtt_port": port,
        "charge_current_a": round(charge_a, 9),
        "discharge_current_a": round(discharge_a, 9),
        "charge_voltage_v": cv_v,
        "cv_cutoff_a": round(p["cv_cutoff_c"] * cell.capacity_ah, 9),
        "discharge_cutoff_v": cutoff_v,
        # The datasheet value a lab would enter: the fresh cell's DC resistance.
        "r_nominal_ohm": round(cell.resistance_ohm, 6),
        "v_max_v": cv_v + 0.15,
        "v_min_v": cutoff_v - 0.5,
        "i_max_a": round(1.25 * max(charge_a, discharge_a), 9),
        "p_max_mpa": 1.5 * p["pressure_window_high_mpa"],
        "p_min_mpa": 0.5 * p["pressure_window_low_mpa"],
        "rest_s": 600,
        "max_cycles": cycles,
        # Adaptive mode (used when mode=adaptive): formation at the preset's
        # formation current density (cell-physics sec. 3), derating outside
        # the preset's healthy pressure window (sec. 4).
        "formation_current_a": round(p["formation_current_ma_cm2"] * area_cm2 / 1000.0, 9),
        "formation_cycles": int(p["formation_cycles"]),
        "derate_p_low_mpa": [[0.5 * p["pressure_window_low_mpa"], 0.25], [p["pressure_window_low_mpa"], 1.0]],
        "derate_p_high_mpa": [[p["pressure_window_high_mpa"], 1.0], [1.5 * p["pressure_window_high_mpa"], 0.25]],
    }
    cfg.update(overrides)
    return cfg


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_demo(
    cells: int = 2,
    cycles: int = 3,
    preset: str = "lfp-liquid",
    broker: str | None = None,
    seed: int = 0,
    db: str | None = None,
    progress: bool = True,
    timeout_s: float = 900.0,
    mode: str = "cccv",
    dashboard_port: int | None = None,
    keep: bool = False,
    report=None,
) -> dict:
    """Run the demo; return the summary dict (see module doc).

    ``dashboard_port``: serve the dashboard there (0: a free port; None: no
    dashboard). ``keep``: after ``report(summary)``, serve until Ctrl-C.
    """
    if broker is None:
        brk = EmbeddedBroker().start()
        host, port = brk.host, brk.port
    elif broker == "mosquitto":
        brk = MosquittoBroker().start()
        host, port = brk.host, brk.port
    else:
        brk = None
        host, port = parse_broker_url(broker)
    tmp = None
    if db is None:
        tmp = tempfile.TemporaryDirectory(prefix="platewise-demo-")
        db = str(Path(tmp.name) / "twin.db")
    twin = Twin(db_path=db)
    sub = TwinSubscriber(twin, host, port, client_id=f"platewise-twin-{seed}")
    boards: list[VirtualBoard] = []
    dash = None
    t0 = time.monotonic()
    try:
        sub.start()
        if progress:
            _log(f"broker: {getattr(brk, 'kind', 'external')} on {host}:{port}; twin store: {db}")
        if dashboard_port is not None:
            dash = Dashboard(db, port=dashboard_port, twin=twin).start()
            _log(f"dashboard: {dash.url}")
        params = load_params(preset)
        for k in range(cells):
            cell_id = f"cell-{k + 1}"
            cell = Cell(params, seed=seed + k)
            sensors = Sensors(params, seed=seed + k)
            vb = VirtualBoard(cell, sensors, firmware_config(cell, cell_id, host, port, cycles, mode=mode))
            boards.append(vb.start())
        last = 0.0
        while any(b.running() for b in boards):
            if time.monotonic() - t0 > timeout_s:
                raise TimeoutError(f"demo did not finish in {timeout_s:.0f} s")
            time.sleep(0.1)
            if progress and time.monotonic() - last >= 1.0:
                last = time.monotonic()
                s = {c["cell_id"]: c for c in twin.summary()["cells"]}
                parts = []
                for b in boards:
                    c = s.get(b.cell_id, {})
                    parts.append(
                        f"{b.cell_id}: {b.t_s / 3600:5.1f} h sim, cycle {c.get('cycles', 0)}/{cycles} done, "
                        f"{c.get('received', 0)} msgs"
                    )
                _log(f"[{last - t0:5.1f} s] " + " | ".join(parts))
        results = []
        for b in boards:
            rc = b.wait(timeout_s=30)
            results.append(rc)
        # Give the twin a moment for the last in-flight deliveries.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            s = {c["cell_id"]: c for c in twin.summary()["cells"]}
            if all(s.get(b.cell_id, {}).get("received", -1) >= (b.summary or {}).get("published", 0) for b in boards):
                break
            time.sleep(0.05)
        twin.flush()
        s = {c["cell_id"]: c for c in twin.summary()["cells"]}
        out = []
        for b, rc in zip(boards, results):
            c = s.get(b.cell_id, {})
            fw = b.summary or {}
            row = {
                "cell_id": b.cell_id,
                "published": fw.get("published", 0),
                "received": c.get("received", 0),
                "gaps": c.get("gaps", 0),
                "duplicates": c.get("duplicates", 0),
                "rejected": c.get("rejected", 0),
                "cycles": fw.get("cycles", 0),
                "inventory_true_ah": b.cell.inventory_ah,
                "inventory_est_ah": c.get("inventory_est_ah"),
                "inventory_std_ah": c.get("inventory_std_ah"),
                "initial_inventory_ah": b.cell.initial_inventory_ah,
                "sim_hours": b.t_s / 3600.0,
                "firmware": fw,
            }
            if rc != 0 or fw.get("fault"):
                row["error"] = f"firmware exit {rc}, fault {fw.get('fault')}: {b.stderr[-600:]}"
            out.append(row)
        summary = {
            "preset": preset,
            "mode": mode,
            # An aging factor above 1 compresses life: it travels with results.
            "aging_factor": params["aging_factor"],
            "broker": getattr(brk, "kind", "external"),
            "wall_s": time.monotonic() - t0,
            "dashboard_url": dash.url if dash else None,
            "cells": out,
        }
        if report is not None:
            report(summary)
        if keep and dash is not None:
            _log(f"dashboard stays up at {dash.url}; Ctrl-C to stop")
            try:
                while True:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                pass
        return summary
    finally:
        if dash is not None:
            dash.stop()
        for b in boards:
            b.kill()
        sub.stop()
        twin.close()
        if brk is not None:
            brk.stop()
        if tmp is not None:
            tmp.cleanup()


def print_summary(summary: dict) -> None:
    print(
        f"Platewise demo: preset {summary['preset']} (aging factor {summary['aging_factor']:g}), "
        f"mode {summary['mode']}, broker {summary['broker']}, {summary['wall_s']:.1f} s wall"
    )
    print(f"{'cell':8} {'cycles':>6} {'published':>9} {'received':>8} {'gaps':>4} {'true Ah':>9} {'twin Ah':>9} {'+/- Ah':>8} {'err %':>6}")
    for c in summary["cells"]:
        est = c["inventory_est_ah"]
        err = "" if est is None else f"{100 * (est - c['inventory_true_ah']) / c['inventory_true_ah']:6.2f}"
        print(
            f"{c['cell_id']:8} {c['cycles']:6d} {c['published']:9d} {c['received']:8d} {c['gaps']:4d} "
            f"{c['inventory_true_ah']:9.6f} {est if est is not None else float('nan'):9.6f} "
            f"{c['inventory_std_ah'] if c['inventory_std_ah'] is not None else float('nan'):8.6f} {err:>6}"
        )
        if "error" in c:
            print(f"  {c['cell_id']}: {c['error']}")


def add_demo_command(subparsers) -> None:
    """Register ``demo`` on the ``platewise`` subparsers."""
    d = subparsers.add_parser("demo", help="broker + N virtual boards (real firmware, emulated cells) + digital twin")
    d.add_argument("--cells", type=int, default=2, help="number of virtual boards (default 2)")
    d.add_argument("--cycles", type=int, default=3, help="cycles each board runs (default 3)")
    d.add_argument("--preset", default="lfp-liquid", help="cell preset (default lfp-liquid)")
    d.add_argument(
        "--broker",
        default=None,
        help="'mosquitto' to start a private Mosquitto, or mqtt://HOST:PORT of a running broker "
        "(default: embedded Python broker)",
    )
    d.add_argument(
        "--mode",
        choices=("cccv", "adaptive"),
        default="cccv",
        help="firmware charging mode: plain CC-CV (default) or adaptive (formation, impedance-throttled plating limit)",
    )
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--db", default=None, help="SQLite file for the twin (default: a temporary file)")
    d.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    d.add_argument("--quiet", action="store_true", help="no progress on stderr")
    d.add_argument("--dashboard-port", type=int, default=0, help="port of the dashboard (default 0: a free one; the URL is printed)")
    d.add_argument("--no-dashboard", action="store_true", help="do not serve the dashboard")
    d.add_argument("--keep", action="store_true", help="keep the dashboard up after the cycles end, until Ctrl-C")
    d.set_defaults(handler=main, demo_parser=d)


def main(args) -> int:
    if args.cells < 1 or args.cycles < 1:
        args.demo_parser.error("--cells and --cycles must be at least 1")
    if args.keep and args.no_dashboard:
        args.demo_parser.error("--keep keeps the dashboard up: it cannot go with --no-dashboard")

    def report(summary):
        if args.json:
            print(json.dumps(summary), flush=True)
        else:
            print_summary(summary)
            sys.stdout.flush()

    summary = run_demo(
        cells=args.cells,
        cycles=args.cycles,
        preset=args.preset,
        broker=args.broker,
        seed=args.seed,
        db=args.db,
        progress=not args.quiet,
        mode=args.mode,
        dashboard_port=None if args.no_dashboard else args.dashboard_port,
        keep=args.keep,
        report=report,
    )
    return 1 if any("error" in c for c in summary["cells"]) else 0
