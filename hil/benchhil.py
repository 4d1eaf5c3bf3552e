"""``platewise bench hil``: how fast HIL runs, and where its wall time goes.

One virtual board (the real firmware in the MicroPython unix port,
hil/virtual_board.py), its emulated cell, a broker and the digital twin
subscribed to it, as ``platewise demo`` runs them; by default pinned to one
CPU core (the bench process and everything it starts: the firmware's VM and
Mosquitto inherit the pinning). The reference run is 12 cycles of
lfp-liquid in plain CC-CV (the defaults).

Figures (``--json`` prints them as one object):
- ``realtime_factor``: simulated seconds per wall second of the HIL loop,
  from the firmware's first request to the last answer (boot, broker start,
  the firmware's final flush and the twin catching up are not in it:
  ``realtime_factor_total`` has them).
- ``split_s``: the loop's wall time along its critical path, measured
  exchange by exchange with the firmware's own microsecond stamps (each
  request carries when the last answer arrived, when the tick wait began and
  when the request left; the server stamps its own work):
  ``firmware`` (control tick, reports, MQTT service: the firmware's work
  between an answer and its next wait), ``hold`` (the pacing wait for the
  broker to take the backlog), ``emulator`` (cell step and sensors: the
  server's work per request), ``ipc`` (the firmware's round trip less the
  server's work: both processes' system calls and the switches between
  them), ``other`` (the loop's wall time less the four: near zero, as
  the stamps cover it all but the first request's and the last answer's
  one-way trips).
- ``cpu_s``: CPU time each part used over the run (the firmware's VM and
  Mosquitto from /proc, the server's thread, the twin's MQTT thread and an
  embedded broker's thread from their thread clocks, the rest of the bench
  process from getrusage): ``broker`` and ``twin`` are here. On one core
  they run between the loop's steps, inside its wall time (mostly inside
  ``ipc`` and ``hold``), so the ``cpu_s`` of all parts add up to at most the
  wall time, and ``cpu_s.idle_or_others`` is the rest (the core idle, or
  other processes on it).
- ``realtime_factor_cpu``: simulated seconds per CPU second of all those
  parts together: what one core of one's own would give, the figure that
  holds on a shared machine, where other processes take turns on the core
  and stretch the wall time.
- ``messages``: published by the board, received by the twin, gaps: a fast
  run loses nothing.

Failure behaviour: a firmware that exits non-zero or faults, a twin that
does not receive every published message within 30 s, or a CPU not in this
process's affinity gives one line on stderr and exit code 1 (an unknown
preset: the preset loader's error, exit code 2).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

from platewise.hil.boardlink import process_cpu_s
from platewise.hil.cell.model import Cell, ParamError, load_params
from platewise.hil.cell.sensors import Sensors
from platewise.hil.demo import firmware_config
from platewise.hil.virtual_board import TRANSPORTS, VirtualBoard
from platewise.host.broker import EmbeddedBroker, MosquittoBroker
from platewise.host.twin.mqtt import TwinSubscriber
from platewise.host.twin.service import Twin

BROKERS = ("mosquitto", "embedded")
SPLIT = ("firmware", "hold", "emulator", "ipc")


class BenchError(RuntimeError):
    pass


def add_bench_hil(bsub) -> None:
    """Register ``hil`` on the ``bench`` subparsers."""
    h = bsub.add_parser("hil", help="HIL speed: simulated seconds per wall second, and where the wall time goes")
    h.add_argument("--cycles", type=int, default=12, help="cycles the board runs (default 12)")
    h.add_argument("--preset", default="lfp-liquid")
    h.add_argument("--mode", choices=("cccv", "adaptive"), default="cccv")
    h.add_argument("--broker", choices=BROKERS, default="mosquitto")
    h.add_argument("--transport", choices=[t for t in TRANSPORTS if t != "serial"], default="fifo", help="the board's link to the emulator")
    h.add_argument(
        "--cpu",
        default="first",
        help="the core to pin the run to: a CPU number, 'first' (default: the first this process may use) or 'all' (no pinning)",
    )
    h.add_argument("--max-run-s", type=int, default=None, help="end the run after this much simulated time (short runs)")
    h.add_argument("--json", action="store_true")
    h.set_defaults(handler=bench_hil)


def _thread_cpu_s(threads) -> float:
    total = 0.0
    for t in threads:
        try:
            total += time.clock_gettime(time.pthread_getcpuclockid(t.ident))
        except (OSError, TypeError):  # the thread ended: its time is gone with it
            pass
    return total


def _new_threads(before: set) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t not in before]


def _pin(cpu: str) -> set[int] | None:
    """Pin this process (and what it starts from now on) to one core; the old affinity."""
    if cpu == "all":
        return None
    old = os.sched_getaffinity(0)
    core = min(old) if cpu == "first" else int(cpu)
    if core not in old:
        raise BenchError(f"--cpu {cpu}: not one of this process's CPUs {sorted(old)}")
    os.sched_setaffinity(0, {core})
    return old


def run(
    cycles: int = 12,
    preset: str = "lfp-liquid",
    mode: str = "cccv",
    broker: str = "mosquitto",
    transport: str = "fifo",
    cpu: str = "first",
    max_run_s: int | None = None,
) -> dict:
    """One measured HIL run; its figures (module doc)."""
    params = load_params(preset)
    old_affinity = _pin(cpu)
    try:
        return _run(params, cycles, preset, mode, broker, transport, max_run_s)
    finally:
        if old_affinity is not None:
            os.sched_setaffinity(0, old_affinity)


def _run(params, cycles, preset, mode, broker, transport, max_run_s) -> dict:
    t0 = time.monotonic()
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    threads0 = set(threading.enumerate())
    brk = (MosquittoBroker() if broker == "mosquitto" else EmbeddedBroker()).start()
    broker_threads = _new_threads(threads0)
    broker_pid = brk.pid() if broker == "mosquitto" else None
    broker_cpu0 = process_cpu_s(broker_pid) if broker_pid else 0.0
    tmp = tempfile.TemporaryDirectory(prefix="platewise-bench-hil-")
    twin = Twin(db_path=str(Path(tmp.name) / "twin.db"))
    sub = TwinSubscriber(twin, brk.host, brk.port, client_id="platewise-bench-twin")
    vb = None
    try:
        threads1 = set(threading.enumerate())
        sub.start()
        twin_threads = _new_threads(threads1)
        cell = Cell(params, seed=0)
        overrides = {"mode": mode}
        if max_run_s is not None:
            overrides["max_run_s"] = max_run_s
        cfg = firmware_config(cell, "bench-1", brk.host, brk.port, cycles, **overrides)
        vb = VirtualBoard(cell, Sensors(params, seed=0), cfg, transport=transport).start()
        rc = vb.wait(timeout_s=3600)
        fw = vb.summary or {}
        if rc != 0 or fw.get("fault"):
            raise BenchError(f"firmware exit {rc}, fault {fw.get('fault')}: {vb.stderr[-600:]}")
        published = fw.get("published", 0)
        deadline = time.monotonic() + 30
        while _received(twin) < published:
            if time.monotonic() > deadline:
                raise BenchError(f"the twin received {_received(twin)} of {published} messages in 30 s")
            time.sleep(0.01)
        wall_s = time.monotonic() - t0
        host_cpu_s = _cpu_of(resource.getrusage(resource.RUSAGE_SELF)) - _cpu_of(usage0)
        broker_cpu_s = (process_cpu_s(broker_pid) or 0.0) - broker_cpu0 if broker_pid else _thread_cpu_s(broker_threads)
        twin_cpu_s = _thread_cpu_s(twin_threads)
        cells = {c["cell_id"]: c for c in twin.summary()["cells"]}
    finally:
        if vb is not None:
            vb.kill()
        sub.stop()
        twin.close()
        brk.stop()
        tmp.cleanup()
    return figures(vb, preset, mode, broker, transport, wall_s, host_cpu_s, broker_cpu_s, twin_cpu_s, cells.get("bench-1", {}))


def _received(twin) -> int:
    return sum(c.get("received", 0) for c in twin.summary()["cells"])


def _cpu_of(u) -> float:
    return u.ru_utime + u.ru_stime


def figures(vb, preset, mode, broker, transport, wall_s, host_cpu_s, broker_cpu_s, twin_cpu_s, twin_cell) -> dict:
    """The bench's figures from a finished board and the measured CPU times."""
    t = vb.timing
    loop_s = t["loop_us"] / 1e6
    sim_s = vb.t_s
    split = {k: t[k + "_us"] / 1e6 for k in SPLIT}
    split["other"] = loop_s - sum(split.values())
    server_s = t["server_cpu_s"]
    embedded = broker_cpu_s if broker == "embedded" else 0.0  # the embedded broker's thread is in the bench process
    cpu = {
        "firmware": t["firmware_cpu_s"],
        "emulator_thread": server_s,
        "broker": broker_cpu_s,
        "twin": twin_cpu_s,
        "bench_rest": host_cpu_s - server_s - twin_cpu_s - embedded,
    }
    cores = len(os.sched_getaffinity(0))
    own_cpu_s = sum(v for v in cpu.values() if v is not None)
    cpu["idle_or_others"] = wall_s * cores - own_cpu_s
    fw = vb.summary or {}
    ticks = t["steps"]
    return {
        "realtime_factor": sim_s / loop_s if loop_s > 0 else 0.0,
        "realtime_factor_total": sim_s / wall_s,
        "realtime_factor_cpu": sim_s / own_cpu_s if own_cpu_s > 0 else 0.0,
        "sim_s": sim_s,
        "loop_wall_s": loop_s,
        "wall_s": wall_s,
        "ticks": ticks,
        "cycles": fw.get("cycles", 0),
        "preset": preset,
        "mode": mode,
        "broker": broker,
        "transport": transport,
        "cores": cores,
        "split_s": split,
        "split_pct": {k: 100.0 * v / loop_s if loop_s > 0 else 0.0 for k, v in split.items()},
        "per_tick_us": {k: 1e6 * v / ticks if ticks else 0.0 for k, v in split.items()},
        "cpu_s": cpu,
        "messages": {
            "published": fw.get("published", 0),
            "received": twin_cell.get("received", 0),
            "gaps": twin_cell.get("gaps", 0),
        },
    }


def bench_hil(args) -> int:
    if args.cycles < 1:
        print("platewise bench hil: --cycles must be at least 1", file=sys.stderr)
        return 2
    try:
        d = run(args.cycles, args.preset, args.mode, args.broker, args.transport, args.cpu, args.max_run_s)
    except ParamError as e:
        print(f"platewise bench hil: {e}", file=sys.stderr)
        return 2
    except (BenchError, ValueError) as e:
        print(f"platewise bench hil: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(d))
        return 0
    pct = d["split_pct"]
    cpu = d["cpu_s"]
    print(
        f"HIL {d['preset']} {d['mode']}, {d['cycles']} cycles, {d['sim_s'] / 3600:.1f} simulated h in {d['loop_wall_s']:.1f} s "
        f"({d['cores']} core{'s' if d['cores'] > 1 else ''}, broker {d['broker']}, link {d['transport']}): "
        f"{d['realtime_factor']:.0f}x real time ({d['realtime_factor_total']:.0f}x with start and stop; "
        f"{d['realtime_factor_cpu']:.0f}x per CPU second used)"
    )
    print("  loop wall time: " + ", ".join(f"{k} {pct[k]:.0f} % ({d['per_tick_us'][k]:.1f} us/tick)" for k in pct))
    print("  CPU s: " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items() if v is not None))
    m = d["messages"]
    print(f"  messages: {m['published']} published, {m['received']} received, {m['gaps']} gaps")
    return 0
