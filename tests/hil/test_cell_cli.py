"""`platewise cell ...` subcommands, through a parser of our own (platewise/cli.py hooks the same function)."""

import argparse
import json

from platewise.hil.cell.cli import add_cell_commands


def _main(argv):
    parser = argparse.ArgumentParser(prog="platewise")
    add_cell_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_run_json(capsys):
    rc = _main(["cell", "run", "--preset", "sulfide-ssb", "--pressure-mpa", "20", "--cycles", "60", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["eol_cause"] == "fracture" and 3 <= out["eol_cycle"] <= 30
    first = out["cycles"][0]
    assert set(first) >= {"cycle", "inventory_ah", "discharge_ah", "ce", "resistance_ohm", "pressure_mpa"}
    assert first["pressure_mpa"] > 20.0


def test_run_formation_table(capsys):
    rc = _main(["cell", "run", "--protocol", "formation-cccv", "--formation-c-rate", "0.5", "--cycles", "3"])
    assert rc == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 6 and "end of life: cycle None" in out
    assert "formation 1 mA/cm2 x" in out and "aging factor 1" in out  # conditions travel with results


def test_bad_input_names_field(capsys):
    assert _main(["cell", "run", "--aging-factor", "-2"]) == 2
    assert "aging_factor" in capsys.readouterr().err
    assert _main(["cell", "run", "--preset", "no-such"]) == 2
    assert "preset" in capsys.readouterr().err


def test_presets_json(capsys):
    assert _main(["cell", "presets", "--json"]) == 0
    rows = {r["preset"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["lfp-liquid"]["charge_voltage_v"] == 3.65
    assert rows["lfp-liquid"]["capacity_ah"] == 0.02
    assert rows["sulfide-ssb"]["stack_pressure_mpa"] == 10.0
