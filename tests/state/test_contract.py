"""The state store contract, run against every store: what the sync layer relies on.

Each test runs once per factory in ``FACTORIES``; a new store (PostgreSQL…)
joins by adding its factory there and must pass every test unchanged. What
only one store does (SQLite's files, migrations, indexes, crashes) is tested
in that store's own files (``test_sqlite_*.py``, ``test_postgres_*.py``).
Stores are real, nothing mocked: SQLite in a file under ``tmp_path``;
PostgreSQL in a database of the test's own on a throwaway cluster the tests
start (``tests/pg_cluster.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from syncd.state import (
    AccountUsage,
    BulkRun,
    ConflictRow,
    CycleRow,
    Intent,
    RecordErrorRow,
    SideState,
    Snapshot,
    StateError,
    StateStore,
    Transaction,
    open_state,
    open_store,
)

# Opens the store kept in a directory; called again with the same directory
# (even while the first store is open) it opens the same state: another
# connection, as a second syncd process would have.
StoreFactory = Callable[[Path], StateStore]


def _sqlite(directory: Path) -> StateStore:
    return open_store(directory / "state.db")


def _postgres(directory: Path) -> StateStore:
    raise AssertionError("replaced by the factory fixture: each test gets a database of its own")


FACTORIES = [pytest.param(_sqlite, id="sqlite"), pytest.param(_postgres, id="postgres")]

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture(params=FACTORIES)
def factory(request: pytest.FixtureRequest) -> StoreFactory:
    opener: StoreFactory = request.param
    if opener is _postgres:
        url: str = request.getfixturevalue("pg_url")  # the test's database (one test: one directory)
        return lambda directory: open_state(url)
    return opener


@pytest.fixture
def store(factory: StoreFactory, tmp_path: Path) -> Iterator[StateStore]:
    store = factory(tmp_path)
    try:
        yield store
    finally:
        store.close()


def snap(record_id: str, side: str = "left", **changes: Any) -> Snapshot:
    fields: dict[str, Any] = {
        "side": side, "record_id": record_id, "seen": {"email": f"{record_id}@example.com"},
        "match_key": f"{record_id}@example.com",
    }
    fields.update(changes)
    return Snapshot(**fields)


def put(store: StateStore, *snapshots: Snapshot, integration: str = "crm") -> None:
    with store.transaction(integration) as t:
        t.put_snapshots(snapshots)


# Members a protocol gives a body: a store may inherit them by subclassing the protocol.
DEFAULTS = {"now", "__enter__", "__exit__"}


def _placeholders(protocol: type) -> list[str]:
    """The methods a protocol only declares: every store must define them itself."""
    return sorted(name for name, value in vars(protocol).items()
                  if callable(value) and not name.startswith("_") and name not in DEFAULTS)


def test_the_store_and_its_transactions_keep_the_protocols(store: StateStore) -> None:
    assert "integrations" in _placeholders(StateStore) and "reset" in _placeholders(Transaction)
    assert isinstance(store, StateStore)
    for name in _placeholders(StateStore):  # a subclass that forgot one would inherit the empty body
        assert getattr(type(store), name) is not getattr(StateStore, name), name
    with store.transaction("crm") as t:
        assert isinstance(t, Transaction)
        for name in _placeholders(Transaction):
            assert getattr(type(t), name) is not getattr(Transaction, name), name


# --- round trips -------------------------------------------------------------------------------

def test_snapshot_round_trip_keeps_every_field(store: StateStore) -> None:
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


def test_put_snapshots_replaces_every_field(store: StateStore) -> None:
    put(store, snap("a", dirty=True, synced={"x": 1}, match_key="m", hash="h1", generation=3))
    put(store, snap("a", seen={"email": "new"}, synced=None, match_key=None, hash="h2"))

    assert store.snapshots("crm", "left", ["a"])["a"] == snap("a", seen={"email": "new"}, match_key=None, hash="h2")


def test_side_state_round_trip_and_default(store: StateStore) -> None:
    assert store.side_state("crm", "left") == SideState()
    state = SideState(cursor=T0, last_full_read=T0 + timedelta(minutes=5), generation=3,
                      fields=("email", "first_name"))
    with store.transaction("crm") as t:
        t.set_side_state("left", state)
    assert store.side_state("crm", "left") == state
    assert store.side_state("crm", "right") == SideState()
    assert store.side_state("other", "left") == SideState()
    with store.transaction("crm") as t:
        t.set_side_state("left", SideState(generation=4, fields=()))
    assert store.side_state("crm", "left") == SideState(generation=4, fields=())  # no fields is not None


def test_sync_token_round_trips_beside_the_cursor_and_rolls_back_with_its_transaction(store: StateStore) -> None:
    # An API's opaque cursor (Google's nextSyncToken): kept as given, with
    # the time cursor, and only as part of the transaction that commits it.
    token = "EhYKEAi4+/9Pz0=/~x" * 20
    with store.transaction("crm") as t:
        t.set_side_state("left", SideState(cursor=T0, generation=1, sync_token=token))
    assert store.side_state("crm", "left") == SideState(cursor=T0, generation=1, sync_token=token)
    assert store.side_state("crm", "right").sync_token is None
    with pytest.raises(RuntimeError), store.transaction("crm") as t:
        t.set_side_state("left", SideState(cursor=T0, generation=2, sync_token="newer"))
        raise RuntimeError("crash before the commit")
    assert store.side_state("crm", "left").sync_token == token
    with store.transaction("crm") as t:
        t.set_side_state("left", SideState(generation=2))
    assert store.side_state("crm", "left").sync_token is None  # a full read without a token drops it


def test_intent_round_trip_ids_and_resolve(store: StateStore) -> None:
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


def test_conflict_round_trip_newest_first(store: StateStore) -> None:
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
    assert got[2] == replace(older, id=got[2].id)
    assert got[1].right_value == {"k": [1, None]} and got[0].left_value is None
    assert [c.left_id for c in store.conflicts("crm", limit=1)] == ["L3"]
    assert store.conflicts("other") == []


def test_times_left_out_are_the_stores_now(store: StateStore) -> None:
    before = store.now()
    assert before.utcoffset() == timedelta(0)
    assert abs(before - datetime.now(UTC)) < timedelta(seconds=5)
    with store.transaction("crm") as t:
        t.add_error(RecordErrorRow("left", "L1", "read", "bad field"))
        t.add_error(RecordErrorRow("left", "L2", "read", "bad field"))
        t.add_intent(Intent("right", "create", "L1", {}))
        t.add_conflict(ConflictRow("L1", "R1", "f", 1, 2, "left", "left_wins"))
    with store.transaction("crm") as t:
        t.resolve_errors("left", "L2")
    after = store.now()

    (error,) = store.errors("crm")
    (intent,) = store.open_intents("crm")
    (conflict,) = store.conflicts("crm")
    resolved = next(e for e in store.errors("crm", unresolved=False) if e.record_id == "L2")
    for at in (error.at, intent.created_at, conflict.at, resolved.resolved_at):
        assert at is not None and before <= at <= after


# --- transactions ------------------------------------------------------------------------------

def _fill(store: StateStore, integration: str) -> None:
    with store.transaction(integration) as t:
        t.put_snapshots([snap("a"), snap("b", side="right", dirty=True)])
        t.set_side_state("left", SideState(cursor=T0, generation=1))
        t.link("a", "b")
        t.add_intent(Intent("right", "create", "a", {"email": "a"}))
        t.add_error(RecordErrorRow("left", "a", "read", "x"))
        t.add_conflict(ConflictRow("a", "b", "f", 1, 2, "left", "left_wins"))


def _everything(store: StateStore, integration: str) -> dict[str, object]:
    """All a store tells about one integration (for the records _fill and the tests write)."""
    ids = ["a", "b", "c", "new"]
    return {
        "integrations": store.integrations(),
        "snapshots": [store.snapshots(integration, side, ids) for side in ("left", "right")],
        "counts": [store.count(integration, side, deleted=d) for side in ("left", "right") for d in (False, True)],
        "side_states": [store.side_state(integration, side) for side in ("left", "right")],
        "links": store.linked(integration, "left", ids),
        "intents": store.open_intents(integration),
        "errors": store.errors(integration, unresolved=False),
        "conflicts": store.conflicts(integration),
        "disabled": store.disabled_since(integration),
    }


def test_nothing_of_a_failed_transaction_is_visible(store: StateStore) -> None:
    _fill(store, "crm")
    with store.transaction("crm") as t:
        t.put_snapshots([snap("c", generation=1)])
    before = _everything(store, "crm")
    (intent,) = store.open_intents("crm")

    with pytest.raises(RuntimeError, match="boom"), store.transaction("crm") as t:
        t.put_snapshots([snap("new"), snap("a", dirty=True, hash="changed")])
        t.mark_seen("left", ["a", "c"], 9)
        t.set_side_state("left", SideState(generation=9))
        t.unlink("left", "a")
        t.link("c", "new")
        t.resolve_intent(intent.id)
        t.add_intent(Intent("right", "create", "c", {}))
        t.resolve_errors("left", "a")
        t.add_error(RecordErrorRow("left", "c", "update", "nope"))
        t.add_conflict(ConflictRow("c", "d", "f", 1, 2, "left", "left_wins"))
        t.set_disabled(T0)
        assert store.snapshots("crm", "left", ["new"]) != {}  # the transaction sees its own writes
        raise RuntimeError("boom")
    assert _everything(store, "crm") == before

    with pytest.raises(RuntimeError, match="boom"), store.transaction("crm") as t:
        t.reset()
        raise RuntimeError("boom")
    assert _everything(store, "crm") == before


def test_a_base_exception_also_rolls_back(store: StateStore) -> None:
    with pytest.raises(KeyboardInterrupt), store.transaction("crm") as t:
        t.put_snapshots([snap("a")])
        raise KeyboardInterrupt
    assert store.snapshots("crm", "left", ["a"]) == {}
    put(store, snap("b"))  # the store is usable afterwards
    assert list(store.snapshots("crm", "left", ["b"])) == ["b"]


def test_a_new_integration_rolled_back_is_not_listed(store: StateStore) -> None:
    with pytest.raises(ValueError), store.transaction("new") as t:
        t.put_snapshots([snap("a")])
        raise ValueError
    assert store.integrations() == []


def test_transactions_do_not_nest(store: StateStore) -> None:
    with pytest.raises(StateError, match="do not nest"), store.transaction("crm") as t:
        t.put_snapshots([snap("a")])
        with store.transaction("other"):
            pass
    assert store.snapshots("crm", "left", ["a"]) == {}  # the outer one rolled back
    put(store, snap("b"))
    assert list(store.snapshots("crm", "left", ["b"])) == ["b"]


def test_a_transaction_is_unusable_after_its_block(store: StateStore) -> None:
    with store.transaction("crm") as t:
        pass
    with pytest.raises(StateError, match="not open"):
        t.put_snapshots([snap("a")])
    assert store.snapshots("crm", "left", ["a"]) == {}


def test_reads_outside_a_transaction_see_committed_data(factory: StoreFactory, tmp_path: Path) -> None:
    writer, reader = factory(tmp_path), factory(tmp_path)
    try:
        with writer.transaction("crm") as t:
            t.put_snapshots([snap("a")])
            assert list(writer.snapshots("crm", "left", ["a"])) == ["a"]  # its own writes
            assert reader.snapshots("crm", "left", ["a"]) == {}  # not committed yet
        assert list(reader.snapshots("crm", "left", ["a"])) == ["a"]
    finally:
        writer.close()
        reader.close()


def test_wrong_values_are_caller_errors(store: StateStore) -> None:
    with store.transaction("crm") as t:
        with pytest.raises(ValueError, match="naive"):
            t.put_snapshots([snap("a", updated_at=datetime(2024, 1, 1))])
        with pytest.raises(ValueError, match="side"):
            t.put_snapshots([snap("a", side="middle")])
        with pytest.raises(TypeError):
            t.put_snapshots([snap("a", seen={"x": object()})])
    with pytest.raises(ValueError, match="side"):
        store.snapshots("crm", "up", ["a"])  # type: ignore[arg-type]
    assert store.snapshots("crm", "left", ["a"]) == {}


def test_a_closed_store_raises_state_error(store: StateStore) -> None:
    store.close()
    store.close()  # harmless
    with pytest.raises(StateError):
        store.snapshots("crm", "left", ["a"])
    with pytest.raises(StateError):
        with store.transaction("crm") as t:
            t.put_snapshots([snap("a")])


def test_closing_the_store_ends_its_open_transaction(factory: StoreFactory, tmp_path: Path) -> None:
    store = factory(tmp_path)
    with pytest.raises(StateError):
        with store.transaction("crm") as t:
            t.put_snapshots([snap("a")])
            store.close()
            t.put_snapshots([snap("b")])
    with factory(tmp_path) as again:
        assert again.snapshots("crm", "left", ["a", "b"]) == {}  # rolled back, not committed


# --- lookups and iteration ---------------------------------------------------------------------

def test_snapshots_and_linked_answer_many_ids_duplicates_and_unknown_ones(store: StateStore) -> None:
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


def test_by_match_key_leaves_deleted_out(store: StateStore) -> None:
    put(store, snap("b", match_key="k"), snap("a", match_key="k"), snap("c", match_key="k", deleted=True),
        snap("d", match_key="other"), snap("e", side="right", match_key="k"))
    put(store, snap("f", match_key="k"), integration="other")
    assert [s.record_id for s in store.by_match_key("crm", "left", "k")] == ["a", "b"]
    assert store.by_match_key("crm", "left", "none") == []


def test_dirty_keyset_iteration_while_marking_clean(store: StateStore) -> None:
    ids = [f"r{i:04d}" for i in range(1000)]
    dirty_ids = [i for n, i in enumerate(ids) if n % 3 == 0]
    with store.transaction("crm") as t:
        t.put_snapshots(snap(i, dirty=i in dirty_ids) for i in ids)
        t.put_snapshots([snap("r0500", side="right", dirty=True)])
    put(store, snap("r0001", dirty=True), integration="other")
    late = "r0998"  # not dirty yet; made dirty while iterating, before the keyset reaches it
    assert late not in dirty_ids

    yielded: list[str] = []
    for batch in store.dirty("crm", "left", batch=50):
        assert 0 < len(batch) <= 50
        yielded += [s.record_id for s in batch]
        with store.transaction("crm") as t:
            t.put_snapshots(replace(s, synced=s.seen, dirty=False) for s in batch)
            if len(yielded) == 100:
                t.put_snapshots([snap(late, dirty=True), snap("r0000", dirty=True)])  # r0000: passed already

    assert yielded == sorted(dirty_ids + [late])
    assert [s.record_id for b in store.dirty("crm", "left") for s in b] == ["r0000"]
    assert [s.record_id for b in store.dirty("crm", "right") for s in b] == ["r0500"]
    with pytest.raises(ValueError):
        next(store.dirty("crm", "left", batch=0))


def test_unseen_deletion_candidates_while_marking_deleted(store: StateStore) -> None:
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
                    replace(x, deleted=True) for x in store.snapshots("crm", "left", candidates[-100:]).values()
                )
    assert candidates == ids[1::2]
    assert store.count("crm", "left") == 600
    assert store.count("crm", "left", deleted=True) == 601
    assert list(store.unseen("crm", "left", 2)) == []


def test_unseen_are_the_older_generations_of_the_side_in_record_id_order(store: StateStore) -> None:
    put(store, snap("a", generation=2), snap("b", generation=1), snap("c", generation=3), snap("d", generation=1),
        snap("e", generation=0, deleted=True), snap("f", side="right", generation=0))
    put(store, snap("g", generation=0), integration="other")
    unseen = [(s.generation, s.record_id) for s in store.unseen("crm", "left", 3)]
    # By the primary key on both stores (no index holds the generation).
    assert unseen == [(2, "a"), (1, "b"), (1, "d")]
    assert [s.record_id for s in store.unseen("crm", "left", 1)] == []


def test_mark_seen_sets_the_generation_of_those_records_only(store: StateStore) -> None:
    put(store, snap("a", generation=1, dirty=True, hash="h"), snap("b", generation=1), snap("a", "right"))
    put(store, snap("a", generation=1), integration="other")
    with store.transaction("crm") as t:
        t.mark_seen("left", ["a", "unknown"], 5)
        t.mark_seen("left", [], 6)

    left = store.snapshots("crm", "left", ["a", "b", "unknown"])
    assert left["a"] == snap("a", generation=5, dirty=True, hash="h")  # nothing else changes
    assert left["b"].generation == 1 and "unknown" not in left  # unknown ids create nothing
    assert store.snapshots("crm", "right", ["a"])["a"].generation == 0
    assert store.snapshots("other", "left", ["a"])["a"].generation == 1
    assert store.count("crm", "left") == 2


def test_count_is_per_side_and_integration(store: StateStore) -> None:
    put(store, snap("a"), snap("b"), snap("c", deleted=True), snap("a", "right"))
    put(store, snap("z"), integration="other")
    assert [store.count("crm", "left"), store.count("crm", "left", deleted=True)] == [2, 1]
    assert [store.count("crm", "right"), store.count("crm", "right", deleted=True)] == [1, 0]
    assert store.count("other", "left") == 1 and store.count("nobody", "left") == 0


def test_any_snapshot_is_one_of_that_side_or_none(store: StateStore) -> None:
    assert store.any_snapshot("crm", "left") is None
    put(store, snap("r1", "right"), snap("r2", "right"))
    assert store.any_snapshot("crm", "left") is None
    assert store.any_snapshot("other", "right") is None
    found = store.any_snapshot("crm", "right")
    assert found is not None and found.record_id in ("r1", "r2") and found.side == "right"


def test_digests_give_hash_and_deleted_without_the_values(store: StateStore) -> None:
    put(store, snap("r1", hash="aa"), snap("r2", hash="bb", deleted=True), snap("r3", "right", hash="cc"))
    assert store.digests("crm", "left", ["r1", "r2", "r3", "nope"]) == {"r1": ("aa", False), "r2": ("bb", True)}
    assert store.digests("other", "left", ["r1"]) == {}
    assert store.digests("crm", "left", []) == {}


# --- links -------------------------------------------------------------------------------------

def test_link_replaces_the_old_partner_of_either_record(store: StateStore) -> None:
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


def test_links_are_per_integration(store: StateStore) -> None:
    with store.transaction("a") as t:
        t.link("L1", "R1")
    with store.transaction("b") as t:
        t.link("L1", "R9")
    assert store.linked("a", "left", ["L1"]) == {"L1": "R1"}
    assert store.linked("b", "left", ["L1"]) == {"L1": "R9"}
    with store.transaction("a") as t:
        t.unlink("left", "L1")
    assert store.linked("b", "right", ["R9"]) == {"R9": "L1"}


def test_links_iterate_in_batches_while_links_change(store: StateStore) -> None:
    with store.transaction("crm") as t:
        for i in range(7):
            t.link(f"L{i}", f"R{i}")
    with store.transaction("other") as t:
        t.link("L0", "R99")
    assert store.link_count("crm") == 7 and store.link_count("nobody") == 0
    seen: list[tuple[str, str]] = []
    for batch in store.links("crm", batch=3):
        assert len(batch) <= 3
        seen += batch
        with store.transaction("crm") as t:
            t.unlink("left", batch[0][0])  # changing links meanwhile repeats and skips nothing
    assert seen == [(f"L{i}", f"R{i}") for i in range(7)]
    assert store.link_count("crm") == 4
    with pytest.raises(ValueError):
        next(store.links("crm", batch=0))


# --- bulk sync progress --------------------------------------------------------------------------

def test_bulk_run_round_trips_is_replaced_and_reset(factory: StoreFactory, tmp_path: Path) -> None:
    running = BulkRun("running", T0, T0, done=0, total=40)
    with factory(tmp_path) as store:
        assert store.bulk_run("crm") is None
        with store.transaction("crm") as t:
            t.put_bulk_run(running)
        assert store.bulk_run("crm") == running
        assert store.bulk_run("other") is None
        done = replace(running, state="stopped", done=20, failed=2, updated_at=T0 + timedelta(seconds=5),
                       ended_at=T0 + timedelta(seconds=5), message="stopped by `syncd bulk crm stop`")
        with store.transaction("crm") as t:
            t.put_bulk_run(done)
    with factory(tmp_path) as store:  # one a integration, kept across a restart
        assert store.bulk_run("crm") == done
        with store.transaction("crm") as t:
            t.reset()
        assert store.bulk_run("crm") is None


# --- errors ------------------------------------------------------------------------------------

def test_add_error_counts_attempts_and_resolve_keeps_history(store: StateStore) -> None:
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


def test_a_new_error_keeps_its_attempts_and_a_repeat_adds_one(store: StateStore) -> None:
    with store.transaction("crm") as t:
        t.add_error(RecordErrorRow("left", "L1", "update", "first", attempts=3, at=T0))
    with store.transaction("crm") as t:
        t.add_error(RecordErrorRow("left", "L1", "update", "second", attempts=7, at=T0 + timedelta(seconds=1)))
    assert [(e.message, e.attempts) for e in store.errors("crm")] == [("second", 4)]


# --- reset, integrations, disabled -------------------------------------------------------------

def test_reset_forgets_one_integration_only(store: StateStore) -> None:
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


def test_writes_after_reset_in_the_same_transaction(store: StateStore) -> None:
    _fill(store, "one")
    with store.transaction("one") as t:
        t.reset()
        t.set_side_state("left", SideState(generation=5))
    assert store.integrations() == ["one"]
    assert store.side_state("one", "left") == SideState(generation=5)
    assert store.count("one", "left") == 0


def test_disabled_since_round_trips_and_is_kept_per_integration(factory: StoreFactory, tmp_path: Path) -> None:
    with factory(tmp_path) as store:
        assert store.disabled_since("crm") is None  # never seen
        with store.transaction("crm") as t:
            t.set_disabled(T0)
        with store.transaction("other") as t:
            t.set_disabled(None)
    with factory(tmp_path) as store:  # survives a restart
        assert store.disabled_since("crm") == T0
        assert store.disabled_since("other") is None
        with store.transaction("crm") as t:
            t.set_disabled(None)
        assert store.disabled_since("crm") is None


def test_reset_forgets_that_an_integration_was_disabled(store: StateStore) -> None:
    with store.transaction("crm") as t:
        t.set_disabled(T0)
    with store.transaction("crm") as t:
        t.reset()
    assert store.disabled_since("crm") is None


def test_a_naive_disabled_time_is_refused(store: StateStore) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        with store.transaction("crm") as t:
            t.set_disabled(datetime(2024, 5, 1, 12, 0))
    assert store.disabled_since("crm") is None


# --- cycles ------------------------------------------------------------------------------------------


def _cycle(n: int, outcome: Any = "ok") -> CycleRow:
    return CycleRow("scheduled", T0 + timedelta(minutes=n), T0 + timedelta(minutes=n, seconds=3),
                    outcome, {"read": {"left": n, "right": 0}, "errors": 0})


def test_cycles_come_back_newest_first_with_their_counts(store: StateStore) -> None:
    with store.transaction("a") as t:
        t.add_cycle(_cycle(1))
        t.add_cycle(replace(_cycle(2, "aborted"), error="HTTP 401", origin="manual"))
    last, first = store.cycles("a")
    assert (last.outcome, last.origin, last.error, last.started_at) == ("aborted", "manual", "HTTP 401",
                                                                        T0 + timedelta(minutes=2))
    assert last.ended_at - last.started_at == timedelta(seconds=3)
    assert first.counts == {"read": {"left": 1, "right": 0}, "errors": 0} and first.id < last.id
    assert store.cycles("a", limit=1) == [last]
    assert store.cycles("b") == []


def test_only_the_newest_cycles_are_kept(store: StateStore) -> None:
    from syncd.state._store import KEPT_CYCLES

    for n in range(KEPT_CYCLES + 5):
        with store.transaction("a") as t:
            t.add_cycle(_cycle(n))
    kept = store.cycles("a", limit=10_000)
    assert len(kept) == KEPT_CYCLES
    assert kept[0].counts["read"]["left"] == KEPT_CYCLES + 4 and kept[-1].counts["read"]["left"] == 5


def test_a_cycle_prunes_the_history_past_its_days_its_childrens_too_once_an_hour(store: StateStore) -> None:
    """Conflicts and resolved errors older than KEPT_DAYS hold contacts' values and grew for ever:
    recording a cycle deletes them (the integration's and its child objects' keys'), not an open
    error, not a sibling integration's, and not again within the hour."""
    from syncd.state._history import KEPT_DAYS

    now = datetime.now(UTC)
    old, recent = now - timedelta(days=KEPT_DAYS + 1), now - timedelta(days=KEPT_DAYS - 1)
    for key in ("crm", "crm/notes", "crm-2"):
        with store.transaction(key) as t:
            for at, record in ((old, "old"), (recent, "recent")):
                t.add_conflict(ConflictRow(f"L-{record}", "R", "email -> email", "a@x", "b@x", "left",
                                           "left_wins", at=at))
                t.add_error(RecordErrorRow("left", f"{record}-resolved", "update", "HTTP 500", at=at))
                t.resolve_errors("left", f"{record}-resolved")
                t.add_error(RecordErrorRow("left", f"{record}-open", "update", "HTTP 500", at=at))

    def kept(key: str) -> tuple[list[str], list[str]]:
        return (sorted(c.left_id for c in store.conflicts(key)),
                sorted(e.record_id for e in store.errors(key, unresolved=False)))

    with store.transaction("crm") as t:
        t.add_cycle(_cycle(1))
    for key in ("crm", "crm/notes"):
        assert kept(key) == (["L-recent"], ["old-open", "recent-open", "recent-resolved"]), key
    assert kept("crm-2") == (["L-old", "L-recent"], ["old-open", "old-resolved", "recent-open", "recent-resolved"])
    assert store.count_conflicts("crm") == 1

    with store.transaction("crm") as t:  # within the hour: nothing looked at
        t.add_conflict(ConflictRow("L-old-2", "R", "email -> email", "a@x", "b@x", "left", "left_wins", at=old))
        t.add_cycle(_cycle(2))
    assert kept("crm")[0] == ["L-old-2", "L-recent"]


def test_an_unknown_cycle_outcome_is_refused(store: StateStore) -> None:
    with pytest.raises(ValueError, match="outcome"), store.transaction("a") as t:
        t.add_cycle(_cycle(1, "fine"))


def test_reset_forgets_the_cycles(store: StateStore) -> None:
    with store.transaction("a") as t:
        t.add_cycle(_cycle(1))
    with store.transaction("a") as t:
        t.reset()
    assert store.cycles("a") == []


def test_api_usage_round_trips_per_account_and_survives_a_restart(factory: StoreFactory, tmp_path: Path) -> None:
    first = AccountUsage("app@http://a#1", "app", 1000.0, 87400.0, 12)
    other = AccountUsage("crm@http://b#2", "crm", 1000.5, 1005.5, 3, api_used=40, api_limit=100)
    with factory(tmp_path) as store:
        assert store.api_usage() == []
        store.put_api_usage(other)
        store.put_api_usage(first)
        store.put_api_usage(replace(first, used=13))  # the account's last replaces it
    with factory(tmp_path) as store:
        assert store.api_usage() == [replace(first, used=13), other]


def test_api_usage_is_not_an_integrations_state(store: StateStore) -> None:
    usage = AccountUsage("app@http://a#1", "app", 0.0, 86400.0, 1)
    store.put_api_usage(usage)
    with store.transaction("crm") as t:
        t.reset()  # shared by integrations: one's reset keeps it
    assert store.api_usage() == [usage]
    assert store.integrations() == []


def test_api_usage_is_refused_inside_a_transaction(store: StateStore) -> None:
    with pytest.raises(StateError, match="outside transactions"):
        with store.transaction("crm") as t:
            t.set_disabled(None)
            store.put_api_usage(AccountUsage("app@http://a#1", "app", 0.0, 86400.0, 1))
    assert store.api_usage() == []


def test_an_error_keeps_when_it_is_due_and_a_repeat_replaces_it(store: StateStore) -> None:
    with store.transaction("crm") as t:
        t.add_error(RecordErrorRow("right", "L1", "create", "422", at=T0, next_retry_at=T0 + timedelta(minutes=1)))
        t.add_error(RecordErrorRow("right", "L2", "create", "422", at=T0))  # waits for an operator
    assert {e.record_id: e.next_retry_at for e in store.errors("crm")} == {
        "L1": T0 + timedelta(minutes=1), "L2": None}
    with store.transaction("crm") as t:
        t.add_error(RecordErrorRow("right", "L1", "create", "again", at=T0 + timedelta(minutes=1),
                                   next_retry_at=T0 + timedelta(minutes=6)))
    [l1] = [e for e in store.errors("crm") if e.record_id == "L1"]
    assert (l1.attempts, l1.next_retry_at) == (2, T0 + timedelta(minutes=6))
    assert store.count_errors("crm") == 2 and store.count_errors("other") == 0


def test_retry_due_brings_a_retry_forward_and_wakes_one_waiting_for_an_operator(store: StateStore) -> None:
    with store.transaction("crm") as t:
        t.add_error(RecordErrorRow("right", "L1", "create", "x", at=T0, next_retry_at=T0 + timedelta(hours=1)))
        t.add_error(RecordErrorRow("right", "L2", "update", "x", at=T0))
        t.add_error(RecordErrorRow("right", "L3", "update", "x", at=T0, next_retry_at=T0 - timedelta(minutes=1)))
        t.add_error(RecordErrorRow("left", "L1", "update", "x", at=T0, next_retry_at=T0 + timedelta(hours=1)))
    with store.transaction("crm") as t:
        t.retry_due("right", ["L1", "L2", "L3", "unknown"], T0)
    due = {(e.side, e.record_id): e.next_retry_at for e in store.errors("crm")}
    assert due == {("right", "L1"): T0, ("right", "L2"): T0,
                   ("right", "L3"): T0 - timedelta(minutes=1),  # due earlier already: kept
                   ("left", "L1"): T0 + timedelta(hours=1)}  # the other side: untouched
    with store.transaction("crm") as t:
        t.resolve_errors("right", "L1")
        t.retry_due("right", ["L1"], T0 + timedelta(hours=2))
    [resolved] = [e for e in store.errors("crm", unresolved=False) if e.resolved_at is not None]
    assert resolved.next_retry_at == T0  # a resolved error is history: left alone


def test_resolve_errors_keeps_to_write_or_to_other_errors_when_asked(store: StateStore) -> None:
    # (right, "1"): the left record 1's create on the right, and the right record 1's read error.
    with store.transaction("crm") as t:
        t.add_error(RecordErrorRow("right", "1", "create", "left 1 not created", at=T0))
        t.add_error(RecordErrorRow("right", "1", "read", "right 1 unreadable", at=T0))
        t.add_error(RecordErrorRow("right", "2", "update", "x", at=T0))
        t.add_error(RecordErrorRow("right", "2", "read", "y", at=T0))
    with store.transaction("crm") as t:
        t.resolve_errors("right", "1", writes=False)
        t.resolve_errors("right", "2", writes=True)
    assert sorted((e.record_id, e.operation) for e in store.errors("crm")) == [("1", "create"), ("2", "read")]
    with store.transaction("crm") as t:
        t.resolve_errors("right", "1")
    assert [(e.record_id, e.operation) for e in store.errors("crm")] == [("2", "read")]


def test_count_conflicts_counts_the_log_of_one_integration(store: StateStore) -> None:
    with store.transaction("crm") as t:
        for n in range(3):
            t.add_conflict(ConflictRow(f"L{n}", f"R{n}", "first_name -> first_name", "a", "b", "left",
                                       "newest_wins", at=T0))
    assert store.count_conflicts("crm") == 3 and store.count_conflicts("other") == 0
