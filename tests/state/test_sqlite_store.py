"""The SQLite state store's contract: round trips, transactions, iteration, links, errors, reset.

Every test uses a real SQLite file under ``tmp_path``; nothing is mocked.
Opening, migrations, damaged files, locks and crashes are in
``test_sqlite_open.py`` and ``test_sqlite_crash.py``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from syncd.state import (
    ConflictRow,
    Intent,
    RecordErrorRow,
    SideState,
    Snapshot,
    SQLiteStore,
    StateError,
    open_store,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    with open_store(tmp_path / "state.db") as store:
        yield store


def snap(record_id: str, side: str = "left", **changes: object) -> Snapshot:
    fields: dict[str, object] = {
        "side": side, "record_id": record_id, "seen": {"email": f"{record_id}@example.com"},
        "match_key": f"{record_id}@example.com",
    }
    fields.update(changes)
    return Snapshot(**fields)  # type: ignore[arg-type]


def put(store: SQLiteStore, *snapshots: Snapshot, integration: str = "crm") -> None:
    with store.transaction(integration) as t:
        t.put_snapshots(snapshots)


# --- round trips -------------------------------------------------------------------------------

def test_snapshot_round_trip_keeps_every_field(store: SQLiteStore) -> None:
    seen = {
        "email": "zoë@example.com", "score": 42, "ratio": 0.25, "opted_in": True, "phone": None,
        "tags": ["a", "b"], "address": {"city": "Zürich", "lines": ["1", "2"]}, "note": "🙂",
    }
    paris = timezone(timedelta(hours=2))
    original = Snapshot(
        side="right", record_id="r-1", seen=seen, synced={"email": "old@example.com"}, match_key="zoë@example.com",
        hash="abc123", updated_at=datetime(2024, 5, 1, 14, 0, 0, 5, tzinfo=paris), deleted=True, dirty=True,
        generation=7,
    )
    put(store, original, snap("r-2", side="right"))

    got = store.snapshots("crm", "right", ["r-1", "r-2", "missing"])

    assert set(got) == {"r-1", "r-2"}
    assert got["r-1"] == original  # the aware datetime compares equal across zones
    assert got["r-1"].updated_at is not None and got["r-1"].updated_at.utcoffset() == timedelta(0)
    assert got["r-1"].updated_at == datetime(2024, 5, 1, 12, 0, 0, 5, tzinfo=UTC)
    assert got["r-2"].synced is None and got["r-2"].updated_at is None
    assert store.snapshots("crm", "left", ["r-1"]) == {}  # sides are separate
    assert store.snapshots("other", "right", ["r-1"]) == {}  # integrations too


def test_put_snapshots_replaces_every_field(store: SQLiteStore) -> None:
    put(store, snap("a", dirty=True, synced={"x": 1}, match_key="m", hash="h1", generation=3))
    put(store, snap("a", seen={"email": "new"}, synced=None, match_key=None, hash="h2"))

    assert store.snapshots("crm", "left", ["a"])["a"] == snap("a", seen={"email": "new"}, match_key=None, hash="h2")


def test_side_state_round_trip_and_default(store: SQLiteStore) -> None:
    assert store.side_state("crm", "left") == SideState()
    state = SideState(cursor=T0, last_full_read=T0 + timedelta(minutes=5), generation=3)
    with store.transaction("crm") as t:
        t.set_side_state("left", state)
    assert store.side_state("crm", "left") == state
    assert store.side_state("crm", "right") == SideState()
    with store.transaction("crm") as t:
        t.set_side_state("left", SideState(generation=4))
    assert store.side_state("crm", "left") == SideState(generation=4)


def test_intent_round_trip_ids_and_resolve(store: SQLiteStore) -> None:
    create = Intent(side="right", kind="create", source_id="L1", fields={"email": "a@x", "tags": ["t"]},
                    match_key="a@x", created_at=T0)
    update = Intent(side="left", kind="update", source_id="R9", fields={"first_name": None}, target_id="L9")
    with store.transaction("crm") as t:
        first = t.add_intent(create)
        second = t.add_intent(update)

    assert 0 < first < second
    intents = store.open_intents("crm")
    assert intents[0] == Intent("right", "create", "L1", {"email": "a@x", "tags": ["t"]}, "a@x", None, first, T0)
    assert intents[1].id == second and intents[1].target_id == "L9" and intents[1].fields == {"first_name": None}
    assert intents[1].created_at is not None and intents[1].created_at.tzinfo is not None  # the store's now()
    assert store.open_intents("other") == []

    with store.transaction("crm") as t:
        t.resolve_intent(first)
        t.resolve_intent(12345)  # unknown: ignored
    assert [i.id for i in store.open_intents("crm")] == [second]
    with store.transaction("crm") as t:
        t.resolve_intent(second)
        third = t.add_intent(create)
    assert third > second  # ids are never reused


def test_conflict_round_trip_newest_first(store: SQLiteStore) -> None:
    older = ConflictRow("L1", "R1", "email -> email", "a@x", "b@x", "left", "left_wins", at=T0)
    newer = ConflictRow("L2", "R2", "tags -> tags", ["a"], {"k": [1, None]}, "right", "newest_wins",
                        at=T0 + timedelta(seconds=1))
    null = ConflictRow("L3", "R3", "phone -> phone", None, "", "right", "newest_wins", at=T0 + timedelta(seconds=2))
    with store.transaction("crm") as t:
        t.add_conflict(older)
        t.add_conflict(newer)
        t.add_conflict(null)

    got = store.conflicts("crm")
    assert [c.left_id for c in got] == ["L3", "L2", "L1"]
    assert got[2] == ConflictRow(**{**_fields(older), "id": got[2].id})
    assert got[1].right_value == {"k": [1, None]} and got[0].left_value is None
    assert [c.left_id for c in store.conflicts("crm", limit=1)] == ["L3"]


def _fields(row: object) -> dict[str, object]:
    return {name: getattr(row, name) for name in row.__slots__}  # type: ignore[attr-defined]


# --- transactions ------------------------------------------------------------------------------

def test_an_exception_inside_a_transaction_leaves_nothing(store: SQLiteStore) -> None:
    put(store, snap("kept"))
    with pytest.raises(RuntimeError, match="boom"), store.transaction("crm") as t:
        t.put_snapshots([snap("lost"), snap("kept", dirty=True)])
        t.set_side_state("left", SideState(generation=9))
        t.link("kept", "R1")
        t.add_intent(Intent("right", "create", "kept", {}))
        t.add_error(RecordErrorRow("left", "kept", "update", "nope"))
        t.add_conflict(ConflictRow("a", "b", "f", 1, 2, "left", "left_wins"))
        raise RuntimeError("boom")

    assert store.snapshots("crm", "left", ["kept", "lost"]) == {"kept": snap("kept")}
    assert store.side_state("crm", "left") == SideState()
    assert store.linked("crm", "left", ["kept"]) == {}
    assert store.open_intents("crm") == [] and store.errors("crm") == [] and store.conflicts("crm") == []


def test_a_base_exception_also_rolls_back(store: SQLiteStore) -> None:
    with pytest.raises(KeyboardInterrupt), store.transaction("crm") as t:
        t.put_snapshots([snap("a")])
        raise KeyboardInterrupt
    assert store.snapshots("crm", "left", ["a"]) == {}
    put(store, snap("b"))  # the store is usable afterwards
    assert list(store.snapshots("crm", "left", ["b"])) == ["b"]


def test_a_new_integration_rolled_back_is_not_listed(store: SQLiteStore) -> None:
    with pytest.raises(ValueError), store.transaction("new") as t:
        t.put_snapshots([snap("a")])
        raise ValueError
    assert store.integrations() == []


def test_transactions_do_not_nest(store: SQLiteStore) -> None:
    with pytest.raises(StateError, match="do not nest"), store.transaction("crm") as t:
        t.put_snapshots([snap("a")])
        with store.transaction("other"):
            pass
    assert store.snapshots("crm", "left", ["a"]) == {}  # the outer one rolled back
    put(store, snap("b"))
    assert list(store.snapshots("crm", "left", ["b"])) == ["b"]


def test_a_transaction_is_unusable_after_its_block(store: SQLiteStore) -> None:
    with store.transaction("crm") as t:
        pass
    with pytest.raises(StateError, match="not open"):
        t.put_snapshots([snap("a")])


def test_reads_outside_a_transaction_see_committed_data(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.db") as writer, open_store(tmp_path / "s.db") as reader:
        with writer.transaction("crm") as t:
            t.put_snapshots([snap("a")])
            assert list(writer.snapshots("crm", "left", ["a"])) == ["a"]  # its own writes
            assert reader.snapshots("crm", "left", ["a"]) == {}  # not committed yet
        assert list(reader.snapshots("crm", "left", ["a"])) == ["a"]


def test_wrong_values_are_caller_errors(store: SQLiteStore) -> None:
    with store.transaction("crm") as t:
        with pytest.raises(ValueError, match="naive"):
            t.put_snapshots([snap("a", updated_at=datetime(2024, 1, 1))])
        with pytest.raises(ValueError, match="side"):
            t.put_snapshots([snap("a", side="middle")])
        with pytest.raises(TypeError):
            t.put_snapshots([snap("a", seen={"x": object()})])
    with pytest.raises(ValueError, match="side"):
        store.snapshots("crm", "up", ["a"])  # type: ignore[arg-type]


def test_in_memory_store_for_tests() -> None:
    with open_store(":memory:") as store:
        put(store, snap("a"))
        assert list(store.snapshots("crm", "left", ["a"])) == ["a"]


def test_a_closed_store_raises_state_error(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.db")
    store.close()
    store.close()
    with pytest.raises(StateError, match="s.db"):
        store.snapshots("crm", "left", ["a"])


# --- lookups and iteration ---------------------------------------------------------------------

def test_snapshots_and_linked_answer_many_ids_in_chunks(store: SQLiteStore) -> None:
    ids = [f"id{i:05d}" for i in range(1300)]
    with store.transaction("crm") as t:
        t.put_snapshots(snap(i) for i in ids[::2])
        for i in ids[::3]:
            t.link(i, f"R-{i}")
    asked = ids + ids[:10] + ["nope"]  # duplicates and unknown ids

    assert set(store.snapshots("crm", "left", asked)) == set(ids[::2])
    assert store.linked("crm", "left", asked) == {i: f"R-{i}" for i in ids[::3]}
    assert store.linked("crm", "right", [f"R-{i}" for i in ids]) == {f"R-{i}": i for i in ids[::3]}
    assert store.snapshots("crm", "left", []) == {} and store.linked("crm", "left", []) == {}


def test_lookups_take_one_query_per_512_ids(store: SQLiteStore) -> None:
    ids = [f"id{i:05d}" for i in range(1200)]
    with store.transaction("crm") as t:
        t.put_snapshots(snap(i) for i in ids)
        for i in ids:
            t.link(i, f"R-{i}")
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    try:
        assert len(store.snapshots("crm", "left", ids[:100])) == 100
        assert len(store.linked("crm", "left", ids[:100])) == 100
        assert len(store.linked("crm", "right", [f"R-{i}" for i in ids[:100]])) == 100
        assert len(statements) == 3
        statements.clear()
        assert len(store.snapshots("crm", "left", ids)) == 1200
        assert len(statements) == 3
    finally:
        store._conn.set_trace_callback(None)


def test_by_match_key_leaves_deleted_out(store: SQLiteStore) -> None:
    put(store, snap("b", match_key="k"), snap("a", match_key="k"), snap("c", match_key="k", deleted=True),
        snap("d", match_key="other"), snap("e", side="right", match_key="k"))
    assert [s.record_id for s in store.by_match_key("crm", "left", "k")] == ["a", "b"]
    assert store.by_match_key("crm", "left", "none") == []


def test_dirty_keyset_iteration_while_marking_clean(store: SQLiteStore) -> None:
    ids = [f"r{i:04d}" for i in range(1000)]
    dirty_ids = [i for n, i in enumerate(ids) if n % 3 == 0]
    with store.transaction("crm") as t:
        t.put_snapshots(snap(i, dirty=i in dirty_ids) for i in ids)
        t.put_snapshots([snap("r0500", side="right", dirty=True)])
    late = "r0998"  # not dirty yet; made dirty while iterating, before the keyset reaches it
    assert late not in dirty_ids

    yielded: list[str] = []
    for batch in store.dirty("crm", "left", batch=50):
        assert 0 < len(batch) <= 50
        yielded += [s.record_id for s in batch]
        with store.transaction("crm") as t:
            t.put_snapshots(Snapshot(**{**_fields(s), "synced": s.seen, "dirty": False}) for s in batch)
            if len(yielded) == 100:
                t.put_snapshots([snap(late, dirty=True), snap("r0000", dirty=True)])  # r0000: passed already

    assert yielded == sorted(dirty_ids + [late])
    assert [s.record_id for b in store.dirty("crm", "left") for s in b] == ["r0000"]
    assert [s.record_id for b in store.dirty("crm", "right") for s in b] == ["r0500"]
    with pytest.raises(ValueError):
        next(store.dirty("crm", "left", batch=0))


def test_unseen_deletion_candidates_while_marking_deleted(store: SQLiteStore) -> None:
    ids = [f"r{i:04d}" for i in range(1200)]
    with store.transaction("crm") as t:
        t.put_snapshots(snap(i, generation=1) for i in ids)
        t.put_snapshots([snap("gone", generation=0, deleted=True)])
        t.mark_seen("left", ids[::2] + ["unknown"], 2)  # a full read (generation 2) saw half of them

    candidates = []
    for s in store.unseen("crm", "left", 2):
        candidates.append(s.record_id)
        if len(candidates) % 100 == 0:  # mark what was read so far as deleted, mid-iteration
            with store.transaction("crm") as t:
                t.put_snapshots(
                    Snapshot(**{**_fields(x), "deleted": True})
                    for x in store.snapshots("crm", "left", candidates[-100:]).values()
                )
    assert candidates == ids[1::2]
    assert store.count("crm", "left") == 600
    assert store.count("crm", "left", deleted=True) == 601
    assert list(store.unseen("crm", "left", 2)) == []


def test_queries_use_their_indexes(store: SQLiteStore) -> None:
    """No lookup scans a whole side (a guard for the 100,000-record performance)."""
    conn = store._conn
    from syncd.state._sqlite import _SNAPSHOT_COLUMNS as columns

    queries = [
        f"SELECT {columns} FROM snapshots INDEXED BY snapshots_dirty WHERE integration = ? AND side = ?"
        " AND dirty = 1 AND record_id > ? ORDER BY record_id LIMIT ?",
        f"SELECT {columns} FROM snapshots INDEXED BY snapshots_unseen WHERE integration = ? AND side = ?"
        " AND deleted = 0 AND generation < ? AND (generation, record_id) > (?, ?)"
        " ORDER BY generation, record_id LIMIT ?",
        f"SELECT {columns} FROM snapshots WHERE integration = ? AND side = ? AND record_id IN (?, ?)",
        "SELECT left_id, right_id FROM links WHERE integration = ? AND left_id IN (?, ?)",
    ]
    for sql in queries:
        plan = " ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, [1] * sql.count("?")))
        assert plan.startswith("SEARCH") and "TEMP B-TREE" not in plan, (sql, plan)
    # the methods run (INDEXED BY fails loudly if its index cannot serve the query)
    store.by_match_key("crm", "left", "k")
    store.linked("crm", "right", ["x"])
    list(store.dirty("crm", "left"))
    list(store.unseen("crm", "left", 1))


# --- links -------------------------------------------------------------------------------------

def test_link_replaces_the_old_partner_of_either_record(store: SQLiteStore) -> None:
    with store.transaction("crm") as t:
        t.link("L1", "R1")
        t.link("L2", "R2")
    with store.transaction("crm") as t:
        t.link("L1", "R2")  # L1 leaves R1, R2 leaves L2
    assert store.linked("crm", "left", ["L1", "L2"]) == {"L1": "R2"}
    assert store.linked("crm", "right", ["R1", "R2"]) == {"R2": "L1"}

    with store.transaction("crm") as t:
        t.link("L1", "R2")  # the same link again: no change
        t.link("L3", "R3")
        t.unlink("right", "R2")
        t.unlink("left", "nobody")
    assert store.linked("crm", "left", ["L1", "L3"]) == {"L3": "R3"}
    with store.transaction("crm") as t:
        t.unlink("left", "L3")
    assert store.linked("crm", "right", ["R3"]) == {}


def test_links_are_per_integration(store: SQLiteStore) -> None:
    with store.transaction("a") as t:
        t.link("L1", "R1")
    with store.transaction("b") as t:
        t.link("L1", "R9")
    assert store.linked("a", "left", ["L1"]) == {"L1": "R1"}
    assert store.linked("b", "left", ["L1"]) == {"L1": "R9"}


# --- errors ------------------------------------------------------------------------------------

def test_add_error_counts_attempts_and_resolve_keeps_history(store: SQLiteStore) -> None:
    first = RecordErrorRow("right", "R1", "update", "500 from the API", status=500, at=T0)
    with store.transaction("crm") as t:
        t.add_error(first)
    with store.transaction("crm") as t:
        t.add_error(RecordErrorRow("right", "R1", "update", "429 slow down", status=429, origin="retry",
                                   at=T0 + timedelta(minutes=1)))
        t.add_error(RecordErrorRow("right", "R1", "create", "other operation", at=T0 + timedelta(minutes=2)))
        t.add_error(RecordErrorRow("left", "R1", "update", "other side", at=T0 + timedelta(minutes=3)))

    errors = store.errors("crm")
    assert [(e.side, e.operation, e.attempts) for e in errors] == [
        ("left", "update", 1), ("right", "create", 1), ("right", "update", 2),
    ]
    replaced = errors[2]
    assert (replaced.message, replaced.status, replaced.origin) == ("429 slow down", 429, "retry")
    assert replaced.at == T0 + timedelta(minutes=1) and replaced.resolved_at is None and replaced.id > 0

    with store.transaction("crm") as t:
        t.resolve_errors("right", "R1")
    assert [e.side for e in store.errors("crm")] == ["left"]
    history = store.errors("crm", unresolved=False)
    assert len(history) == 3
    assert all(e.resolved_at is not None for e in history if e.side == "right")

    with store.transaction("crm") as t:  # failing again after resolution starts a new count
        t.add_error(RecordErrorRow("right", "R1", "update", "again", at=T0 + timedelta(minutes=9)))
    assert [(e.message, e.attempts) for e in store.errors("crm")][0] == ("again", 1)
    assert len(store.errors("crm", unresolved=False)) == 4
    assert len(store.errors("crm", unresolved=False, limit=2)) == 2
    assert store.errors("other") == []


def test_error_default_time_is_now(store: SQLiteStore) -> None:
    before = datetime.now(UTC)
    with store.transaction("crm") as t:
        t.add_error(RecordErrorRow("left", "L1", "read", "bad field"))
    (error,) = store.errors("crm")
    assert error.at is not None and before <= error.at <= datetime.now(UTC)


# --- reset and integrations --------------------------------------------------------------------

def _fill(store: SQLiteStore, integration: str) -> None:
    with store.transaction(integration) as t:
        t.put_snapshots([snap("a"), snap("b", side="right", dirty=True)])
        t.set_side_state("left", SideState(cursor=T0, generation=1))
        t.link("a", "b")
        t.add_intent(Intent("right", "create", "a", {"email": "a"}))
        t.add_error(RecordErrorRow("left", "a", "read", "x"))
        t.add_conflict(ConflictRow("a", "b", "f", 1, 2, "left", "left_wins"))


def test_reset_forgets_one_integration_only(store: SQLiteStore) -> None:
    _fill(store, "one")
    _fill(store, "two")
    assert store.integrations() == ["one", "two"]

    with store.transaction("one") as t:
        t.reset()

    assert store.integrations() == ["two"]
    assert store.snapshots("one", "left", ["a"]) == {} and store.count("one", "right") == 0
    assert store.side_state("one", "left") == SideState()
    assert store.linked("one", "left", ["a"]) == {}
    assert store.open_intents("one") == [] and store.errors("one", unresolved=False) == []
    assert store.conflicts("one") == []
    assert list(store.snapshots("two", "left", ["a"])) == ["a"] and store.count("two", "right") == 1
    assert store.side_state("two", "left").generation == 1
    assert store.linked("two", "left", ["a"]) == {"a": "b"}
    assert len(store.open_intents("two")) == len(store.errors("two")) == len(store.conflicts("two")) == 1


def test_writes_after_reset_in_the_same_transaction(store: SQLiteStore) -> None:
    _fill(store, "one")
    with store.transaction("one") as t:
        t.reset()
        t.set_side_state("left", SideState(generation=5))
    assert store.integrations() == ["one"]
    assert store.side_state("one", "left") == SideState(generation=5)
    assert store.count("one", "left") == 0


def test_any_snapshot_is_one_of_that_side_or_none(store: SQLiteStore) -> None:
    assert store.any_snapshot("crm", "left") is None
    put(store, snap("r1", "right"), snap("r2", "right"))
    assert store.any_snapshot("crm", "left") is None
    assert store.any_snapshot("other", "right") is None
    found = store.any_snapshot("crm", "right")
    assert found is not None and found.record_id in ("r1", "r2") and found.side == "right"


def test_digests_give_hash_and_deleted_without_the_values(store: SQLiteStore) -> None:
    put(store, snap("r1", hash="aa"), snap("r2", hash="bb", deleted=True), snap("r3", "right", hash="cc"))
    assert store.digests("crm", "left", ["r1", "r2", "r3", "nope"]) == {"r1": ("aa", False), "r2": ("bb", True)}
    assert store.digests("crm", "left", []) == {}


# --- disabled integrations ---------------------------------------------------------------------

def test_disabled_since_round_trips_and_is_kept_per_integration(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with open_store(path) as store:
        assert store.disabled_since("crm") is None  # never seen
        with store.transaction("crm") as t:
            t.set_disabled(T0)
        with store.transaction("other") as t:
            t.set_disabled(None)
    with open_store(path) as store:  # survives a restart
        assert store.disabled_since("crm") == T0
        assert store.disabled_since("other") is None
        with store.transaction("crm") as t:
            t.set_disabled(None)
        assert store.disabled_since("crm") is None


def test_reset_forgets_that_an_integration_was_disabled(store: SQLiteStore) -> None:
    with store.transaction("crm") as t:
        t.set_disabled(T0)
    with store.transaction("crm") as t:
        t.reset()
    assert store.disabled_since("crm") is None


def test_a_naive_disabled_time_is_refused(store: SQLiteStore) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        with store.transaction("crm") as t:
            t.set_disabled(datetime(2024, 5, 1, 12, 0))


def test_a_failing_reset_is_a_state_error(store: SQLiteStore) -> None:
    """Every method maps a SQLite failure to a StateError, reset too (SQLite refusing its DELETEs here)."""
    with store.transaction("crm") as t:
        t.link("a", "b")

    def refuse_deletes(action: int, *args: object) -> int:
        return sqlite3.SQLITE_DENY if action == sqlite3.SQLITE_DELETE else sqlite3.SQLITE_OK

    store._conn.set_authorizer(refuse_deletes)
    try:
        with pytest.raises(StateError, match="resetting the integration.*not authorized"), \
                store.transaction("crm") as t:
            t.reset()
    finally:
        store._conn.set_authorizer(None)
    assert store.linked("crm", "left", ["a"]) == {"a": "b"}
