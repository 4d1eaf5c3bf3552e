"""The `platewise` command: the composition root.

The one module that may import every part (firmware's tools, host, hil):
each subcommand's parser and handler live with the part it belongs to, and
this module only wires them together. Nothing imports it.

  platewise demo [--cells N] [--cycles N] [--preset NAME] [--broker mosquitto|mqtt://HOST:PORT] [--json]
  platewise cell run ...      reference cycler on the emulated cell (no firmware)
  platewise twin replay FILE.csv [--preset NAME] [--json]   the twin on lab data
  platewise twin --broker mqtt://HOST:PORT [--db FILE]       the twin, live
  platewise dashboard --db FILE [--broker URL] [--host H --port N]   fleet and cell pages
  platewise report CELL_ID --db FILE --out FILE.html|.pdf|.png   one cell's report
  platewise cmd CELL COMMAND [ARG=VALUE ...] --broker URL --secrets FILE   one signed command
  platewise flash DEVICE [--config F] [--secrets F] [--board-config F --board rp2|esp32]   mpremote
  platewise hil list|run|baseline save ...                   HIL scenarios (hil/hilcli.py)
  platewise hil compare --preset NAME|FILE [--aging-factor F] [--max-cycles N] [--json]   adaptive vs CC-CV to 80 %
  platewise bench cell|firmware|hil|twin|dashboard           benchmarks print figures
  platewise provision CELL... --out DIR; platewise broker config ...; platewise deploy units|token ...
  platewise dashboard --db FILE [--broker URL]; platewise report CELL --db FILE --out FILE
"""

from __future__ import annotations

import argparse
import sys

from platewise.hil.bench import add_bench_firmware
from platewise.hil.benchhil import add_bench_hil
from platewise.hil.cell.cli import add_bench_cell, add_cell_commands
from platewise.hil.compare import add_compare_command
from platewise.hil.demo import add_demo_command
from platewise.hil.hilcli import add_hil_commands
from platewise.host.dashboard.bench import add_bench_dashboard
from platewise.host.dashboard.report import add_report_command
from platewise.host.dashboard.server import add_dashboard_command
from platewise.host.cli import add_twin_commands
from platewise.host.cmd import add_cmd_command
from platewise.host.deploy.cli import add_deploy_commands
from platewise.host.flash import add_flash_command
from platewise.host.twin.bench import add_bench_twin


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="platewise", description="Battery management for anode-less lithium-metal cells")
    sub = p.add_subparsers(dest="command", required=True)

    add_demo_command(sub)
    add_cell_commands(sub)
    add_twin_commands(sub)
    add_dashboard_command(sub)
    add_report_command(sub)
    add_cmd_command(sub)
    add_flash_command(sub)
    hsub = add_hil_commands(sub)
    add_compare_command(hsub)
    add_deploy_commands(sub)

    bench = sub.add_parser("bench", help="benchmarks: print figures (tests check correctness, not timing)")
    bsub = bench.add_subparsers(dest="bench_command", required=True)
    add_bench_cell(bsub)
    add_bench_firmware(bsub)
    add_bench_hil(bsub)
    add_bench_twin(bsub)
    add_bench_dashboard(bsub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
