"""Helpers the cycler readers share: turning a file's own capacity counters
into per-cycle Ah, and building a checked ``Recording``.

Counters come in two kinds. Cumulative ones (Arbin exports: one running
total over the whole file) give a cycle's Ah as their rise within the
cycle. Restarting ones (per step, per state, per half cycle, per cycle)
give it as the sum, over the cycle's runs of one step or state, of the
largest |value| in the run.

Failure behaviour: none of its own; ``finish`` raises ``ReplayError``
(from ``Recording.check``) with the file's name in front.
"""

from datetime import datetime, timezone

from platewise.host.twin.recording import Recording, ReplayError


def counter_rise(labels, counter):
    """{label: rise of a cumulative counter within the rows of that label}."""
    out = {}
    first = {}
    for k, lab in enumerate(labels):
        c = counter[k]
        if lab not in first:
            first[lab] = (c, c)
        lo, hi = first[lab]
        first[lab] = (min(lo, c), max(hi, c))
    for lab, (lo, hi) in first.items():
        out[lab] = hi - lo
    return out


def run_max_sum(labels, runs, counter, keep=None):
    """{label: sum over consecutive runs of one ``runs`` value of max |counter|}.

    ``keep(k)`` (optional) says whether row k makes its run count (e.g. a
    discharging row for a discharge counter); a run counts when any of its
    rows does, since a step's first row is often logged before current flows."""
    out = {}
    n = len(labels)
    k = 0
    while k < n:
        lab, run = labels[k], runs[k]
        top = 0.0
        counts = keep is None
        while k < n and labels[k] == lab and runs[k] == run:
            top = max(top, abs(counter[k]))
            counts = counts or keep(k)
            k += 1
        out[lab] = out.get(lab, 0.0) + (top if counts else 0.0)
    return out


def pair(charge, discharge):
    """Merge two {label: Ah} maps into {label: (charge_ah, discharge_ah)}."""
    labels = sorted(set(charge) | set(discharge))
    return {lab: (float(charge.get(lab, 0.0)), float(discharge.get(lab, 0.0))) for lab in labels}


def iso_utc(dt):
    """ISO text of a datetime, naive ones taken as UTC (cyclers log local time without a zone)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat()


def epoch_s(dt):
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def parse_datetime(text, formats):
    text = text.strip()
    for f in formats:
        try:
            return datetime.strptime(text, f)
        except ValueError:
            pass
    return None


def finish(path, cols, cycle_ah, meta):
    """Build and check the Recording; problems name the file."""
    meta = dict(meta)
    meta.setdefault("files", [str(path)])
    try:
        return Recording(cols, cycle_ah, meta).check()
    except ReplayError as e:
        raise ReplayError("%s: %s" % (path, e)) from None


def need(module, extra_cmd, path):
    """Import an optional module or raise a one-line ReplayError with the install command."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ReplayError("%s: reading it needs the Python package %s: %s" % (path, module, extra_cmd)) from None


def text_lines(path, encoding="latin-1", errors="strict"):
    """The file's lines; an unreadable file is a ReplayError naming it."""
    try:
        with open(path, encoding=encoding, errors=errors) as f:
            return f.read().splitlines()
    except OSError as e:
        raise ReplayError("cannot open %s: %s" % (path, e.strerror or e)) from None
