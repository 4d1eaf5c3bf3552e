"""How much free heap one signed command needs on a board: the command code
(firmware/commands.py with its decoder and MAC stages) loaded beside the
resident firmware, the handler made, the command judged, in the real
MicroPython unix port from the compiled tree (host/mpybuild.py).

The figure is found by bisection over the free heap left by ballast
(tests/firmware/mp/mp_cmd_heap.py): 12.0 KB with the decoder and the MAC
loaded one at a time (firmware/commands.py, _stage), 15.6 KB with the three
modules loaded together. The HIL board has about 15 KB free when a command
arrives at 96 KB (the outbox and the spill's buffers move it by a few KB),
so the bound keeps the margin the staging won (docs/firmware.md, Heap)."""

from __future__ import annotations

import json
import shutil
import subprocess

from platewise.host.mpybuild import build, micropython_env, micropython_path, mount
from platewise.shared import cmdsign
from platewise.shared import telemetry as tm
from repo_paths import REPO_ROOT

KEY = bytes(range(7, 39))
CELL = "heap-1"
SCRIPT = REPO_ROOT / "tests" / "firmware" / "mp" / "mp_cmd_heap.py"
# Free heap the command must fit in (64-bit unix port; a 32-bit board needs less).
NEED_MAX_BYTES = 13312


def _judge(board, free_bytes: int, payload: bytes) -> tuple[bool, str]:
    case = {"key_hex": KEY.hex(), "payload_hex": payload.hex(), "topic": tm.topic(CELL, "cmd"), "cell": CELL, "free_bytes": free_bytes}
    (board / "case.json").write_text(json.dumps(case))
    r = subprocess.run(
        [micropython_path(), "-X", "heapsize=160K", "-m", "mp_cmd_heap"],
        cwd=board,
        env=micropython_env(path=""),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    line = r.stdout.strip().splitlines()[-1]
    return line.startswith("FITS"), line


def test_one_signed_command_fits_in_the_free_heap_bound(tmp_path):
    board = mount(build(), tmp_path / "board")
    shutil.copy(SCRIPT, board / "mp_cmd_heap.py")
    payload = tm.encode("cmd", CELL, 1, cmdsign.command_fields(KEY, CELL, 1, "set_limits", {"charge_current_a": 0.01}))
    fits, line = _judge(board, 40000, payload)
    assert fits and line.endswith("set_limits"), line  # plenty of heap: accepted
    fits, line = _judge(board, 1024, payload)
    assert not fits, line  # no room for the code: short, never a verdict
    lo, hi = 1024, 40000  # short at lo, fits at hi
    while hi - lo > 128:
        mid = (lo + hi) // 2
        if _judge(board, mid, payload)[0]:
            hi = mid
        else:
            lo = mid
    print(f"free heap one signed set_limits needs: {hi} bytes (bound {NEED_MAX_BYTES})")
    assert hi <= NEED_MAX_BYTES, hi
