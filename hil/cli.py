"""The `platewise` command.

It lives in hil/ because its main job, the demo, composes everything: hil
may import host and shared, and nothing imports hil.

  platewise demo [--cells N] [--cycles N] [--preset NAME] [--broker mosquitto|mqtt://HOST:PORT] [--json]
  platewise cell run ...      reference cycler on the emulated cell (no firmware)
  platewise twin replay FILE.csv [--preset NAME] [--json]   the twin on lab data
  platewise twin --broker mqtt://HOST:PORT [--db FILE]       the twin, live
  platewise cmd CELL COMMAND [ARG=VALUE ...] --broker URL --secrets FILE   one signed command
  platewise flash DEVICE [--config F] [--secrets F] [--board-config F --board rp2|esp32]   mpremote
  platewise bench cell|firmware|twin                         benchmarks print figures
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

    from hil.cell.cli import add_cell_commands, cmd_bench as cell_bench
    from hil.cell.params import load_params
    from host.cli import add_twin_commands
    from host.cmd import add_cmd_command
    from hil.flash import add_flash_command
    from host.twin.bench import add_bench_twin

    add_cell_commands(sub)
    # host must not import hil: the preset loader is handed in.
    add_twin_commands(sub, preset_loader=load_params)
    add_cmd_command(sub)
    add_flash_command(sub)

    bench = sub.add_parser("bench", help="benchmarks: print figures (tests check correctness, not timing)")
    bsub = bench.add_subparsers(dest="bench_command", required=True)
    b = bsub.add_parser("cell", help="emulated cell: steps per second, one cell and a 1000-cell batch")
    b.add_argument("--json", action="store_true")
    b.set_defaults(handler=cell_bench)
    f = bsub.add_parser("firmware", help="firmware control tick under the MicroPython unix port: time, allocations, heap")
    f.add_argument("--ticks", type=int, default=10000)
    f.add_argument("--mode", choices=("adaptive", "cccv"), default="adaptive")
    from hil.virtual_board import DEFAULT_HEAPSIZE

    f.add_argument("--heapsize", default=DEFAULT_HEAPSIZE, help=f"micropython -X heapsize (default {DEFAULT_HEAPSIZE}, the HIL heap)")
    f.add_argument("--json", action="store_true")
    f.set_defaults(handler=bench_firmware)
    add_bench_twin(bsub)
    return p


def bench_firmware(args) -> int:
    """Runs firmware/bench.py in the real MicroPython VM and prints its figures."""
    import json
    import subprocess

    import tempfile
    from pathlib import Path

    from hil.mpybuild import build, mount
    from hil.virtual_board import micropython_env, micropython_path

    code = f"import firmware.bench as b; b.main({int(args.ticks)}, {args.mode!r})"
    with tempfile.TemporaryDirectory(prefix="platewise-bench-") as root:
        # Precompiled and laid out as on a board (hil/mpybuild.py), as HIL runs it.
        mount(build(), Path(root))
        r = subprocess.run(
            [micropython_path(), "-X", f"heapsize={args.heapsize}", "-c", code],
            env=micropython_env(path=""),
            cwd=root,
            capture_output=True,
            text=True,
            timeout=600,
        )
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("PLATEWISE-BENCH ")]
    if r.returncode != 0 or not line:
        print(f"platewise bench firmware: micropython failed: {r.stderr[-2000:]}", file=sys.stderr)
        return 1
    d = json.loads(line[0][len("PLATEWISE-BENCH ") :])
    d["heapsize"] = args.heapsize
    if args.json:
        print(json.dumps(d))
    else:
        print(
            f"firmware tick ({d['mode']}, {d['ticks']} ticks, heap {args.heapsize}): median {d['tick_us_median']:.0f} us, "
            f"p99 {d['tick_us_p99']:.0f} us, {d['alloc_bytes_per_tick_median']} bytes allocated per tick, "
            f"peak heap {d['peak_heap_bytes']} bytes, growth over 10k ticks {d['heap_growth_bytes_10k_ticks']} bytes"
        )
    return 0


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
