"""Tuning tables of the twin's estimators: one way to apply overrides.

Each estimator keeps its tuning as data, ``{name: (default, why)}``
(filters.DEFAULT_TUNING, filters.RESISTANCE_TUNING, alarms.DETECTOR_TUNING,
knee.KNEE_TUNING); ``overridden`` gives the values with a caller's
overrides applied, and each estimator then checks its own cross-field
rules.

Failure behaviour: an unknown name, or a value that is not a finite number
(or below ``minimum``), raises ValueError naming the table and the field.
"""

import math


def overridden(table, overrides, label, minimum=None, unwrap=False):
    """{name: value}: ``table``'s defaults with ``overrides`` applied.

    ``unwrap``: a value may be given as {"value": v, ...} (a tuning file's
    entries carry their reason beside the value)."""
    values = {name: default for name, (default, _why) in table.items()}
    for name, raw in (overrides or {}).items():
        if name not in values:
            raise ValueError(label + ": unknown field " + repr(name))
        v = raw["value"] if unwrap and isinstance(raw, dict) else raw
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or (minimum is not None and v < minimum):
            bound = "" if minimum is None else " >= %g" % minimum
            raise ValueError(label + ": " + name + " must be a finite number" + bound + ", got " + repr(v))
        values[name] = v
    return values
