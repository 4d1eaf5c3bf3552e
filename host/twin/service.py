"""The digital twin service: every MQTT message goes through ``Twin.handle``.

One message, four steps, each owned by its own module; this one only
orchestrates them and keeps the per-cell objects:

    decode (shared.telemetry.decode, the v1 contract)
      -> sequence accounting (sequence.py: gaps, duplicates, boot skips)
      -> estimators (filters.py, fast.py, alarms.py: per ``cycle`` message,
         and the fast filter per ``telemetry`` message)
      -> store (store.py: every SQL statement), then the twin's own message.

``summary()`` and ``cell()`` are what a dashboard or the demo reads.

Failure behaviour, by input:
- Invalid message (any reason the decoder gives, a decoder bug, a cell over
  the ``max_cells`` cap): ``handle`` returns False, the reason is logged
  (rate-limited to ``log_rejects_per_s``, suppressed lines are counted and
  reported), stored in ``rejects`` with a payload excerpt, and counted
  against the topic's cell when the topic names one (else "unattributed").
  Nothing raises; messages before and after are unaffected.
- Duplicate (same cell, sender and seq, e.g. a QoS 1 redelivery): returns
  False, stored once, counted as a duplicate; if its payload differs from
  the stored one it is also counted as a seq conflict and logged (a sender
  that restarted its counter).
- Retained message (a broker's stored copy, possibly from an earlier run):
  stored flagged as retained and counted apart; it never enters sequence
  accounting or the filter, so a stale status cannot fake gaps or cycles.
- Cycle message repeating a cycle number already stored (even with a new
  seq): stored as a message, not fed to the filter a second time.
- Cycle message older than the last one applied (out of order, e.g. after a
  board's store-and-forward): stored, then the cell's estimators are re-run
  over its stored cycles in cycle order (``rebuilds``), so the state is the
  in-order state, the same a restart computes.
- Estimator error (a bug): logged with traceback, counted in
  ``filter_errors``; the message and its cycle row are still stored.
- SQLite error: logged with traceback, counted in ``store_errors``, returns
  False; the message is lost (disk full / locked file is not bad input).
- Restart (``Twin(db_path=...)`` on an existing file): the counters and the
  sequence accounting are rebuilt from the store, then every cell's
  estimators re-run over its stored data through ``_replay``, the path a
  late cycle's rebuild takes too, so the state equals the uninterrupted
  run; nothing is stored, published or logged as an alarm again. Duplicate
  and conflict counts are not stored and restart at 0.
- Broken database: a file this code cannot use raises from ``Twin(...)``
  (``StoreError`` for a newer schema, ``sqlite3.Error`` for an unreadable
  one, ``ValueError`` for a stored payload the restart reads, a board event
  or, with the fast filter, telemetry and cycles, that is not JSON), and so
  does an estimator error during the restart's replay: the twin does not
  start on a state it could not rebuild.

Thread-safe: one lock serialises ``handle`` (MQTT network thread) and the
readers (``summary``, ``cell``, ``cells``; demo thread). Time comes from the
``clock`` passed in (seconds), so tests drive it.
"""

import json
import logging
import sqlite3
import threading
import time

from platewise.shared.telemetry import TOPIC_ROOT, TelemetryError, decode, encode, topic as topic_of, valid_cell_id

from .alarms import DATA_QUALITY, AlarmTable, ShortDetector, detector_tuning
from .alarms import detector_tuning as detector_tuning_fn
from .fast import FastFilter, cell_model
from .filters import GATED, INIT, SKIPPED, UPDATE, InventoryFilter, ResistanceFilter
from .sequence import BOARD_STREAM, CellSequences, boot_base, stream_of
from .store import Store

EXCERPT_BYTES = 512  # of a rejected payload: enough to diagnose, bounded under a flood


def _text(value, limit):
    """A printable excerpt of whatever arrived (str, bytes or anything else)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value[:limit]).decode("utf-8", "backslashreplace")
    if isinstance(value, str):
        return value[:limit]
    return ("<" + type(value).__name__ + "> " + repr(value))[:limit]


def _topic_cell(topic):
    """The cell id a topic names, even if the rest of the topic is bad; else None."""
    if isinstance(topic, (bytes, bytearray)):
        try:
            topic = bytes(topic).decode()
        except UnicodeDecodeError:
            return None
    if not isinstance(topic, str) or not topic.startswith(TOPIC_ROOT):
        return None
    parts = topic[len(TOPIC_ROOT) :].split("/")
    if len(parts) == 2 and valid_cell_id(parts[0]):
        return parts[0]
    return None


class _Cell:
    """Everything the twin keeps about one cell."""

    def __init__(self, cell_id, tuning, detector=None, cell_params=None):
        self.cell_id = cell_id
        self.seq = CellSequences()
        self.rejected = 0
        self.retained = 0
        self.cycles = 0  # unique cycle numbers stored
        self.cycle_repeats = 0  # cycle messages whose cycle number was already stored
        self.calibration = ({}, {})  # (filter, detector) overrides of this cell, from Twin.calibrate
        self.reset_estimators(tuning, detector)
        self.assessment = {}  # the latest per-cycle assessment (estimate, predictions, risk)
        self.last_changes = []  # alarm changes of the last cycle fed
        self.rebuilds = 0  # estimator re-runs after a late (out-of-order) cycle
        # the fast filter (EKF on telemetry) needs the cell's parameters
        self.fast = FastFilter(cell_params) if cell_params is not None else None
        self.last_telemetry = None
        self.status = None
        self.status_retained = False

    def reset_estimators(self, tuning, detector=None):
        """The per-cycle estimators as before the first cycle (the fast filter is apart)."""
        # a cell's own calibration (Twin.calibrate) on top of the twin-wide tuning
        self.filter = InventoryFilter({**(tuning or {}), **self.calibration[0]})
        self.resistance = ResistanceFilter()
        self.detector = ShortDetector({**(detector or {}), **self.calibration[1]})
        self.alarms = AlarmTable()
        self.filter_outcomes = {}


def _quality_flag(reason, value, evidence):
    """The alarm change that records a data-quality flag (stored, never active)."""
    return {"code": DATA_QUALITY["code"], "action": "flag", "severity": DATA_QUALITY["severity"],
            "value": value, "evidence": {"reason": reason, **evidence}}  # fmt: skip


class Twin:
    """Decode, account and store every message; estimate each cell's inventory."""

    def __init__(
        self,
        db_path=":memory:",
        logger=None,
        clock=time.time,
        filter_tuning=None,
        max_cells=1000,
        log_rejects_per_s=10,
        batch_rows=1000,
        max_delay_s=0.5,
        detector_tuning_overrides=None,
        publish=None,
        cell_params=None,
    ):
        self.log = logger if logger is not None else logging.getLogger("platewise.twin")
        self._clock = clock
        self._tuning = filter_tuning
        InventoryFilter(filter_tuning)  # a bad tuning fails here, at start, naming the field
        self._detector_tuning = detector_tuning_overrides
        # cell_params (a flat preset dict): runs the fast filter on telemetry;
        # a missing parameter fails here, naming it
        if cell_params is not None:
            cell_model(cell_params)
        self._cell_params = cell_params
        detector_tuning(detector_tuning_overrides)
        # publish(topic, payload_bytes): where the twin's own messages go (MQTT
        # when a TwinSubscriber runs, None to keep them in the store only).
        self.publish = publish
        self.publish_errors = 0
        self.max_cells = max_cells
        self.log_rejects_per_s = log_rejects_per_s
        self._lock = threading.RLock()
        self.store = Store(db_path, batch_rows=batch_rows, max_delay_s=max_delay_s)
        self._cells = {}
        self.handled = 0
        self.rejected_unattributed = 0
        self.store_errors = 0
        self.filter_errors = 0
        self._log_window_s = None
        self._log_window_count = 0
        self._log_suppressed = 0
        self._restore()

    # -- input ---------------------------------------------------------------

    def handle(self, topic, payload, retained=False):
        """Take one MQTT message; True if stored as new, False otherwise. Never raises."""
        now_s = self._clock()
        with self._lock:
            self.handled += 1
            try:
                cell_id, kind, msg = decode(topic, payload)
            except TelemetryError as e:
                self._reject(topic, payload, str(e), now_s)
                return False
            except Exception as e:  # a decoder bug must not kill the MQTT thread
                self._reject(topic, payload, "decoder error: %s: %s" % (type(e).__name__, e), now_s)
                return False
            cell = self._cell(cell_id)
            if cell is None:
                self._reject(topic, payload, "too many cells (max %d)" % self.max_cells, now_s)
                return False
            try:
                return self._accept(cell, kind, msg, payload, bool(retained), now_s)
            except sqlite3.Error:
                self.store_errors += 1
                self.log.exception("twin: store error on %s seq %s", _text(topic, 120), msg.get("seq"))
                return False

    def _accept(self, cell, kind, msg, payload, retained, now_s):
        seq = msg["seq"]
        stream = stream_of(kind, msg)
        raw = payload.decode() if isinstance(payload, (bytes, bytearray)) else str(payload)
        new = self.store.insert_message(cell.cell_id, kind, stream, seq, msg.get("t_s"), retained, raw, now_s, msg)
        if retained:
            # A broker's stored copy, possibly from an earlier run: kept and
            # counted, but its seq says nothing about this run's stream.
            cell.retained += 1
            if kind == "status" and (cell.status is None or cell.status_retained):
                cell.status, cell.status_retained = msg, True
            return new
        acc = cell.seq.stream(stream)
        if not new:
            stored = self.store.live_payload(cell.cell_id, stream, seq)
            conflict = stored is not None and stored != raw
            acc.duplicate(conflict)
            if conflict:
                self.log.warning("twin: %s seq %d reused with a different payload (sender restarted?)", cell.cell_id, seq)
            return False
        acc.add(seq)
        self._boot(cell, boot_base(kind, msg))
        if kind == "telemetry":
            self._telemetry(cell, msg)
        elif kind == "status":
            cell.status, cell.status_retained = msg, False
        elif kind == "cycle":
            self._cycle(cell, seq, msg, now_s)
        return True

    def _boot(self, cell, base):
        """A board's boot event continues numbering after ``base`` (None: not a
        boot event, or one without a base): the board stream learns where, and
        the highest seq the store holds at or below it."""
        if base is not None:
            cell.seq.board.boot(base, self.store.highest_live_seq(cell.cell_id, BOARD_STREAM, base) or 0)

    def _telemetry(self, cell, msg):
        cell.last_telemetry = msg
        self._fast(cell, msg)

    def _fast(self, cell, msg):
        if cell.fast is None:
            return
        try:
            cell.fast.step(float(msg["t_s"]), float(msg["voltage_v"]), float(msg["current_a"]), float(msg["pressure_mpa"]))
        except Exception:  # an estimator bug must not lose the message
            self.filter_errors += 1
            self.log.exception("twin: %s: fast filter error", cell.cell_id)

    def _cycle(self, cell, seq, msg, now_s):
        # The cycles table is unique per cycle number: a repeated summary
        # (even re-sent with a new seq) never reaches the filter twice.
        if not self.store.insert_cycle(cell.cell_id, seq, msg, now_s):
            cell.cycle_repeats += 1
            return
        cell.cycles += 1
        last = cell.filter.last_cycle
        if last is not None and int(msg["cycle"]) < last:
            # A summary older than the last one applied arrived late (out of
            # order). A Kalman filter cannot go back, so the cell's estimators
            # are re-run over its stored cycles in cycle order: the result is
            # the in-order result, the same a restart computes.
            try:
                self._rebuild(cell, now_s)
            except Exception:
                self.filter_errors += 1
                self.log.exception("twin: %s: rebuild after a late cycle %d failed", cell.cell_id, msg["cycle"])
            return
        try:
            outcome = self._feed(cell, msg)
        except Exception:  # an estimator bug must not lose the message or kill the thread
            self.filter_errors += 1
            self.log.exception("twin: %s cycle %d: filter error", cell.cell_id, msg["cycle"])
            return
        if outcome in (INIT, UPDATE, GATED):
            self.store.put_estimate(cell.cell_id, msg["cycle"], cell.assessment, now_s)
        for change in cell.last_changes:
            self.store.insert_alarm(cell.cell_id, msg["cycle"], change, now_s)
            if change["code"] == DATA_QUALITY["code"]:
                self.log.info("twin: %s cycle %d: data quality: %s", cell.cell_id, msg["cycle"], change["evidence"]["reason"])
            else:
                self.log.warning("twin: %s cycle %d: alarm %s %s (%s)", cell.cell_id, msg["cycle"], change["code"], change["action"], change["severity"])
        if outcome in (INIT, UPDATE, GATED):
            self._publish(cell, msg, cell.assessment)
        if outcome == GATED:
            self.log.warning(
                "twin: %s cycle %d refused by the filter gate (mahalanobis %.1f)",
                cell.cell_id,
                msg["cycle"],
                cell.filter.last_mahalanobis,
            )

    # -- estimators ----------------------------------------------------------

    def _feed(self, cell, msg):
        """Filter, detector and alarm table take one new cycle; the same live and in ``_replay``.

        A ``partial`` cycle (the board booted into it: its charge before the
        boot was never counted, docs/telemetry.md) teaches the estimators
        nothing: it is SKIPPED with a data-quality flag, as the replay does
        with a cycler's partial cycles."""
        partial = msg.get("partial")
        learnt = cell.filter.loss_cycles  # the cell's own losses this cycle's loss prediction rests on
        outcome = SKIPPED if partial else cell.filter.update_cycle(msg)
        cell.filter_outcomes[outcome] = cell.filter_outcomes.get(outcome, 0) + 1
        if partial:
            reason = "partial cycle: the board booted into it, so its charge before the boot was not counted (CE %.4f means nothing)" % float(msg["ce"])
            cell.last_changes = [_quality_flag(reason, None, {})]
            return outcome
        cell.resistance.update_cycle(msg)
        if cell.fast is not None and cell.filter.inventory_ah is not None:
            cell.fast.inventory_ah = cell.filter.inventory_ah  # the slow filter keeps the fast one's inventory
        cell.last_changes = []
        if outcome in (INIT, UPDATE, GATED):
            f = cell.filter
            loss_z = f.last_loss_z if outcome != INIT else None
            risk, evidence = cell.detector.update(msg, loss_z, alarmed=bool(cell.alarms.active), loss_learnt_cycles=learnt)
            cell.assessment = est = self._estimate(cell, outcome, risk)
            cell.last_changes = cell.alarms.evaluate(int(msg["cycle"]), est, evidence)
            est["alarms"] = sorted(cell.alarms.active)
            # data quality: stored with the alarm changes, but never an active alarm (not a cell fault)
            est["data_quality"] = list(cell.detector.data_quality)
            for reason in est["data_quality"]:
                cell.last_changes.append(_quality_flag(reason, evidence.get("ce_above_100_z"), evidence))
        return outcome

    def _estimate(self, cell, outcome, short_risk):
        f = cell.filter
        pred, lo, hi = f.predict_eol_cycle()
        split = f.loss_split() or {}
        last = f.last_cycle
        est = {
            "cycle": last,
            "outcome": outcome,
            "inventory_ah": f.inventory_ah,
            "inventory_std_ah": f.inventory_std_ah,
            "initial_inventory_ah": f.initial_inventory_ah,
            "loss_ah_per_cycle": f.loss_ah_per_cycle,
            "loss_std_ah_per_cycle": f.loss_std_ah_per_cycle,
            "loss_drift_ah_per_cycle2": f.loss_drift_ah_per_cycle2,
            "eol_cycle_pred": pred,
            "eol_cycle_lo": lo,
            "eol_cycle_hi": hi,
            "mahalanobis": f.last_mahalanobis,
            "sei_ah": split.get("sei_ah"),
            "sei_std_ah": split.get("sei_std_ah"),
            "dead_ah": split.get("dead_ah"),
            "dead_std_ah": split.get("dead_std_ah"),
            "short_risk": short_risk,
        }
        r = cell.resistance
        r_pred, r_lo, r_hi = r.predict_limit()
        est.update(
            r25_ohm=r.r_ref_ohm,
            r25_std_ohm=r.r_ref_std_ohm,
            r_growth_ohm_per_cycle=r.growth_ohm_per_cycle,
            r_eol_cycle_pred=r_pred,
            r_eol_cycle_lo=r_lo,
            r_eol_cycle_hi=r_hi,
        )
        est["eol_margin_cycles"] = None if lo is None or last is None else lo - last
        if f.inventory_ah is not None and f.initial_inventory_ah:
            est["inventory_fraction"] = f.inventory_ah / f.initial_inventory_ah
        # the knee of the fade (FADE_ACCELERATING reads fade_knee: 1 once the fade bent downwards)
        est["knee_detected"] = f.knee_detected
        est["knee_cycle"] = f.knee_cycle
        est["fade_knee"] = 1.0 if f.knee_detected else 0.0
        return est

    # -- the twin's own messages ---------------------------------------------

    def _publish(self, cell, msg, est):
        """The twin's estimate on platewise/v1/<cell>/twin (contract v1 fields), seq = cycle."""
        if self.publish is None or est.get("inventory_ah") is None:
            return
        # numbered by the cycle that produced it (a gated cycle leaves the
        # estimate's own cycle behind, but still produces a message)
        cycle = int(msg["cycle"])
        fields = {
            "t_s": float(msg["t_s"]),
            "cycle": cycle,
            "inventory_ah": max(float(est["inventory_ah"]), 0.0),
            "inventory_std_ah": float(est["inventory_std_ah"]),
            "short_risk": min(max(float(est["short_risk"]), 0.0), 1.0),
        }
        # Optional v1 fields: predictions with their interval, the loss split,
        # resistance, and the alarm state with what changed at this cycle.
        for key in ("eol_cycle_pred", "eol_cycle_lo", "eol_cycle_hi", "r_eol_cycle_pred"):
            if est.get(key) is not None and est[key] >= 0.0:
                fields[key] = float(est[key])
        for key in ("loss_ah_per_cycle", "sei_ah", "dead_ah"):
            if est.get(key) is not None:
                fields[key] = float(est[key])
        if est.get("r25_ohm") is not None and 0.0 <= est["r25_ohm"] <= 100.0:
            fields["r25_ohm"] = float(est["r25_ohm"])
        fields["alarms"] = ",".join(est.get("alarms") or ())[:400]
        changes = ["%s %s %s" % (c["code"], c["action"], c["severity"]) for c in cell.last_changes]
        if changes:
            fields["changes"] = "; ".join(changes)[:400]
        try:
            self.publish(topic_of(cell.cell_id, "twin"), encode("twin", cell.cell_id, cycle, fields))
        except Exception:  # the network is the subscriber's business; the estimate is stored
            self.publish_errors += 1
            self.log.exception("twin: publishing the estimate of %s failed", cell.cell_id)

    # -- replay: restart and late cycles -------------------------------------

    def _replay(self, cell, events, rewrite_at_s=None):
        """The one replay path: feed stored ``(kind, msg)`` events, telemetry
        and cycles, to the cell's estimators exactly as they ran live.

        With ``rewrite_at_s`` the estimate after each cycle is stored again
        (at that time). Alarm changes found on the way are not stored or
        logged again (the alarms table is the log of what was raised live);
        the active set is recomputed. Nothing is published (replay never goes
        through ``_cycle``). Returns the number of cycles fed.
        """
        fed = 0
        for kind, msg in events:
            if kind == "telemetry":
                self._telemetry(cell, msg)
                continue
            fed += 1
            outcome = self._feed(cell, msg)
            if rewrite_at_s is not None and outcome in (INIT, UPDATE, GATED):
                self.store.put_estimate(cell.cell_id, msg["cycle"], cell.assessment, rewrite_at_s)
        return fed

    def _stored_cycles(self, cell):
        """The cell's stored cycles in cycle order (the in-order state of the slow estimators)."""
        for msg in self.store.cycle_messages(cell.cell_id):
            yield "cycle", msg

    def _stored_board_data(self, cell):
        """The board's stored telemetry and cycles in seq order, as they were
        produced: with the fast filter the two interleave (the slow filter
        hands it the inventory at each cycle end). A cycle number is fed once,
        from its first message by seq."""
        applied = set()
        for kind, payload in self.store.live_messages(cell.cell_id, BOARD_STREAM, ("telemetry", "cycle")):
            msg = json.loads(payload)
            if kind == "cycle":
                if msg["cycle"] in applied:
                    continue
                applied.add(msg["cycle"])
            yield kind, msg

    def _restore(self):
        """Rebuild counters, sequence accounting and estimators from an existing database file."""
        with self._lock:
            for row in self.store.stream_stats():
                cell = self._cell(row["cell_id"])
                if cell is not None:
                    cell.seq.stream(row["stream"]).restore(row["n"], row["min_seq"], row["max_seq"])
            for cell in self._cells.values():
                for _, payload in self.store.live_messages(cell.cell_id, BOARD_STREAM, ("event",)):
                    self._boot(cell, boot_base("event", json.loads(payload)))
            for cell_id, n in self.store.reject_counts():
                if cell_id is None:
                    self.rejected_unattributed += n
                elif self._cell(cell_id) is not None:
                    self._cells[cell_id].rejected += n
            for cell_id, n in self.store.retained_counts():
                if self._cell(cell_id) is not None:
                    self._cells[cell_id].retained += n
            for cell in self._cells.values():
                events = self._stored_cycles(cell) if cell.fast is None else self._stored_board_data(cell)
                cell.cycles += self._replay(cell, events)

    def _rebuild(self, cell, now_s):
        """After a late cycle: the cell's per-cycle estimators from scratch over
        its stored cycles in cycle order; its estimates are rewritten. (The
        fast filter is not re-run: it lives on telemetry, which arrives in order.)"""
        cell.reset_estimators(self._tuning, self._detector_tuning)
        cell.rebuilds += 1
        self._replay(cell, self._stored_cycles(cell), rewrite_at_s=now_s)

    def calibrate(self, cell_id, filter_tuning=None, detector_tuning=None):
        """Tune one cell's estimators to its data before its first cycle (e.g. a
        replay that measured its recording's counting scatter). Overrides go on
        top of the twin-wide tuning; a bad field raises ValueError naming it, a
        cell that already has cycles raises ValueError (its state was learnt
        under the old tuning). Not stored: a restart runs with the twin-wide tuning."""
        with self._lock:
            cell = self._cell(cell_id)
            if cell is None:
                raise ValueError("too many cells (max %d)" % self.max_cells)
            if cell.cycles:
                raise ValueError("cell %s already has %d cycles: calibrate before the first" % (cell_id, cell.cycles))
            filter_tuning, detector_tuning = dict(filter_tuning or {}), dict(detector_tuning or {})
            InventoryFilter({**(self._tuning or {}), **filter_tuning})  # a bad field fails here, naming it
            detector_tuning_fn({**(self._detector_tuning or {}), **detector_tuning})
            cell.calibration = (filter_tuning, detector_tuning)
            cell.reset_estimators(self._tuning, self._detector_tuning)

    # -- cells and rejects ---------------------------------------------------

    def _cell(self, cell_id):
        cell = self._cells.get(cell_id)
        if cell is None:
            if len(self._cells) >= self.max_cells:
                return None  # bounded memory against a flood of made-up cell ids
            cell = self._cells[cell_id] = _Cell(cell_id, self._tuning, self._detector_tuning, self._cell_params)
        return cell

    def _reject(self, topic, payload, reason, now_s):
        cell_id = _topic_cell(topic)
        cell = self._cell(cell_id) if cell_id is not None else None
        if cell is not None:
            cell.rejected += 1
        else:
            cell_id = None
            self.rejected_unattributed += 1
        topic_text = _text(topic, 200)
        self._log_reject(topic_text, reason, now_s)
        try:
            self.store.insert_reject(cell_id, reason, topic_text, _text(payload, EXCERPT_BYTES), now_s)
        except sqlite3.Error:
            self.store_errors += 1
            self.log.exception("twin: store error while recording a reject")

    def _log_reject(self, topic_text, reason, now_s):
        # A broken sender can publish thousands of bad messages a second:
        # log the first few per second, count the rest (all are in `rejects`).
        if self._log_window_s is None or not (0 <= now_s - self._log_window_s < 1.0):
            if self._log_suppressed:
                self.log.warning("twin: %d more rejects not logged (see the rejects table)", self._log_suppressed)
            self._log_window_s = now_s
            self._log_window_count = 0
            self._log_suppressed = 0
        if self._log_window_count < self.log_rejects_per_s:
            self._log_window_count += 1
            self.log.warning("twin: rejected %s: %s", topic_text, reason)
        else:
            self._log_suppressed += 1

    # -- output --------------------------------------------------------------

    def flush(self):
        """Commit the open batch (readers in other processes see it after this)."""
        with self._lock:
            self.store.flush()

    def close(self):
        with self._lock:
            self.store.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def cells(self):
        """Sorted ids of every cell seen (valid or rejected messages)."""
        with self._lock:
            return sorted(self._cells)

    def filter(self, cell_id):
        """The cell's InventoryFilter (read it under no lock only from the handling thread)."""
        with self._lock:
            return self._cells[cell_id].filter

    def cell(self, cell_id):
        """Everything known about one cell, as plain data; KeyError if unknown."""
        with self._lock:
            c = self._cells[cell_id]
            board = c.seq.board
            f = c.filter
            return {
                "cell_id": c.cell_id,
                "received": board.received,
                "gaps": board.gaps,
                "seq_skipped_at_boot": board.skipped,
                "duplicates": board.duplicates,
                "seq_conflicts": board.conflicts,
                "min_seq": board.min_seq,
                "max_seq": board.max_seq,
                "rejected": c.rejected,
                "retained": c.retained,
                # Outside the board's data sequence: status (watermark), cmd, twin.
                "host_messages": c.seq.host_messages,
                "other_duplicates": c.seq.other_duplicates,
                "cycles": c.cycles,
                "cycle_repeats": c.cycle_repeats,
                "rebuilds": c.rebuilds,
                "plated_ah": c.fast.plated_ah if c.fast is not None else None,
                "plated_std_ah": c.fast.plated_std_ah if c.fast is not None else None,
                "soc": c.fast.soc if c.fast is not None else None,
                "fast_r0_ohm": c.fast.r0_ohm if c.fast is not None else None,
                "last_cycle": f.last_cycle,
                "filter_outcomes": dict(c.filter_outcomes),
                "inventory_est_ah": f.inventory_ah,
                "inventory_std_ah": f.inventory_std_ah,
                "loss_ah_per_cycle": f.loss_ah_per_cycle,
                "loss_std_ah_per_cycle": f.loss_std_ah_per_cycle,
                "initial_ah": f.initial_ah,
                "eol_cycle_pred": c.assessment.get("eol_cycle_pred"),
                "eol_cycle_lo": c.assessment.get("eol_cycle_lo"),
                "eol_cycle_hi": c.assessment.get("eol_cycle_hi"),
                "knee_detected": c.assessment.get("knee_detected"),
                "knee_cycle": c.assessment.get("knee_cycle"),
                "initial_inventory_ah": f.initial_inventory_ah,
                "sei_ah": c.assessment.get("sei_ah"),
                "sei_std_ah": c.assessment.get("sei_std_ah"),
                "dead_ah": c.assessment.get("dead_ah"),
                "dead_std_ah": c.assessment.get("dead_std_ah"),
                "short_risk": c.assessment.get("short_risk"),
                "r25_ohm": c.assessment.get("r25_ohm"),
                "r25_std_ohm": c.assessment.get("r25_std_ohm"),
                "r_eol_cycle_pred": c.assessment.get("r_eol_cycle_pred"),
                "r_eol_cycle_lo": c.assessment.get("r_eol_cycle_lo"),
                "r_eol_cycle_hi": c.assessment.get("r_eol_cycle_hi"),
                "short_evidence": dict(c.detector.evidence),
                "data_quality": list(c.assessment.get("data_quality") or ()),
                "alarms": sorted(c.alarms.active),
                "last_telemetry": dict(c.last_telemetry) if c.last_telemetry else None,
                "status": dict(c.status) if c.status else None,
                "status_retained": c.status_retained,
            }

    _SUMMARY_KEYS = (
        "cell_id",
        "received",
        "gaps",
        "duplicates",
        "rejected",
        "retained",
        "inventory_est_ah",
        "inventory_std_ah",
        "loss_ah_per_cycle",
        "eol_cycle_pred",
        "eol_cycle_lo",
        "eol_cycle_hi",
        "short_risk",
        "alarms",
        "cycles",
        "last_cycle",
    )

    def summary(self):
        """{"cells": [per-cell counts and estimate], plus twin-wide counters}."""
        with self._lock:
            cells = []
            for cell_id in sorted(self._cells):
                full = self.cell(cell_id)
                cells.append({k: full[k] for k in self._SUMMARY_KEYS})
            return {
                "cells": cells,
                "handled": self.handled,
                "rejected_unattributed": self.rejected_unattributed,
                "store_errors": self.store_errors,
                "filter_errors": self.filter_errors,
                "publish_errors": self.publish_errors,
            }
