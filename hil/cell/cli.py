"""`platewise cell ...`: the emulated cell from the command line.

  platewise cell run [--preset NAME|FILE.json] [--protocol cccv|formation-cccv] [--cycles N]
                     [--current-density MA_CM2] [--formation-ma-cm2 X | --formation-c-rate X]
                     [--pressure-mpa P] [--temperature-c T] [--aging-factor A] [--seed S] [--json]
  platewise cell presets [--json]     presets with capacity and recommended charger settings
  platewise cell bench [--json]       step rates of the scalar cell and the 1000-cell batch

Hooked into platewise/cli.py by ``add_cell_commands(subparsers)``; each handler
takes the parsed args and returns the exit code. A bad preset or value
prints the ParamError (which names the field) and returns 2.
"""

import json
import sys

from platewise.host.presets import PRESETS, ParamError, load_params


def add_cell_commands(subparsers):
    cell = subparsers.add_parser("cell", help="emulated anode-less cell: reference cycler, presets, benchmark")
    sub = cell.add_subparsers(dest="cell_command", required=True)

    r = sub.add_parser("run", help="cycle the emulated cell with the reference cycler (no firmware)")
    r.add_argument("--preset", default="lfp-liquid", help="preset name (%s) or JSON file" % ", ".join(PRESETS))
    r.add_argument("--protocol", default="cccv", choices=("cccv", "formation-cccv"))
    r.add_argument("--cycles", type=int, default=100)
    r.add_argument("--current-density", type=float, default=None, dest="current_density_ma_cm2", help="mA/cm2 (default: preset nominal)")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--formation-ma-cm2", type=float, default=None)
    g.add_argument("--formation-c-rate", type=float, default=None)
    r.add_argument("--pressure-mpa", type=float, default=None)
    r.add_argument("--temperature-c", type=float, default=None)
    r.add_argument("--aging-factor", type=float, default=None)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--json", action="store_true", help="print the result dict as JSON")
    r.set_defaults(handler=cmd_run)

    pr = sub.add_parser("presets", help="list presets and their recommended charger settings")
    pr.add_argument("--json", action="store_true")
    pr.set_defaults(handler=cmd_presets)

    b = sub.add_parser("bench", help="step rates of one cell and of a 1000-cell batch")
    b.add_argument("--json", action="store_true")
    b.set_defaults(handler=cmd_bench)
    return cell


def cmd_run(args):
    from platewise.hil.cell.cycler import run

    try:
        overrides = {"aging_factor": args.aging_factor} if args.aging_factor is not None else None
        params = load_params(args.preset, overrides)
    except ParamError as e:
        print("platewise cell run: %s" % e, file=sys.stderr)
        return 2
    if args.cycles < 1:
        print("platewise cell run: --cycles must be at least 1", file=sys.stderr)
        return 2
    result = run(
        params,
        protocol=args.protocol,
        cycles=args.cycles,
        current_density_ma_cm2=args.current_density_ma_cm2,
        formation_ma_cm2=args.formation_ma_cm2,
        formation_c_rate=args.formation_c_rate,
        pressure_mpa=args.pressure_mpa,
        temperature_c=args.temperature_c,
        seed=args.seed,
    )
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        "preset %s, protocol %s, %.3g mA/cm2, formation %s, %.3g MPa, %.3g C, aging factor %g"
        % (
            result["preset"],
            result["protocol"],
            result["current_density_ma_cm2"],
            "%.3g mA/cm2 x %d" % (result["formation_ma_cm2"], result["formation_cycles"]) if result["formation_ma_cm2"] else "none",
            result["pressure_mpa"],
            result["temperature_c"],
            result["aging_factor"],
        )
    )
    print("%-6s %12s %12s %8s %10s %10s" % ("cycle", "inventory_mAh", "discharge_mAh", "ce", "R_ohm", "P_MPa"))
    for c in result["cycles"]:
        print(
            "%-6d %12.4f %12.4f %8.5f %10.4f %10.3f"
            % (c["cycle"], c["inventory_ah"] * 1e3, c["discharge_ah"] * 1e3, c["ce"], c["resistance_ohm"], c["pressure_mpa"])
        )
    print("end of life: cycle %s (%s)" % (result["eol_cycle"], result["eol_cause"]))
    return 0


def _summary(name):
    p = load_params(name)
    cap_ah = p["area_cm2"] * p["loading_mah_cm2"] / 1000.0
    to_a = p["area_cm2"] / 1000.0
    return {
        "preset": name,
        "capacity_ah": cap_ah,
        "area_cm2": p["area_cm2"],
        "charge_voltage_v": p["charge_voltage_v"],
        "discharge_cutoff_v": p["discharge_cutoff_v"],
        "nominal_current_a": p["nominal_current_ma_cm2"] * to_a,
        "max_current_a": p["max_current_ma_cm2"] * to_a,
        "formation_current_a": p["formation_current_ma_cm2"] * to_a,
        "cv_cutoff_a": p["cv_cutoff_c"] * cap_ah,
        "stack_pressure_mpa": p["stack_pressure_mpa"],
    }


def cmd_presets(args):
    rows = [_summary(n) for n in PRESETS]
    if args.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        print(
            "%-14s %5.1f mAh  CV %.2f V  cut-off %.2f V  I_nom %.1f mA  I_max %.1f mA  P %.1f MPa"
            % (
                r["preset"], r["capacity_ah"] * 1e3, r["charge_voltage_v"], r["discharge_cutoff_v"],
                r["nominal_current_a"] * 1e3, r["max_current_a"] * 1e3, r["stack_pressure_mpa"],
            )
        )  # fmt: skip
    return 0


def add_bench_cell(bench_subparsers):
    """Register ``cell`` on the ``bench`` subparsers."""
    b = bench_subparsers.add_parser("cell", help="emulated cell: steps per second, one cell and a 1000-cell batch")
    b.add_argument("--json", action="store_true")
    b.set_defaults(handler=cmd_bench)


def cmd_bench(args):
    from platewise.hil.cell.bench import bench

    r = bench()
    if args.json:
        print(json.dumps(r))
    else:
        for k, v in r.items():
            print("%-26s %12.1f" % (k, v))
    return 0
