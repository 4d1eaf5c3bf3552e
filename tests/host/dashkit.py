"""What the dashboard tests feed the twin: an emulated cell's life with a soft short."""

import argparse

from platewise.hil import twin_truth
from platewise.shared.telemetry import encode, topic


def feed_short_cell(twin, cell_id="s1", cycles=10):
    """Cycle summaries of a sulfide cell shorted (5 kOhm) at cycle 7; the twin raises SHORT_SUSPECTED, then SHORT_LIKELY."""
    run = twin_truth.life("sulfide-ssb", seed=0, cycles=cycles, inject=[(7, "internal_short", {"resistance_ohm": 5000.0})])
    for m in run["messages"]:
        twin.handle(topic(cell_id, "cycle"), encode("cycle", cell_id, m["cycle"], dict(m)))
    return run


def run_command(add_command, argv):
    """One subcommand parsed and run as ``platewise`` would, from its own register function."""
    sub = argparse.ArgumentParser(prog="platewise").add_subparsers(dest="command", required=True)
    args = add_command(sub).parse_args(argv[1:])  # each register function returns its parser
    return args.handler(args)
