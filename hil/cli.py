"""The `platewise` command.

It lives in hil/ because its main job, the demo, composes everything: hil
may import host and shared, and nothing imports hil.

  platewise demo [--cells N] [--cycles N] [--preset NAME] [--broker mosquitto|mqtt://HOST:PORT] [--json]
  platewise cell run ...      reference cycler on the emulated cell (no firmware)
  platewise bench cell        benchmarks print figures
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="platewise", description="Battery management for anode-less lithium-metal cells")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="broker + N virtual boards (real firmware, emulated cells) + digital twin")
    d.add_argument("--cells", type=int, default=2, help="number of virtual boards (default 2)")
    d.add_argument("--cycles", type=int, default=3, help="cycles each board runs (default 3)")
    d.add_argument("--preset", default="lfp-liquid", help="cell preset (default lfp-liquid)")
    d.add_argument(
        "--broker",
        default=None,
        help="'mosquitto' to start a private Mosquitto, or mqtt://HOST:PORT of a running broker "
        "(default: embedded Python broker)",
    )
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--db", default=None, help="SQLite file for the twin (default: a temporary file)")
    d.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    d.add_argument("--quiet", action="store_true", help="no progress on stderr")

    from hil.cell.cli import add_cell_commands, cmd_bench as cell_bench

    add_cell_commands(sub)

    bench = sub.add_parser("bench", help="benchmarks: print figures (tests check correctness, not timing)")
    bsub = bench.add_subparsers(dest="bench_command", required=True)
    b = bsub.add_parser("cell", help="emulated cell: steps per second, one cell and a 1000-cell batch")
    b.add_argument("--json", action="store_true")
    b.set_defaults(handler=cell_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.cells < 1 or args.cycles < 1:
            parser.error("--cells and --cycles must be at least 1")
        from hil import demo

        return demo.main(args)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.error(f"unknown command {args.command}")
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
