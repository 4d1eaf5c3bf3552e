"""``platewise bench firmware``: the firmware's control tick in the real
MicroPython VM (firmware/bench.py), precompiled and laid out as on a board,
at the HIL heap. Prints figures; tests check correctness, not timing.

``--table FILE`` also measures the firmware's heap and writes every figure
into the marked block of FILE (docs/firmware.md, "Heap figures"), so that
the figures the docs quote have one home and one command that makes them:
- the tick in both charging modes (time, bytes allocated, growth);
- what importing each part costs the heap, each in a fresh VM with only
  ``shared.compat`` loaded first (a part's own dependencies are counted);
- a one-cycle HIL run (the demo's virtual board on lfp-liquid, embedded
  broker): the live heap at loop start and at most, and the VM's interned
  names at loop start and at the end.

Failure behaviour: a VM that fails or prints no figures gives one line on
stderr with the tail of its output and exit code 1; a ``--table`` file
without the markers (or unreadable) gives one line and exit code 2, and the
file is left as it was.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from platewise.hil.virtual_board import DEFAULT_HEAPSIZE
from platewise.host.mpybuild import build, micropython_env, micropython_path, mount

TABLE_START = "<!-- platewise bench firmware --table: start -->"
TABLE_END = "<!-- platewise bench firmware --table: end -->"

# Parts whose heap the docs weigh, as (label, modules imported together,
# modules loaded before them and not counted: what is resident when they load).
IMPORT_PARTS = (
    ("config (boot only)", ("firmware.config",), ()),
    ("board pin rules and schema (bring-up only)", ("firmware.boards.board_config",), ()),
    # A command holds its handler and one stage at a time (firmware/commands.py, _stage).
    ("command handler (loaded per command)", ("firmware.commands",), ("shared.wire",)),
    ("command decoder stage (loaded per command)", ("shared.wirecheck",), ("shared.wire",)),
    ("command MAC stage (loaded per command)", ("shared.auth",), ("shared.wire",)),
    ("telemetry encoder and limits (resident)", ("shared.wire",), ()),
    ("the BMS's modules (resident)", ("firmware.app",), ()),
)


class BenchError(RuntimeError):
    pass


def add_bench_firmware(bsub) -> None:
    """Register ``firmware`` on the ``bench`` subparsers."""
    f = bsub.add_parser("firmware", help="firmware control tick under the MicroPython unix port: time, allocations, heap")
    f.add_argument("--ticks", type=int, default=10000)
    f.add_argument("--mode", choices=("adaptive", "cccv"), default="adaptive")
    f.add_argument("--heapsize", default=DEFAULT_HEAPSIZE, help=f"micropython -X heapsize (default {DEFAULT_HEAPSIZE}, the HIL heap)")
    f.add_argument("--json", action="store_true")
    f.add_argument(
        "--table",
        metavar="FILE",
        default=None,
        help="also measure the heap (imports, a one-cycle HIL run) and rewrite the figures block of FILE "
        "(docs/firmware.md)",
    )
    f.set_defaults(handler=bench_firmware)


def _vm(code: str, heapsize: str) -> str:
    """Run ``code`` in the VM on the compiled firmware, mounted as a board's root; its stdout."""
    with tempfile.TemporaryDirectory(prefix="platewise-bench-") as root:
        mount(build(), Path(root))
        r = subprocess.run(
            [micropython_path(), "-X", f"heapsize={heapsize}", "-c", code],
            env=micropython_env(path=""),
            cwd=root,
            capture_output=True,
            text=True,
            timeout=600,
        )
    if r.returncode != 0:
        raise BenchError(f"micropython failed: {(r.stderr or r.stdout)[-2000:]}")
    return r.stdout


def _tagged(out: str, tag: str) -> dict:
    line = [ln for ln in out.splitlines() if ln.startswith(tag + " ")]
    if not line:
        raise BenchError(f"micropython printed no {tag} line: {out[-2000:]}")
    return json.loads(line[0][len(tag) + 1 :])


def tick(ticks: int, mode: str, heapsize: str) -> dict:
    """firmware/bench.py's figures for one mode."""
    d = _tagged(_vm(f"import firmware.bench as b; b.main({int(ticks)}, {mode!r})", heapsize), "PLATEWISE-BENCH")
    d["heapsize"] = heapsize
    return d


def import_cost_bytes(modules: tuple[str, ...], heapsize: str, resident: tuple[str, ...] = ()) -> int:
    """Live heap (after gc) that importing ``modules`` adds in a fresh VM
    where ``resident`` (and shared.compat) are already loaded."""
    code = "\n".join(
        ["import gc", "import shared.compat"] + [f"import {m}" for m in resident] + ["gc.collect()", "a = gc.mem_alloc()"]
        + [f"import {m}" for m in modules]
        + ["gc.collect()", "print('PLATEWISE-IMPORT {\"bytes\": %d}' % (gc.mem_alloc() - a))"]
    )
    return int(_tagged(_vm(code, heapsize), "PLATEWISE-IMPORT")["bytes"])


def hil_run(mode: str = "cccv") -> dict:
    """One cycle of one virtual board (the demo's, lfp-liquid): its exit figures."""
    from platewise.hil.demo import run_demo

    s = run_demo(cells=1, cycles=1, progress=False, mode=mode)
    (cell,) = s["cells"]
    if "error" in cell:
        raise BenchError(f"HIL run failed: {cell['error']}")
    fw = cell["firmware"]
    return {k: fw[k] for k in ("heap_start_bytes", "heap_max_bytes", "heap_total_bytes", "qstr_count_start", "qstr_count", "published")}


def measure_table(ticks: int, heapsize: str) -> dict:
    figs: dict = {"heapsize": heapsize, "ticks": {m: tick(ticks, m, heapsize) for m in ("adaptive", "cccv")}}
    figs["imports"] = [(label, mods, import_cost_bytes(mods, heapsize, pre)) for label, mods, pre in IMPORT_PARTS]
    figs["hil"] = hil_run()
    return figs


def _kb(n: int) -> str:
    return f"{n / 1024:.1f} KB"


def render_table(figs: dict) -> str:
    """The figures block (Markdown) from ``measure_table``'s figures."""
    rows = [
        TABLE_START,
        f"Made by `platewise bench firmware --table docs/firmware.md` (MicroPython unix port, 64-bit, "
        f"heap {figs['heapsize']}); do not edit by hand.",
        "",
        "| figure | value |",
        "|---|---|",
    ]
    for mode, d in figs["ticks"].items():
        rows.append(
            f"| tick, {mode} ({d['ticks']} ticks): median / p99 | {d['tick_us_median']:.0f} us / {d['tick_us_p99']:.0f} us |"
        )
        rows.append(
            f"| tick, {mode}: allocated per tick (median) / heap growth per 10,000 ticks | "
            f"{d['alloc_bytes_per_tick_median']} B / {d['heap_growth_bytes_10k_ticks']} B |"
        )
    for label, mods, n in figs["imports"]:
        rows.append(f"| import: {label} (`{'`, `'.join(mods)}`) | {_kb(n)} |")
    h = figs["hil"]
    rows.append(f"| HIL, one cycle (lfp-liquid, cccv): live heap at loop start / at most | {_kb(h['heap_start_bytes'])} / {_kb(h['heap_max_bytes'])} |")
    rows.append(f"| HIL, one cycle: interned names (qstrs) at loop start / at the end | {h['qstr_count_start']} / {h['qstr_count']} |")
    rows.append(TABLE_END)
    return "\n".join(rows)


def replace_block(path: Path, block: str) -> None:
    """Put ``block`` between FILE's markers (both included in ``block``); the rest untouched."""
    try:
        text = path.read_text()
    except OSError as e:
        raise ValueError(f"{path}: {e.strerror}") from e
    i, j = _find_block(text, path)
    path.write_text(text[:i] + block + text[j + len(TABLE_END) :])


def _find_block(text: str, name) -> tuple[int, int]:
    i, j = text.find(TABLE_START), text.find(TABLE_END)
    if i < 0 or j < i:
        raise ValueError(f"{name}: no figures block (a line {TABLE_START} followed by a line {TABLE_END})")
    return i, j


def bench_firmware(args) -> int:
    """Runs firmware/bench.py in the real MicroPython VM and prints its figures."""
    if args.table is not None:
        # The file is checked before minutes of measuring, and written only at the end.
        try:
            _find_block(Path(args.table).read_text(), args.table)
        except OSError as e:
            print(f"platewise bench firmware: {args.table}: {e.strerror}", file=sys.stderr)
            return 2
        except ValueError as e:
            print(f"platewise bench firmware: {e}", file=sys.stderr)
            return 2
    try:
        if args.table is not None:
            figs = measure_table(args.ticks, args.heapsize)
            d = figs["ticks"][args.mode]
        else:
            d = tick(args.ticks, args.mode, args.heapsize)
    except BenchError as e:
        print(f"platewise bench firmware: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(figs if args.table is not None else d))
    else:
        print(
            f"firmware tick ({d['mode']}, {d['ticks']} ticks, heap {args.heapsize}): median {d['tick_us_median']:.0f} us, "
            f"p99 {d['tick_us_p99']:.0f} us, {d['alloc_bytes_per_tick_median']} bytes allocated per tick, "
            f"peak heap {d['peak_heap_bytes']} bytes, growth over 10k ticks {d['heap_growth_bytes_10k_ticks']} bytes"
        )
    if args.table is not None:
        block = render_table(figs)
        try:
            replace_block(Path(args.table), block)
        except ValueError as e:
            print(f"platewise bench firmware: {e}", file=sys.stderr)
            return 2
        if not args.json:
            print(block)
    return 0
