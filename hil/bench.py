"""``platewise bench firmware``: the firmware's control tick in the real
MicroPython VM (firmware/bench.py), precompiled and laid out as on a board,
at the HIL heap. Prints figures; tests check correctness, not timing.

Failure behaviour: a VM that fails or prints no figures gives one line on
stderr with the tail of its output and exit code 1.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from platewise.hil.virtual_board import DEFAULT_HEAPSIZE
from platewise.host.mpybuild import build, micropython_env, micropython_path, mount


def add_bench_firmware(bsub) -> None:
    """Register ``firmware`` on the ``bench`` subparsers."""
    f = bsub.add_parser("firmware", help="firmware control tick under the MicroPython unix port: time, allocations, heap")
    f.add_argument("--ticks", type=int, default=10000)
    f.add_argument("--mode", choices=("adaptive", "cccv"), default="adaptive")
    f.add_argument("--heapsize", default=DEFAULT_HEAPSIZE, help=f"micropython -X heapsize (default {DEFAULT_HEAPSIZE}, the HIL heap)")
    f.add_argument("--json", action="store_true")
    f.set_defaults(handler=bench_firmware)


def bench_firmware(args) -> int:
    """Runs firmware/bench.py in the real MicroPython VM and prints its figures."""
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
