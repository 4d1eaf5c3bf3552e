"""`platewise hil`: HIL scenarios from the command line, on top of the pytest plugin.

  platewise hil list [NAMES|FILES|DIR ...] [--metrics] [--events]
  platewise hil run [NAMES|FILES|DIR ...] [--json FILE] [--html FILE] [--junit FILE]
                    [-j N] [--baseline FILE] [--fw-config FILE] [-k EXPR] [-x]
                    [--device /dev/ttyACM0 [--board-host ADDR]]
  platewise hil baseline save FILE [NAMES|FILES|DIR ...] [-j N] [--fw-config FILE]

No targets: the shipped set (hil/scenarios). ``run`` is pytest on the
scenario files with the plugin's options (hil/plugin.py), so its exit code
is pytest's: 0 all passed, 1 a scenario failed, 2 and up usage or
collection errors. ``-j N`` runs N scenarios at once (pytest-xdist).
``--device``: processor in the loop, each scenario on the real board at
that serial port (hil/runner.py; docs/hil-scenarios.md), one at a time.

Failure behaviour: a target that is neither a shipped name, a file nor a
folder, or a scenario file that does not validate, is printed with the file
and key and exits 2 before anything runs.
"""

from __future__ import annotations

import sys

from platewise.hil.scenario import ANCHORS, EVENT_DOC, ScenarioError, discover, load

# (the plugin's pytest option, this command's option, help): one table for
# both, so `platewise hil run --json F` is `pytest --hil-json F`.
OPTIONS = (
    ("--hil-fw-config", "--fw-config", "JSON object of firmware config overrides for every scenario"),
    ("--hil-baseline", "--baseline", "baseline file: fail a scenario whose figure moved beyond its tolerance"),
    ("--hil-json", "--json", "write every scenario's result (figures, verdicts) to this JSON file"),
    ("--hil-html", "--html", "write the self-contained HTML report to this file"),
    ("--hil-save-baseline", None, "write every scenario's figures to this baseline file"),
    ("--hil-device", "--device", "processor in the loop: the firmware on the real board at this serial port (flashed per scenario)"),
    ("--hil-board-host", "--board-host", "this machine's address as the --device board reaches it (default 127.0.0.1)"),
)


def _files(targets) -> list[str]:
    paths = discover(targets)
    for p in paths:
        load(p)  # every file valid before any runs
    return [str(p) for p in paths]


def pytest_args(args, files: list[str]) -> list[str]:
    out = files + ["-p", "no:cacheprovider", "-q", "-rN"]
    if sys.stderr.isatty():
        out.append("--hil-progress")
    flags = [(cli.lstrip("-").replace("-", "_"), plugin) for plugin, cli, _help in OPTIONS if cli]
    flags += [("save_baseline", "--hil-save-baseline"), ("junit", "--junitxml"), ("k", "-k")]
    for opt, flag in flags:
        v = getattr(args, opt, None)
        if v:
            out += [flag, v]
    if getattr(args, "x", False):
        out.append("-x")
    if getattr(args, "jobs", 1) and args.jobs > 1:
        out += ["-n", str(args.jobs)]
    return out


def _pytest(args) -> int:
    import pytest

    if getattr(args, "device", None) and getattr(args, "jobs", 1) > 1:
        print("platewise hil: --device is one board: scenarios run one at a time (no -j)", file=sys.stderr)
        return 2
    try:
        files = _files(args.targets)
    except ScenarioError as e:
        print(f"platewise hil: {e}", file=sys.stderr)
        return 2
    return int(pytest.main(pytest_args(args, files)))


def _list(args) -> int:
    if args.metrics:
        from platewise.hil.metrics import METRICS

        for m in METRICS.values():
            print(f"{m.name:36} [{m.unit}] {m.doc}")
        return 0
    if args.events:
        for name, doc in EVENT_DOC.items():
            print(f"{name:16} {doc}")
        print("anchors (at = ...): " + "; ".join(f"{k}: {v}" for k, v in ANCHORS.items()))
        return 0
    try:
        paths = discover(args.targets)
        scenarios = [load(p) for p in paths]
    except ScenarioError as e:
        print(f"platewise hil: {e}", file=sys.stderr)
        return 2
    for sc in scenarios:
        length = f"{sc.cycles} cycle(s)" + (f", <= {sc.max_hours:g} h" if sc.max_hours else "")
        aging = f", aging x{sc.aging_factor:g}" if sc.aging_factor else ""
        print(f"{sc.name:32} {sc.preset if '/' not in sc.preset else sc.preset.rsplit('/', 1)[-1]:14} {sc.mode:8} {length}{aging}, "
              f"{len(sc.events)} event(s), {len(sc.criteria)} criteria")
        if sc.description:
            print(f"    {sc.description}")
    return 0


def _common(p) -> None:
    p.add_argument("targets", nargs="*", help="shipped scenario names, .toml files or folders (default: the shipped set)")
    p.add_argument("-j", "--jobs", type=int, default=1, help="scenarios run at once (pytest-xdist)")
    _plugin, cli, help_ = OPTIONS[0]
    p.add_argument(cli, default=None, help=help_)


def add_hil_commands(sub):
    """Register ``hil`` on the ``platewise`` subparsers; return its subparsers (for more commands)."""
    hil = sub.add_parser("hil", help="hardware-in-the-loop: regression scenarios, baselines, the adaptive-vs-CC-CV compare")
    hsub = hil.add_subparsers(dest="hil_command", required=True)
    ls = hsub.add_parser("list", help="the scenarios (default: the shipped set), or the metrics or events they can use")
    ls.add_argument("targets", nargs="*")
    ls.add_argument("--metrics", action="store_true", help="the metric registry: name, unit, what it measures")
    ls.add_argument("--events", action="store_true", help="the event kinds and anchors")
    ls.set_defaults(handler=_list)
    run = hsub.add_parser("run", help="run scenarios through pytest; exit 0 when all pass")
    _common(run)
    for _plugin, cli, help_ in OPTIONS[1:]:
        if cli:
            run.add_argument(cli, default=None, help=help_)
    run.add_argument("--junit", default=None, help="write JUnit XML here (pytest --junitxml)")
    run.add_argument("-k", default=None, help="only scenarios matching this pytest -k expression")
    run.add_argument("-x", action="store_true", help="stop at the first failure")
    run.set_defaults(handler=_pytest)
    base = hsub.add_parser("baseline", help="baselines of every scenario's figures")
    bsub = base.add_subparsers(dest="baseline_command", required=True)
    save = bsub.add_parser("save", help="run the scenarios and save their figures to FILE")
    save.add_argument("save_baseline", metavar="FILE")
    _common(save)
    save.set_defaults(handler=_pytest)
    return hsub
