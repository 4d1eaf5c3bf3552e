"""The digital twin service: every MQTT message goes through ``Twin.handle``.

``handle(topic, payload, retained)`` decodes with the v1 contract
(shared.telemetry.decode), stores what is valid, keeps per-cell sequence
accounting and feeds each cell's ``InventoryFilter`` from its ``cycle``
messages. ``summary()`` is what a dashboard or the demo reads.

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
- Estimator error (a bug): logged with traceback, counted in
  ``filter_errors``; the message and its cycle row are still stored.
- SQLite error: logged with traceback, counted in ``store_errors``, returns
  False; the message is lost (disk full / locked file is not bad input).

Sequence accounting is per sender: the board's data kinds (telemetry,
cycle, event) share one counter; host-side kinds (cmd, twin) are separate
streams, counted as ``host_messages`` and kept out of the board's gaps.
A board's ``status`` message carries the board's watermark (the seq of its
last data message, telemetry contract v1) rather than a number of its own,
so an ``online`` and an ``offline`` may share a seq: each status state is
its own stream, kept out of the board's gaps.

Thread-safe: one lock serialises ``handle`` (MQTT network thread) and the
readers (``summary``, ``cell``, ``cells``; demo thread). Time comes from the
``clock`` passed in (seconds), so tests drive it.
"""

import logging
import sqlite3
import threading
import time

from shared.telemetry import TOPIC_ROOT, TelemetryError, decode, valid_cell_id

from .filters import GATED, INIT, UPDATE, InventoryFilter
from .store import Store

BOARD_STREAM = "board"
BOARD_KINDS = ("telemetry", "cycle", "event")
EXCERPT_BYTES = 512  # of a rejected payload: enough to diagnose, bounded under a flood


def _stream_of(kind, msg):
    if kind in BOARD_KINDS:
        return BOARD_STREAM
    if kind == "status":
        return "status-" + msg["state"]
    return kind


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


class _Stream:
    """Sequence accounting of one sender: unique count, lowest and highest seq."""

    __slots__ = ("received", "min_seq", "max_seq", "duplicates", "conflicts")

    def __init__(self):
        self.received = 0
        self.min_seq = None
        self.max_seq = None
        self.duplicates = 0
        self.conflicts = 0

    def add(self, seq):
        self.received += 1
        if self.min_seq is None or seq < self.min_seq:
            self.min_seq = seq
        if self.max_seq is None or seq > self.max_seq:
            self.max_seq = seq

    @property
    def gaps(self):
        # Every seq between the lowest and highest seen that is not stored.
        # Out-of-order arrivals fill gaps; duplicates are not in `received`.
        lo, hi = self.min_seq, self.max_seq
        if lo is None or hi is None:
            return 0
        return hi - lo + 1 - self.received


class _Cell:
    def __init__(self, cell_id, tuning):
        self.cell_id = cell_id
        self.streams = {BOARD_STREAM: _Stream()}
        self.rejected = 0
        self.retained = 0
        self.cycles = 0  # unique cycle numbers stored
        self.cycle_repeats = 0  # cycle messages whose cycle number was already stored
        self.filter = InventoryFilter(tuning)
        self.filter_outcomes = {}
        self.last_telemetry = None
        self.status = None
        self.status_retained = False

    def stream(self, name):
        s = self.streams.get(name)
        if s is None:
            s = self.streams[name] = _Stream()
        return s


class Twin:
    """Decode, store and account every message; estimate each cell's inventory."""

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
    ):
        self.log = logger if logger is not None else logging.getLogger("platewise.twin")
        self._clock = clock
        self._tuning = filter_tuning
        InventoryFilter(filter_tuning)  # a bad tuning fails here, at start, naming the field
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
        stream = _stream_of(kind, msg)
        raw = payload.decode() if isinstance(payload, (bytes, bytearray)) else str(payload)
        t_s = msg.get("t_s")
        new = self.store.insert_message(cell.cell_id, kind, stream, seq, t_s, retained, raw, now_s)
        if retained:
            # A broker's stored copy, possibly from an earlier run: kept and
            # counted, but its seq says nothing about this run's stream.
            cell.retained += 1
            if kind == "status" and (cell.status is None or cell.status_retained):
                cell.status, cell.status_retained = msg, True
            return new
        acc = cell.stream(stream)
        if not new:
            acc.duplicates += 1
            stored = self.store.live_payload(cell.cell_id, stream, seq)
            if stored is not None and stored != raw:
                acc.conflicts += 1
                self.log.warning("twin: %s seq %d reused with a different payload (sender restarted?)", cell.cell_id, seq)
            return False
        acc.add(seq)
        if kind == "telemetry":
            cell.last_telemetry = msg
        elif kind == "status":
            cell.status, cell.status_retained = msg, False
        elif kind == "cycle":
            self._cycle(cell, seq, msg, now_s)
        return True

    def _cycle(self, cell, seq, msg, now_s):
        # The cycles table is unique per cycle number: a repeated summary
        # (even re-sent with a new seq) never reaches the filter twice.
        if not self.store.insert_cycle(cell.cell_id, seq, msg, now_s):
            cell.cycle_repeats += 1
            return
        cell.cycles += 1
        try:
            outcome = self._feed(cell, msg)
        except Exception:  # an estimator bug must not lose the message or kill the thread
            self.filter_errors += 1
            self.log.exception("twin: %s cycle %d: filter error", cell.cell_id, msg["cycle"])
            return
        if outcome in (INIT, UPDATE, GATED):
            self.store.put_estimate(cell.cell_id, msg["cycle"], self._estimate(cell, outcome), now_s)
        if outcome == GATED:
            self.log.warning(
                "twin: %s cycle %d refused by the filter gate (mahalanobis %.1f)",
                cell.cell_id,
                msg["cycle"],
                cell.filter.last_mahalanobis,
            )

    def _feed(self, cell, msg):
        outcome = cell.filter.update_cycle(msg)
        cell.filter_outcomes[outcome] = cell.filter_outcomes.get(outcome, 0) + 1
        return outcome

    def _estimate(self, cell, outcome):
        f = cell.filter
        return {
            "outcome": outcome,
            "inventory_ah": f.inventory_ah,
            "inventory_std_ah": f.inventory_std_ah,
            "loss_ah_per_cycle": f.loss_ah_per_cycle,
            "loss_std_ah_per_cycle": f.loss_std_ah_per_cycle,
            "eol_cycle_pred": f.predict_eol_cycle(),
            "mahalanobis": f.last_mahalanobis,
        }

    def _cell(self, cell_id):
        cell = self._cells.get(cell_id)
        if cell is None:
            if len(self._cells) >= self.max_cells:
                return None  # bounded memory against a flood of made-up cell ids
            cell = self._cells[cell_id] = _Cell(cell_id, self._tuning)
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

    # -- restart -------------------------------------------------------------

    def _restore(self):
        """Rebuild counters and filters from an existing database file.

        Duplicate and conflict counts are not persisted and restart at 0.
        """
        with self._lock:
            for row in self.store.stream_stats():
                cell = self._cell(row["cell_id"])
                if cell is None:
                    continue
                acc = cell.stream(row["stream"])
                acc.received, acc.min_seq, acc.max_seq = row["n"], row["min_seq"], row["max_seq"]
            for row in self.store.query("SELECT cell_id, COUNT(*) AS n FROM rejects GROUP BY cell_id"):
                if row["cell_id"] is None:
                    self.rejected_unattributed += row["n"]
                elif self._cell(row["cell_id"]) is not None:
                    self._cells[row["cell_id"]].rejected += row["n"]
            for row in self.store.query("SELECT cell_id, COUNT(*) AS n FROM messages WHERE retained = 1 GROUP BY cell_id"):
                if self._cell(row["cell_id"]) is not None:
                    self._cells[row["cell_id"]].retained += row["n"]
            for cell in self._cells.values():
                for c in self.store.cycles(cell.cell_id):
                    cell.cycles += 1
                    msg = dict(c)
                    msg["formation"] = bool(c["formation"])
                    self._feed(cell, msg)

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
            board = c.streams[BOARD_STREAM]
            f = c.filter
            return {
                "cell_id": c.cell_id,
                "received": board.received,
                "gaps": board.gaps,
                "duplicates": board.duplicates,
                "seq_conflicts": board.conflicts,
                "min_seq": board.min_seq,
                "max_seq": board.max_seq,
                "rejected": c.rejected,
                "retained": c.retained,
                # Outside the board's data sequence: status (watermark), cmd, twin.
                "host_messages": sum(s.received for n, s in c.streams.items() if n != BOARD_STREAM),
                "other_duplicates": sum(s.duplicates for n, s in c.streams.items() if n != BOARD_STREAM),
                "cycles": c.cycles,
                "cycle_repeats": c.cycle_repeats,
                "last_cycle": f.last_cycle,
                "filter_outcomes": dict(c.filter_outcomes),
                "inventory_est_ah": f.inventory_ah,
                "inventory_std_ah": f.inventory_std_ah,
                "loss_ah_per_cycle": f.loss_ah_per_cycle,
                "loss_std_ah_per_cycle": f.loss_std_ah_per_cycle,
                "initial_ah": f.initial_ah,
                "eol_cycle_pred": f.predict_eol_cycle(),
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
            }
