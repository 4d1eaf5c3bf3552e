"""Drives firmware.persist on MicroPython (or CPython) for test_persist.py.

usage: mp_persist.py ACTION DIR [ARGS...]; prints one line ``OUT <json>``.
Each run is one boot: a new process sees only what is on disk.
  write DIR          load, start, set every kind of state, save
  read DIR           load and report the state
  boot DIR N MODE    load, start, use N seqs (note_seq each), then
                     MODE "clean" (close_seq) or "crash" (exit, no save)
  rate DIR           saves within/after min_interval, forced saves
  oserror DIR        writes fail (injected), then recover
  faultlog DIR       latch 20 faults into the 16-entry ring
  heap DIR           import cost and allocation of one save()
"""

import sys
import json
import gc


def _mem_alloc():
    return gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0  # type: ignore[attr-defined]


def out(d):
    print("OUT " + json.dumps(d))


def state(s):
    return {
        "status": s.load_status,
        "reason": s.load_reason,
        "gen": s.gen,
        "boots": s.boots,
        "cycles": s.cycles,
        "charge_ah": s.charge_ah,
        "discharge_ah": s.discharge_ah,
        "last_ctr": s.last_ctr,
        "seq_ceiling": s.seq_ceiling,
        "fault": s.fault,
        "fault_log": s.fault_log,
        "baselines": s.baselines,
        "writes": s.writes,
        "write_errors": s.write_errors,
        "dirty": s.dirty,
        "event": s.load_event(),
    }


def main():
    action = sys.argv[1]
    d = sys.argv[2]
    if action == "heap":
        gc.collect()
        a0 = _mem_alloc()
        from firmware.persist import Store

        gc.collect()
        a1 = _mem_alloc()
        s = Store(d, 60000, 1024)
        s.load()
        s.start(0)
        for i in range(16):
            s.latch_fault(float(i), "OV", 3.9, 3.8, 10)
        s.set_baseline("r0_ohm", 1.6)
        s.set_totals(12, 0.123456, 0.120001)
        gc.collect()
        gc.disable()
        a2 = _mem_alloc()
        ok = s.save(10**6)
        a3 = _mem_alloc()
        gc.enable()
        gc.collect()
        a4 = _mem_alloc()
        s2 = Store(d, 60000, 1024)
        gc.disable()
        s2.load()
        a5 = _mem_alloc()
        gc.enable()
        out({"import": a1 - a0, "save": a3 - a2, "ok": ok, "load": a5 - a4})
        return

    from firmware.persist import Store, OsFs

    if action == "write":
        s = Store(d, 60000, 1024)
        s.load()
        s.start(0)
        s.set_totals(3, 1.25, 1.2)
        s.set_baseline("r0_ohm", 1.61)
        s.set_ctr(42, 1)
        s.latch_fault(100.5, "OV", 3.9, 3.8, 2)
        s.save(3, True)
        out(state(s))
    elif action == "read":
        s = Store(d, 60000, 1024)
        s.load()
        out(state(s))
    elif action == "boot":
        n = int(sys.argv[3])
        mode = sys.argv[4]
        s = Store(d, 60000, 100)
        s.load()
        base = s.start(0)
        seq = base
        for i in range(n):
            seq += 1
            s.note_seq(seq, i)
        if mode == "clean":
            s.close_seq(seq, n)
        r = state(s)
        r["base"] = base
        r["last_seq"] = seq
        out(r)
    elif action == "rate":
        s = Store(d, 1000, 1024)
        s.load()
        res = {}
        s.set_totals(1, 0.1, 0.0)
        s.save(0)
        for t in range(100, 1000, 100):  # 9 saves inside the interval, state changing
            s.set_totals(1, 0.1 + t * 1e-6, 0.0)
            s.save(t)
        res["within"] = s.writes
        s.save(1000)
        res["after"] = s.writes
        s.save(1500)  # nothing changed: no write even when due
        res["clean"] = s.writes
        s.set_totals(2, 0.2, 0.0)
        res["forced_ok"] = s.save(1600, True)
        res["forced"] = s.writes
        s.set_ctr(7, 1601)  # safety-critical setter: at once
        res["ctr"] = s.writes
        s.latch_fault(1.0, "OT", 61.0, 60.0, 1602)
        res["fault"] = s.writes
        s.clear_fault(1603)
        res["clear"] = s.writes
        s.set_totals(3, 0.3, 0.0)
        res["deferred"] = s.save(1700)
        res["deferred_writes"] = s.writes
        # ticks wrap: a last write just before the wrap, now just after it.
        s.set_totals(4, 0.4, 0.0)
        s._last_try_ms = (1 << 30) - 200
        res["wrap_early"] = s.save(300)  # 500 ms later across the wrap
        res["wrap_late"] = s.save(900)  # 1100 ms later
        res["wrap_writes"] = s.writes
        out(res)
    elif action == "oserror":

        class FailingFs(OsFs):
            fail = "open"

            def open(self, path, mode):
                if self.fail == "open" and "w" in mode:
                    raise OSError(28)  # ENOSPC
                return OsFs.open(self, path, mode)

            def rename(self, a, b):
                if self.fail == "rename":
                    raise OSError(5)  # EIO
                OsFs.rename(self, a, b)

        fs = FailingFs()
        s = Store(d, 1000, 1024, fs)
        s.load()
        res = {}
        res["start_base"] = s.start(0)
        res["ctr_saved"] = s.set_ctr(5, 10)
        res["after_open_fail"] = [s.writes, s.write_errors, s.dirty, s.last_ctr, s.seq_ceiling]
        fs.fail = "rename"
        res["rename_saved"] = s.save(20, True)
        res["after_rename_fail"] = [s.writes, s.write_errors, s.dirty]
        fs.fail = ""
        res["retry_early"] = s.save(500)  # non-forced retry waits min_interval
        res["retry_due"] = s.save(1020)
        res["after_recover"] = [s.writes, s.write_errors, s.dirty, s.gen]
        out(res)
    elif action == "faultlog":
        s = Store(d, 60000, 1024)
        s.load()
        for i in range(20):
            s.latch_fault(float(i), "F%d" % i, float(i), 0.0, i)
        s.latch_fault(20.0, "SENSOR_voltage_v", float("nan"), float("inf"), 20)
        s.set_totals(1, float("nan"), 0.0)  # ignored: a NaN must never reach the file
        out(state(s))


main()
