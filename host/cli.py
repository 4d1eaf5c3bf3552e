"""The twin's commands, for the ``platewise`` CLI (platewise/cli.py wires them in):

  platewise twin replay FILE|DIR [--preset NAME|FILE.json] [--json] [--db FILE]
  platewise twin run --broker URL [--db FILE] [--preset NAME]   live, until Ctrl-C
  platewise twin --broker URL [--db FILE] [--preset NAME]       the same
  platewise twin export --db FILE [--cell ID] [--format csv|parquet] [--out DIR]
  platewise twin serve --db FILE [--host H] [--port N] [--token-file F]   HTTP API (host/twin/http.py)
  platewise twin backup --db FILE --out FILE         consistent copy while the twin writes (host/twin/backup.py)

``add_twin_commands(subparsers)`` registers them; each parser sets
``handler=fn`` with fn(args) -> exit code. ``--preset`` takes a preset name
(host/presets/) or a JSON file (``{"params": {field: {"value": ...}}}`` or a
flat object).

Failure behaviour: a bad file, preset, broker or tuning prints one line
naming the problem on stderr and returns exit code 2; a broker that cannot
be reached returns 3. Nothing prints a traceback for a user error.
"""

import argparse
import json
import logging
import os
import sys
import time

from platewise.host.deploy import logsetup
from platewise.host.presets import load_params


def _err(msg):
    print("platewise twin: " + msg, file=sys.stderr)


def _load_preset(spec):
    """Flat parameter dict of a preset name or JSON file."""
    if spec is None:
        return None
    if os.path.exists(spec) or spec.endswith(".json"):
        with open(spec) as f:
            data = json.load(f)
        params = data.get("params", data) if isinstance(data, dict) else None
        if not isinstance(params, dict):
            raise ValueError("preset file %s: expected a JSON object" % spec)
        return {k: (v["value"] if isinstance(v, dict) and "value" in v else v) for k, v in params.items()}
    return load_params(spec)


def _tuning(path):
    if path is None:
        return None
    from platewise.host.twin.filters import tuning_from_json

    with open(path) as f:
        return tuning_from_json(f.read())


def cmd_replay(args):
    from platewise.host.twin.replay import ReplayError, replay
    from platewise.host.twin.service import Twin

    try:
        preset = _load_preset(args.preset)
        tuning = _tuning(args.tuning)
    except (OSError, ValueError) as e:
        _err(str(e))
        return 2
    formation = args.formation_cycles
    capacity_ah = None
    if preset is not None:
        if formation is None:
            formation = int(preset.get("formation_cycles", 0))
        if "area_cm2" in preset and "loading_mah_cm2" in preset:
            capacity_ah = preset["area_cm2"] * preset["loading_mah_cm2"] / 1000.0
    logging.getLogger("platewise.twin").setLevel(logging.ERROR if args.json else logging.WARNING)
    twin = Twin(db_path=args.db or ":memory:", filter_tuning=tuning)
    try:
        full = preset if preset is not None and "cathode_ocv_table" in preset else None
        out = replay(args.file, twin, cell_id=args.cell, formation_cycles=formation or 0, capacity_ah=capacity_ah, cell_params=full)
    except ReplayError as e:
        _err(str(e))
        return 2
    finally:
        twin.close()
    if args.json:
        print(json.dumps(out))
        return 0
    print("%5s %10s %9s %8s %13s %6s  %s" % ("cycle", "inv mAh", "+/- mAh", "EOL", "EOL 90 %", "short", "alarms"))
    for c in out["cycles"]:
        eol = "-" if c["eol_cycle_pred"] is None else "%.0f" % c["eol_cycle_pred"]
        lo = "-" if c["eol_cycle_lo"] is None else "%.0f" % c["eol_cycle_lo"]
        hi = "-" if c["eol_cycle_hi"] is None else "%.0f" % c["eol_cycle_hi"]
        if c["inventory_ah"] is None:  # a partial or outlier cycle before the first one the twin learnt from
            print("%5d %10s %9s %8s %13s %6.3f  %s" % (c["cycle"], "-", "-", eol, lo + ".." + hi, c["short_risk"], ",".join(c["alarms"])))
            continue
        print("%5d %10.4f %9.4f %8s %13s %6.3f  %s" % (c["cycle"], 1e3 * c["inventory_ah"], 1e3 * c["inventory_std_ah"], eol, lo + ".." + hi, c["short_risk"], ",".join(c["alarms"])))
    return 0


def cmd_run(args):
    """Live: subscribe to a broker, feed the twin, publish its estimates, until Ctrl-C (or --duration-s)."""
    from platewise.host.broker import BrokerError, parse_broker_url
    from platewise.host.cmd import credentials_file
    from platewise.host.twin.mqtt import MqttLinkError, TwinSubscriber
    from platewise.host.twin.service import Twin

    if not args.broker:
        _err("--broker URL is required (mqtt://HOST:PORT)")
        return 2
    try:
        host, port = parse_broker_url(args.broker)
        tuning = _tuning(args.tuning)
        preset = _load_preset(args.preset)
        # the fast filter (EKF on telemetry) runs when the cell's parameters are known
        twin = Twin(db_path=args.db or "platewise-twin.db", filter_tuning=tuning, cell_params=preset)
    except (BrokerError, OSError, ValueError) as e:
        _err(str(e))
        return 2
    try:
        user, password = credentials_file(args.credentials)
        logsetup.configure(args.log_file)
    except (OSError, ValueError) as e:
        _err(str(e))
        twin.close()
        return 2
    sub = TwinSubscriber(twin, host, port, client_id=args.client_id, username=user, password=password, publish_estimates=True)
    try:
        sub.start()
    except MqttLinkError as e:
        _err(str(e))
        twin.close()
        return 3
    try:
        deadline = None if args.duration_s is None else time.monotonic() + args.duration_s
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
            twin.store.maybe_commit(time.time())
    except KeyboardInterrupt:
        pass
    finally:
        sub.stop()
        summary = twin.summary()
        twin.close()
    print(json.dumps(summary) if args.json else "twin: %d messages handled, %d cells" % (summary["handled"], len(summary["cells"])))
    return 0


def cmd_export(args):
    from platewise.host.twin.export import ExportError, export

    try:
        written = export(args.db, args.out, cell_id=args.cell, fmt=args.format)
    except ExportError as e:
        _err(str(e))
        return 2
    for path in written:
        print(path)
    return 0


def cmd_serve(args):
    from platewise.host.twin.access import AccessError
    from platewise.host.twin.http import serve

    try:
        return serve(args.db, host=args.host, port=args.port, token_file=args.token_file)
    except AccessError as e:
        _err(str(e))
        return 2


def cmd_backup(args):
    from platewise.host.twin.backup import BackupError, backup

    try:
        pages = backup(args.db, args.out)
    except BackupError as e:
        _err(str(e))
        return 2
    print("%s: %d pages" % (args.out, pages))
    return 0


def _twin_main(args):
    if getattr(args, "broker", None):
        return cmd_run(args)
    args.twin_parser.print_help(sys.stderr)
    return 2


def _live_options(p, required):
    p.add_argument("--broker", required=required, default=None, help="mqtt://HOST:PORT of the broker")
    p.add_argument("--db", default=None, help="SQLite file (default platewise-twin.db); a restart resumes from it")
    p.add_argument("--client-id", default="platewise-twin", help="MQTT client id (persistent session)")
    p.add_argument("--tuning", default=None, help="JSON file of filter tuning overrides")
    p.add_argument("--preset", default=None, help="cell preset name or JSON file: also runs the fast filter (EKF) on telemetry")
    p.add_argument("--duration-s", type=float, default=None, help="stop after this many seconds (default: until Ctrl-C)")
    p.add_argument("--json", action="store_true", help="print the final summary as JSON")
    p.add_argument("--credentials", default=None, help="JSON file with mqtt_user and mqtt_password (host/twin.json of platewise provision)")
    p.add_argument("--log-file", default=None, help="log to this file, rotated (default: stderr)")


def add_twin_commands(subparsers):
    """Register ``twin`` and its subcommands on an argparse subparsers object."""
    t = subparsers.add_parser("twin", help="digital twin: replay lab data, run live, export, serve the HTTP API")
    _live_options(t, required=False)
    t.set_defaults(handler=_twin_main, twin_parser=t)
    sub = t.add_subparsers(dest="twin_command")

    r = sub.add_parser("replay", help="run the twin on a recorded CSV (time_s, voltage_v, current_a, temperature_c[, pressure_mpa, cycle_index])")
    r.add_argument("file", help="our CSV (see host/twin/replay.py), a cycler's native file (Arbin, BioLogic, Neware, Maccor, PEC, Novonix), or a folder of session files")
    r.add_argument("--preset", default=None, help="cell preset name or preset JSON file (formation cycles, capacity check)")
    r.add_argument("--formation-cycles", type=int, default=None, help="cycles to treat as formation (default: the preset's, else 0)")
    r.add_argument("--cell", default="replay", help="cell id to store the data under")
    r.add_argument("--db", default=None, help="SQLite file to keep the result in (default: in memory)")
    r.add_argument("--tuning", default=None, help="JSON file of filter tuning overrides")
    r.add_argument("--json", action="store_true", help='print {"cycles": [...]} as JSON')
    r.set_defaults(handler=cmd_replay)

    run = sub.add_parser("run", help="run live against a broker")
    _live_options(run, required=True)
    run.set_defaults(handler=cmd_run)

    e = sub.add_parser("export", help="export per-cell history (cycles, estimates, alarms) to CSV or Parquet")
    e.add_argument("--db", required=True, help="the twin's SQLite file")
    e.add_argument("--cell", default=None, help="one cell (default: every cell)")
    e.add_argument("--format", choices=("csv", "parquet"), default="csv")
    e.add_argument("--out", default=".", help="directory to write into")
    e.set_defaults(handler=cmd_export)

    s = sub.add_parser("serve", help="HTTP API (REST + server-sent events) over the twin's SQLite file")
    s.add_argument("--db", required=True)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--token-file", default=None, help="hashed API tokens (platewise deploy token); required off loopback")
    s.set_defaults(handler=cmd_serve)

    b = sub.add_parser("backup", help="a consistent copy of the twin's database, while the twin writes (SQLite online backup)")
    b.add_argument("--db", required=True, help="the twin's SQLite file")
    b.add_argument("--out", required=True, help="the copy to write (replaced atomically)")
    b.set_defaults(handler=cmd_backup)
    return t
