"""Readers of native cycler files: ``read(path)`` returns a ``Recording``
(host/twin/recording.py) for a file or for a folder of session files.

One module per format; ``detect`` picks it by the file's content (magic
bytes, zip members, header text), the extension only breaking ties:

    platewise-csv   our replay CSV                          platewise_csv
    arbin-xlsx      Arbin .xlsx export (e.g. CALCE)         arbin_xlsx
    arbin-csv       Arbin .csv export (the .xlsx columns)   arbin_csv
    arbin-res       Arbin .res (Access database, mdbtools)  arbin_res
    maccor-txt      Maccor text export (both layouts)       maccor
    neware-nda(x)   Neware .nda / .ndax (NewareNDA)         neware
    pec-csv         PEC .csv                                pec
    novonix-csv     Novonix HPC .csv                        novonix
    biologic-mpr    BioLogic .mpr (galvani, optional extra) biologic
    biologic-mpt    EC-Lab .mpt text export                 biologic

Every reader gives time in s, voltage in V, current in A (+ charging) and
the cycler's own per-cycle Ah counters in ``cycle_ah`` when the file has
them.

A folder is one test: its readable files (same format) in the order of
their start times, time_s counted from the first file's start so the real
gaps between sessions stay, and cycle_index shifted so that each session's
cycles follow the previous session's.

Failure behaviour: a file that cannot be read raises ``ReplayError`` with
one line naming the file and why (unknown format, missing column, truncated
file, a missing optional dependency with its install command).
"""

import os
import zipfile
from datetime import datetime

from platewise.host.twin.recording import Recording, ReplayError

from . import arbin_csv, arbin_res, arbin_xlsx, biologic, maccor, neware, novonix, pec, platewise_csv

HEAD_BYTES = 4096


def detect(path):
    """Return the reader module for ``path`` or raise ReplayError."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
    except OSError as e:
        raise ReplayError("cannot open %s: %s" % (path, e.strerror or e)) from None
    if not head:
        raise ReplayError("%s is empty" % path)
    if head[:2] == b"PK":
        try:
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
        except (zipfile.BadZipFile, OSError) as e:
            raise ReplayError("%s: a zip archive that cannot be opened (truncated?): %s" % (path, e)) from None
        if arbin_xlsx.sniff_zip(names):
            return arbin_xlsx
        if neware.sniff_zip(names):
            return neware
        raise ReplayError("%s: unknown format (a zip archive, neither an .xlsx workbook nor a Neware .ndax)" % path)
    for mod in (neware, arbin_res, biologic):
        if mod.sniff(head):
            return mod
    for mod in (platewise_csv, arbin_csv, maccor, pec, novonix):
        if mod.sniff(head):
            return mod
    if str(path).lower().endswith(".csv") and b"\0" not in head:
        return platewise_csv  # a CSV of no known cycler: read_csv says which of our columns it lacks
    raise ReplayError(
        "%s: unknown format (not our CSV, Arbin .xlsx/.csv/.res, BioLogic .mpr/.mpt, Neware .nda/.ndax, Maccor, PEC or Novonix)" % path
    )


def read(path):
    """Read a file or a folder of session files as one Recording."""
    if os.path.isdir(path):
        return read_folder(path)
    rec = detect(path).read(path)
    rec.meta.setdefault("files", [str(path)])
    return rec


REFERENCE_TEMPERATURE_C = 25.0  # the filters' reference: no temperature correction


def columns_for_replay(rec):
    """The Recording's columns as today's cycle accounting (replay.cycles_from_samples) takes them.

    That accounting needs ``temperature_c``; a cycler that logged none gets
    the filters' reference temperature in this copy only (the Recording
    itself keeps it absent), so its cycles are reported at 25 degC and no
    temperature correction happens, as for a CSV written with 25.0.
    """
    cols = dict(rec.cols)
    if "temperature_c" not in cols:
        cols["temperature_c"] = [REFERENCE_TEMPERATURE_C] * len(cols["time_s"])
    else:
        t = cols["temperature_c"]
        if any(x is None for x in t):
            known = [x for x in t if x is not None]
            fill = known[0] if known else REFERENCE_TEMPERATURE_C
            out = []
            for x in t:
                fill = x if x is not None else fill
                out.append(fill)
            cols["temperature_c"] = out
    return cols


def _start(rec):
    s = rec.meta.get("start")
    return datetime.fromisoformat(s).timestamp() if s else None


def read_folder(path):
    names = sorted(n for n in os.listdir(path) if not n.startswith(".") and os.path.isfile(os.path.join(path, n)))
    if not names:
        raise ReplayError("%s: an empty folder" % path)
    recs = [read(os.path.join(path, n)) for n in names]
    formats = sorted({r.meta["format"] for r in recs})
    if len(formats) > 1:
        raise ReplayError("%s: files of different formats (%s): one test per folder" % (path, ", ".join(formats)))
    starts = [_start(r) for r in recs]
    if any(s is None for s in starts):
        raise ReplayError("%s: a file has no start time, so the sessions cannot be put in time order" % path)
    order = sorted(range(len(recs)), key=lambda k: starts[k] + recs[k].cols["time_s"][0])  # by wall-clock time of the first sample
    t0 = starts[order[0]]
    cols = {}
    cycle_ah = {} if all(r.cycle_ah is not None for r in recs) else None
    keys = set.intersection(*(set(r.cols) for r in recs))
    next_cycle = None  # the first session keeps its own numbers
    last_t = None
    for k in order:
        r = recs[k]
        c = r.cols
        shift_t = starts[k] - t0  # "start" is the wall-clock time of the file's time_s = 0
        times = [y + shift_t for y in c["time_s"]]
        if last_t is not None and times[0] < last_t:
            raise ReplayError("%s: session %s overlaps the previous one in time" % (path, names[k]))
        last_t = times[-1]
        shift_c = 0
        if "cycle_index" in keys:
            shift_c = 0 if next_cycle is None else next_cycle - min(c["cycle_index"])
            next_cycle = max(c["cycle_index"]) + shift_c + 1
        for name in keys:
            if name == "time_s":
                vals = times
            elif name == "cycle_index":
                vals = [x + shift_c for x in c[name]]
            else:
                vals = c[name]
            cols.setdefault(name, []).extend(vals)
        if cycle_ah is not None:
            for cyc, ah in r.cycle_ah.items():
                cycle_ah[cyc + shift_c] = ah
    meta = dict(recs[order[0]].meta)
    meta["files"] = [f for k in order for f in recs[k].meta.get("files", [])]
    meta["sessions"] = len(recs)
    return Recording(cols, cycle_ah, meta).check()
