"""``platewise bench twin``: how fast the twin's estimators and MQTT input are.

- Cell-updates per second of the batched numpy path (``BatchInventoryFilter``)
  and of a per-cell filterpy loop (``InventoryFilter.update_cycle``), side by
  side in one run, for 1, 100 and 10,000 cells. Every round gives every cell
  its next cycle summary (synthetic CE^N data with counting noise, so the
  gate and the update both run); rounds repeat until ``min_time_s``.
- End-to-end messages per second through a real Mosquitto (private, on a
  free loopback port, see host/broker.py): a paho publisher sends
  ``mqtt_messages`` telemetry messages at QoS 1 as fast as it can, the
  ``TwinSubscriber`` feeds a ``Twin`` (SQLite in memory, batched commits),
  and the clock stops when the twin has handled the last one.

``bench()`` returns the JSON contract of the issue:
{"batched_updates_per_s": {"1": f, "100": f, "10000": f},
 "filterpy_updates_per_s": {...}, "mqtt_messages_per_s": f} (plus details).

Failure behaviour: no Mosquitto installed, or the twin not receiving every
message within ``timeout_s``, raises ``BenchError`` with the reason (the
CLI prints it and exits 2); figures are never made up.
"""

import json
import sys
import time

import numpy as np

from .batch import BatchInventoryFilter
from .filters import InventoryFilter

SIZES = (1, 100, 10000)


class BenchError(RuntimeError):
    pass


def _data(n_cells, n_rounds, seed=0):
    rng = np.random.default_rng(seed)
    i0 = rng.uniform(0.01, 5.0, n_cells)
    ce = rng.uniform(0.995, 0.9995, n_cells)
    k = np.arange(1, n_rounds + 1)[:, None]
    charge = i0 * ce ** (k - 1) * (1 + rng.normal(0, 3e-4, (n_rounds, n_cells)))
    discharge = i0 * ce**k * (1 + rng.normal(0, 3e-4, (n_rounds, n_cells)))
    return charge, discharge


def bench_filters(n_cells, min_time_s=0.5, max_rounds=200):
    """(batched, filterpy) cell-updates per second for ``n_cells``."""
    n_rounds = max_rounds
    charge, discharge = _data(n_cells, n_rounds)
    cycles = np.arange(1, n_rounds + 1)
    # batched
    b = BatchInventoryFilter(n_cells)
    t0 = time.perf_counter()
    done = 0
    while done < n_rounds:
        b.update(np.full(n_cells, cycles[done]), charge[done], discharge[done])
        done += 1
        if time.perf_counter() - t0 >= min_time_s and done >= 3:
            break
    batched = done * n_cells / (time.perf_counter() - t0)
    # per-cell filterpy loop over the same data
    fs = [InventoryFilter() for _ in range(n_cells)]
    t0 = time.perf_counter()
    done = 0
    while done < n_rounds:
        c = int(cycles[done])
        ch, dis = charge[done], discharge[done]
        for i, f in enumerate(fs):
            f.update_cycle({"cycle": c, "charge_ah": float(ch[i]), "discharge_ah": float(dis[i])})
        done += 1
        if time.perf_counter() - t0 >= min_time_s and done >= 2:
            break
    per_cell = done * n_cells / (time.perf_counter() - t0)
    return batched, per_cell


def bench_mqtt(n_messages=2000, timeout_s=60.0):
    """Messages per second, publisher -> Mosquitto -> TwinSubscriber -> Twin."""
    from platewise.host.broker import BrokerError, MosquittoBroker
    from platewise.shared.telemetry import encode, topic
    from platewise.shared.wire import CHARGE_CC

    from .mqtt import Publisher, TwinSubscriber
    from .service import Twin

    payloads = []
    for s in range(1, n_messages + 1):
        fields = {
            "t_s": float(s), "voltage_v": 3.4, "current_a": 0.004, "temperature_c": 25.0, "pressure_mpa": 1.0,
            "cycle": 1, "cycle_charge_ah": 0.001, "cycle_discharge_ah": 0.0, "total_charge_ah": 0.01,
            "total_discharge_ah": 0.0, "r_ohm": 1.7, "state": CHARGE_CC,
        }  # fmt: skip
        payloads.append(encode("telemetry", "bench-%d" % (s % 10), s, fields))
    try:
        brk = MosquittoBroker().start()
    except BrokerError as e:
        raise BenchError("no Mosquitto for the MQTT bench: %s" % e) from e
    twin = Twin(batch_rows=1000, max_delay_s=0.5)
    sub = TwinSubscriber(twin, brk.host, brk.port, client_id="bench-twin", clean_session=True)
    pub = None
    try:
        sub.start()
        pub = Publisher(brk.host, brk.port, client_id="bench-pub")
        t0 = time.perf_counter()
        for s, payload in enumerate(payloads, start=1):
            pub.publish(topic("bench-%d" % (s % 10), "telemetry"), payload)
        deadline = time.monotonic() + timeout_s
        while twin.handled < n_messages:
            if time.monotonic() > deadline:
                raise BenchError("the twin handled %d of %d messages in %.0f s" % (twin.handled, n_messages, timeout_s))
            time.sleep(0.002)
        elapsed = time.perf_counter() - t0
    finally:
        if pub is not None:
            pub.close()
        sub.stop()
        twin.close()
        brk.stop()
    return n_messages / elapsed


def bench(sizes=SIZES, min_time_s=0.5, mqtt_messages=2000):
    """Run everything; return the JSON-contract dict."""
    batched, per_cell = {}, {}
    for n in sizes:
        b, f = bench_filters(n, min_time_s=min_time_s)
        batched[str(n)], per_cell[str(n)] = b, f
    return {
        "batched_updates_per_s": batched,
        "filterpy_updates_per_s": per_cell,
        "speedup": {k: batched[k] / per_cell[k] for k in batched},
        "mqtt_messages_per_s": bench_mqtt(mqtt_messages),
        "mqtt_messages": mqtt_messages,
    }


def cmd_bench_twin(args):
    try:
        sizes = tuple(int(x) for x in args.sizes.split(","))
    except ValueError:
        print("platewise bench twin: --sizes must be comma-separated integers, got %r" % args.sizes, file=sys.stderr)
        return 2
    try:
        result = bench(sizes=sizes, min_time_s=args.min_time_s, mqtt_messages=args.messages)
    except BenchError as e:
        print("platewise bench twin: %s" % e, file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
        return 0
    print("%10s %22s %22s %8s" % ("cells", "batched updates/s", "filterpy updates/s", "speedup"))
    for k in result["batched_updates_per_s"]:
        b, f = result["batched_updates_per_s"][k], result["filterpy_updates_per_s"][k]
        print("%10s %22.0f %22.0f %7.1fx" % (k, b, f, b / f))
    print("MQTT end to end (Mosquitto, QoS 1, %d messages): %.0f messages/s" % (result["mqtt_messages"], result["mqtt_messages_per_s"]))
    return 0


def add_bench_twin(bench_subparsers):
    """Register ``twin`` under ``platewise bench``."""
    p = bench_subparsers.add_parser("twin", help="twin estimators (batched vs filterpy) and MQTT throughput")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("--min-time-s", type=float, default=0.5, help="time each filter measurement at least this long")
    p.add_argument("--messages", type=int, default=2000, help="messages for the MQTT measurement")
    p.add_argument("--sizes", default="1,100,10000", help="cell counts to measure (default 1,100,10000)")
    p.set_defaults(handler=cmd_bench_twin)
    return p
