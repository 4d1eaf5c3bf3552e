"""Loading the persistent state at boot (the half of firmware/persist.py
that runs once): read both slots, check each, keep the newest good one.

Split from persist.py so that main.py can drop it from memory after boot;
it is the Store's own loader and sets its fields directly. The rules
(what "ok", "fallback", "new" and "defaults" mean, and why a
fallback skips a seq block) are in persist.py's docstring.

Failure behaviour: never raises for a bad file. A missing, torn, oversized,
corrupt or hostile slot is skipped with its reason in ``load_reason``; an
exception while parsing one (e.g. MemoryError) counts as a bad slot.
"""

import json

from firmware.stateformat import FAULT_LOG_N, FORMAT, MAX_BASELINES, MAX_FILE_BYTES, MAX_NAME_LEN, SCALARS, SLOTS, checksum, num_ok


def parse_state(data):
    """(state dict, None) from a file's bytes, or (None, reason)."""
    if data is None or len(data) == 0:
        return None, "empty"
    if len(data) > MAX_FILE_BYTES:
        return None, "file too large"
    i = data.rfind(b"\n#")
    if i < 0 or not data.endswith(b"\n"):
        return None, "no checksum line (torn write?)"
    body = data[:i]
    if checksum(body).encode() != data[i + 2 : -1]:
        return None, "checksum mismatch"
    try:
        d = json.loads(body)
    except Exception:
        return None, "not valid JSON"
    if not isinstance(d, dict) or d.get("fmt") != FORMAT:
        return None, "wrong format"
    g = d.get("gen")
    if isinstance(g, bool) or not isinstance(g, int) or g < 0:
        return None, "bad generation"
    for name, typ, _default in SCALARS:
        if name in d:
            v = d[name]
            if typ == "i" and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                return None, "bad value of %s" % name
            if typ == "f" and (not num_ok(v) or v < 0):
                return None, "bad value of %s" % name
    f = d.get("fault")
    if f is not None and (not isinstance(f, str) or len(f) > 48):
        return None, "bad fault field"
    b = d.get("baselines", {})
    if not isinstance(b, dict) or len(b) > MAX_BASELINES:
        return None, "bad baselines"
    for k in b:
        if len(k) > MAX_NAME_LEN or not num_ok(b[k]):
            return None, "bad baseline " + k[:MAX_NAME_LEN]
    log = d.get("fault_log", [])
    if not isinstance(log, list) or len(log) > FAULT_LOG_N:
        return None, "bad fault_log"
    for e in log:
        if not isinstance(e, list) or len(e) != 4 or not isinstance(e[1], str) or not (num_ok(e[0]) and num_ok(e[2]) and num_ok(e[3])):
            return None, "bad fault_log entry"
    return d, None


def _read(store, path):
    try:
        f = store.fs.open(path, "rb")
    except OSError:
        return None, False
    try:
        return f.read(MAX_FILE_BYTES + 1), True
    except OSError:
        return None, True
    finally:
        f.close()


def load(store):
    """Read both slots, keep the newest valid one; returns load_status."""
    best = None
    best_slot = None
    reasons = []
    present = 0
    for i in range(2):
        data, exists = _read(store, store._paths[i])
        if not exists:
            continue
        present += 1
        try:
            d, why = parse_state(data)
        except Exception as e:  # e.g. MemoryError on a hostile file: treat as bad
            d, why = None, repr(e)
        if d is None:
            reasons.append("slot %s: %s" % (SLOTS[i], why))
        elif best is None or d["gen"] > best["gen"]:
            best = d
            best_slot = i
    store._defaults()
    store.load_reason = "; ".join(reasons)
    if best is None:
        store.gen = 0
        store._slot = None
        store.load_status = "new" if present == 0 else "defaults"
        return store.load_status
    for name, typ, _default in SCALARS:
        if name in best:
            setattr(store, name, float(best[name]) if typ == "f" else best[name])
    store.fault = best.get("fault")
    store.fault_log = best.get("fault_log", [])
    b = best.get("baselines", {})
    for k in b:
        store.baselines[k] = float(b[k])
    store.gen = best["gen"]
    store._slot = best_slot
    store.load_status = "fallback" if reasons else "ok"
    if reasons:
        # The lost generation may have been a seq reservation, which moves
        # the ceiling by at most one block: skip that far, never reuse.
        store.seq_ceiling += store.seq_block
    return store.load_status
