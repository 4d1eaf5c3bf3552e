"""Store: WAL, schema versioning and migration, round trip, batching, dedup,
the reads a restart makes; Twin restart from a file, and its refusal of a
file it cannot rebuild from."""

import sqlite3

import pytest

from platewise.host.twin import store as store_mod
from platewise.host.twin.service import Twin
from platewise.host.twin.store import SCHEMA_VERSION, Store, StoreError, migrate, schema_version
from twinkit import cycle_fields, good, message, synthetic_cycles


def fill(s, now_s=100.0):
    assert s.insert_message("c1", "telemetry", "board", 0, 1.5, False, '{"a": 1}', now_s)
    assert s.insert_message("c1", "telemetry", "board", 1, 2.5, False, '{"a": 2}', now_s)
    assert s.insert_message("c1", "status", "board", 0, None, True, '{"r": 1}', now_s)
    assert s.insert_cycle("c1", 2, cycle_fields(1, 0.02, 0.0199, formation=True), now_s)
    s.put_estimate("c1", 1, {"outcome": "init", "inventory_ah": 0.0199, "inventory_std_ah": 4e-5, "eol_cycle_pred": None}, now_s)
    s.insert_reject("c1", "payload is not JSON", "platewise/v1/c1/telemetry", "{", now_s)
    s.insert_reject(None, "topic not under platewise/v1/", "x/y", "", now_s)


def test_file_store_is_wal_and_round_trips(tmp_path):
    path = str(tmp_path / "twin.db")
    s = Store(path)
    assert s.journal_mode == "wal"
    assert s.schema_version == SCHEMA_VERSION == 5
    fill(s)
    s.flush()
    assert (tmp_path / "twin.db-wal").exists()
    s.close()

    s = Store(path)
    assert s.journal_mode == "wal"  # persistent in the file
    msgs = s.messages("c1")
    assert [(m["kind"], m["seq"], m["retained"], m["t_s"], m["payload"]) for m in msgs] == [
        ("telemetry", 0, 0, 1.5, '{"a": 1}'),
        ("telemetry", 1, 0, 2.5, '{"a": 2}'),
        ("status", 0, 1, None, '{"r": 1}'),
    ]
    (c,) = s.cycles("c1")
    assert (c["cycle"], c["seq"], c["charge_ah"], c["discharge_ah"], c["formation"]) == (1, 2, 0.02, 0.0199, 1)
    assert c["ce"] == pytest.approx(0.995)
    (e,) = s.estimates("c1")
    assert (e["outcome"], e["inventory_ah"], e["inventory_std_ah"], e["eol_cycle_pred"]) == ("init", 0.0199, 4e-5, None)
    assert [r["cell_id"] for r in s.rejects()] == ["c1", None]
    assert s.rejects("c1")[0]["reason"] == "payload is not JSON"
    s.close()


def test_memory_store_works_without_wal():
    s = Store()
    assert s.journal_mode == "memory"
    fill(s)
    assert s.count_messages("c1") == 2 and s.count_messages("c1", retained=True) == 1


def test_duplicates_are_refused_by_the_unique_indexes():
    s = Store()
    fill(s)
    assert not s.insert_message("c1", "event", "board", 1, 3.0, False, "{}", 100.0)  # (cell, stream, seq) taken
    assert s.insert_message("c1", "twin", "twin", 1, 3.0, False, "{}", 100.0)  # another sender's seq 1
    assert not s.insert_message("c1", "status", "board", 0, None, True, '{"r": 1}', 100.0)  # retained again
    assert s.insert_message("c1", "event", "board", 0, None, True, "{}", 100.0)  # retained, other kind
    assert not s.insert_cycle("c1", 9, cycle_fields(1, 0.1, 0.1), 100.0)  # cycle 1 taken
    assert s.count_messages() == 3 and s.count_messages(retained=True) == 2
    assert len(s.cycles("c1")) == 1 and s.cycles("c1")[0]["charge_ah"] == 0.02


def test_batches_commit_on_size_age_and_flush(tmp_path):
    path = str(tmp_path / "b.db")
    s = Store(path, batch_rows=3, max_delay_s=0.5)
    other = sqlite3.connect(path)

    def visible():
        return other.execute("SELECT COUNT(*) FROM messages").fetchone()[0]

    s.insert_message("c", "event", "board", 0, 0.0, False, "{}", 10.0)
    s.insert_message("c", "event", "board", 1, 0.0, False, "{}", 10.1)
    assert (visible(), s.pending, s.count_messages()) == (0, 2, 2)  # this connection sees its batch
    s.insert_message("c", "event", "board", 2, 0.0, False, "{}", 10.2)
    assert (visible(), s.pending) == (3, 0)  # full batch
    s.insert_message("c", "event", "board", 3, 0.0, False, "{}", 20.0)
    assert visible() == 3
    assert s.maybe_commit(20.2) is False
    assert s.maybe_commit(20.5) is True  # oldest pending row is 0.5 s old
    assert visible() == 4
    s.insert_message("c", "event", "board", 4, 0.0, False, "{}", 30.0)
    s.flush()
    assert visible() == 5
    assert s.commits == 3
    other.close()
    s.close()


def test_migration_steps_apply_in_order_and_a_newer_file_is_refused(tmp_path):
    path = str(tmp_path / "m.db")
    Store(path).close()
    v = SCHEMA_VERSION
    steps: dict = dict(store_mod.MIGRATIONS)
    steps[v + 1] = (
        "ALTER TABLE estimates ADD COLUMN future_risk REAL",
        lambda conn: conn.execute("UPDATE estimates SET future_risk = 0"),
    )
    conn = sqlite3.connect(path, isolation_level=None)
    assert schema_version(conn) == v
    assert migrate(conn, target=v + 1, migrations=steps) == [v + 1]
    assert migrate(conn, target=v + 1, migrations=steps) == []
    assert schema_version(conn) == v + 1
    cols = [r[1] for r in conn.execute("PRAGMA table_info(estimates)")]
    assert "future_risk" in cols
    conn.close()
    with pytest.raises(StoreError, match="v%d is newer than this code" % (v + 1)):
        Store(path)


def test_a_v1_file_upgrades_to_the_current_schema_on_open_keeping_its_rows(tmp_path):
    path = str(tmp_path / "v1.db")
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=1) == [1]
    conn.execute("INSERT INTO estimates (cell_id, cycle, outcome, inventory_ah, created_at) VALUES ('c1', 1, 'init', 0.02, 0)")
    conn.close()
    s = Store(path)
    assert s.schema_version == SCHEMA_VERSION
    (row,) = s.estimates("c1")
    assert row["inventory_ah"] == 0.02 and row["eol_cycle_lo"] is None and row["short_risk"] is None
    assert s.alarms() == []
    s.close()


def test_a_failing_migration_rolls_back(tmp_path):
    path = str(tmp_path / "f.db")
    Store(path).close()
    v = SCHEMA_VERSION
    steps: dict = dict(store_mod.MIGRATIONS)
    steps[v + 1] = ("ALTER TABLE estimates ADD COLUMN x REAL", "THIS IS NOT SQL")
    conn = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, target=v + 1, migrations=steps)
    assert schema_version(conn) == v
    assert "x" not in [r[1] for r in conn.execute("PRAGMA table_info(estimates)")]
    with pytest.raises(StoreError, match="no migration to schema v%d" % (v + 2)):
        migrate(conn, target=v + 2, migrations=steps | {v + 1: ()})
    conn.close()


def test_empty_database_is_version_0_before_migration():
    conn = sqlite3.connect(":memory:", isolation_level=None)
    assert schema_version(conn) == 0
    assert migrate(conn) == [1, 2, 3, 4, 5]
    assert schema_version(conn) == SCHEMA_VERSION == 5


def test_bad_batch_settings_fail_at_construction():
    with pytest.raises(ValueError, match="batch_rows"):
        Store(batch_rows=0)
    with pytest.raises(ValueError, match="max_delay_s"):
        Store(max_delay_s=-1)


def test_restart_reads_name_what_they_return():
    s = Store()
    fill(s)
    s.insert_message("c1", "event", "board", 5, 3.0, False, '{"e": 5}', 100.0)
    s.insert_message("c1", "cycle", "board", 3, 3.0, False, '{"c": 3}', 100.0)
    s.insert_message("c1", "twin", "twin", 4, 3.0, False, '{"t": 4}', 100.0)  # another stream
    s.insert_message("c1", "event", "board", 9, None, True, '{"old": 9}', 100.0)  # retained
    s.insert_message("c2", "event", "board", 2, 3.0, False, '{"other cell": 2}', 100.0)
    assert s.live_messages("c1", "board", ("event",)) == [("event", '{"e": 5}')]
    assert s.live_messages("c1", "board", ("telemetry", "cycle")) == [
        ("telemetry", '{"a": 1}'),
        ("telemetry", '{"a": 2}'),
        ("cycle", '{"c": 3}'),
    ]  # seq order across kinds
    assert [s.highest_live_seq("c1", "board", q) for q in (0, 2, 4, 5, 10**6)] == [0, 1, 3, 5, 5]
    assert s.highest_live_seq("c1", "twin", 3) is None and s.highest_live_seq("c9", "board", 99) is None
    assert s.live_payload("c1", "board", 5) == '{"e": 5}' and s.live_payload("c1", "board", 9) is None
    assert s.reject_counts() == [(None, 1), ("c1", 1)]
    assert s.retained_counts() == [("c1", 2)]
    stats = {(r["cell_id"], r["stream"]): (r["n"], r["min_seq"], r["max_seq"]) for r in s.stream_stats()}
    assert stats == {("c1", "board"): (4, 0, 5), ("c1", "twin"): (1, 4, 4), ("c2", "board"): (1, 2, 2)}


def test_cycle_messages_are_the_stored_cycles_as_the_estimators_take_them():
    s = Store()
    s.insert_cycle("c1", 7, cycle_fields(2, 0.0199, 0.0198), 100.0)  # no formation field
    s.insert_cycle("c1", 3, cycle_fields(1, 0.02, 0.0199, formation=True), 100.0)
    first, second = s.cycle_messages("c1")
    assert (first["cycle"], first["seq"], first["formation"], second["cycle"]) == (1, 3, True, 2)  # cycle order
    assert "formation" not in second  # NULL columns are left out, not None
    assert first["charge_ah"] == 0.02 and second["discharge_ah"] == 0.0198
    assert s.cycle_messages("c2") == []


def test_a_twin_does_not_start_on_a_file_it_cannot_rebuild_from(tmp_path):
    path = str(tmp_path / "t.db")
    twin = Twin(path)
    assert twin.handle(*message("event", "c1", 1, {"t_s": 0.0, "event": "boot", "code": "boot", "msg": "", "value": 0}))
    twin.close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE messages SET payload = '{\"event\": \"boot\", \"val' WHERE seq = 1")  # a damaged file
    conn.commit()
    conn.close()
    with pytest.raises(ValueError):
        Twin(path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer than this code"):
        Twin(path)


def test_twin_restarts_from_its_file(tmp_path):
    path = str(tmp_path / "twin.db")
    twin = Twin(path)
    for s in (0, 1, 2, 5):
        twin.handle(*good(s))
    twin.handle(*good(1))  # duplicate
    twin.handle("platewise/v1/c1/telemetry", b"nope")
    twin.handle("nowhere", b"nope")
    twin.handle(*message("status", "c1", 77, {"state": "online"}), retained=True)
    fields, _ = synthetic_cycles(0.02, 0.995, 4)
    for i, f in enumerate(fields):
        twin.handle(*message("cycle", "c1", 10 + i, f))
    before = twin.cell("c1")
    twin.close()

    twin = Twin(path)
    after = twin.cell("c1")
    for key in ("received", "gaps", "rejected", "retained", "cycles", "last_cycle", "min_seq", "max_seq"):
        assert after[key] == before[key], key
    assert after["inventory_est_ah"] == pytest.approx(before["inventory_est_ah"], rel=1e-12)
    assert after["inventory_std_ah"] == pytest.approx(before["inventory_std_ah"], rel=1e-12)
    assert after["duplicates"] == 0  # not persisted
    assert twin.rejected_unattributed == 1
    assert twin.handle(*good(5)) is False  # already stored before the restart
    assert twin.handle(*good(3)) is True
    assert twin.cell("c1")["gaps"] == before["gaps"] - 1
    twin.close()
