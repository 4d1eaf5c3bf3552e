"""HIL baselines: every scenario's figures saved, a later run checked against them.

A baseline file is JSON: ``{"version": 1, "scenarios": {name: {metric:
value}}}`` with every metric the scenario's run produced (a value, not
None) whose registry entry takes part in baselines (hil/metrics.py; wall
time does not). ``compare`` names each figure that moved beyond its
tolerance: the scenario's ``[tolerance]`` entry, else the metric's default
(its unit; 0 for counts and codes, so any change of those is a move).
A figure the baseline had and the run lacks has moved too.

Failure behaviour: a file that is not a baseline raises ``BaselineError``
naming it and why; a scenario the baseline does not know is not compared
(it is new), and says so in its result.
"""

from __future__ import annotations

import json

from platewise.hil.metrics import METRICS

VERSION = 1


class BaselineError(ValueError):
    pass


def figures(values: dict) -> dict:
    return {k: v for k, v in values.items() if v is not None and k in METRICS and METRICS[k].baseline}


def save(results: list[dict], path: str) -> None:
    """Write the figures of these results (hil/report.py result_json dicts)."""
    doc = {"version": VERSION, "scenarios": {r["name"]: figures(r["values"]) for r in results}}
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)


def load(path: str) -> dict:
    try:
        with open(path) as f:
            doc = json.load(f)
    except OSError as e:
        raise BaselineError(f"{path}: cannot read: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise BaselineError(f"{path}: not JSON: {e}") from None
    if not isinstance(doc, dict) or doc.get("version") != VERSION or not isinstance(doc.get("scenarios"), dict):
        raise BaselineError(f"{path}: not a version {VERSION} baseline (platewise hil baseline save)")
    return doc


def tolerance(scenario, name: str) -> float:
    return scenario.tolerance.get(name, METRICS[name].tol)


def compare(doc: dict, scenario, values: dict) -> list[str]:
    """The figures of this run that moved against the baseline, as 'figure: old -> new (tolerance t)'."""
    old = doc["scenarios"].get(scenario.name)
    if old is None:
        return []
    new = figures(values)
    moved = []
    for name, was in sorted(old.items()):
        if name not in METRICS:
            continue  # a metric since retired
        now = new.get(name)
        tol = tolerance(scenario, name)
        num = isinstance(was, (int, float)) and isinstance(now, (int, float)) and not isinstance(was, bool) and not isinstance(now, bool)
        if (num and abs(now - was) > tol) or (not num and now != was):
            moved.append(f"{name}: {json.dumps(was)} -> {json.dumps(now)} (tolerance {tol:g} {METRICS[name].unit})")
    return moved
