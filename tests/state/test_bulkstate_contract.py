"""The bulk forms of a transaction (add_intents, link_many, resolve_intents,
mark_synced), run against both stores: each must leave what the per-record
form, called row by row, leaves (the writer relies on that to write a batch
of creates in three statements, not three per record), an empty batch
writes nothing, and a batch with a row the store refuses writes none of
its rows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syncd.state import Intent, Snapshot, StateError, StateStore, open_store

T0 = datetime(2026, 12, 6, 20, 0, 0, 123456, tzinfo=UTC)


def links(store: StateStore, integration: str = "crm") -> list[tuple[str, str]]:
    return [pair for batch in store.links(integration) for pair in batch]


def create(source_id: str, **fields: object) -> Intent:
    return Intent(side="right", kind="create", source_id=source_id, fields=dict(fields),
                  match_key=f"{source_id}@x")


def test_add_intents_gives_ids_in_order_as_add_intent_does(store: StateStore) -> None:
    with store.transaction("crm") as t:
        before = t.add_intent(create("L0"))
        ids = t.add_intents([create("L1", email="1@x"), create("L2", tags=["a", None]),
                             Intent("left", "update", "R3", {"first_name": None}, target_id="L3")])
        after = t.add_intent(create("L4"))
    assert before < ids[0] < ids[1] < ids[2] < after
    got = {i.id: i for i in store.open_intents("crm")}
    assert [got[n].source_id for n in ids] == ["L1", "L2", "R3"]
    assert got[ids[1]].fields == {"tags": ["a", None]} and got[ids[1]].match_key == "L2@x"
    assert got[ids[2]].kind == "update" and got[ids[2]].target_id == "L3" and got[ids[2]].side == "left"
    assert all(got[n].created_at is not None for n in ids)  # the store's now()

    with store.transaction("crm") as t:
        t.resolve_intents([ids[0], ids[2], 987654])  # an unknown id is ignored
        t.resolve_intents([])
    assert [i.source_id for i in store.open_intents("crm")] == ["L0", "L2", "L4"]
    with store.transaction("crm") as t:
        t.resolve_intents(i.id for i in store.open_intents("crm"))
        again = t.add_intents([create("L5")])
    assert store.open_intents("crm")[0].id == again[0] > after  # ids are never reused


def test_empty_batches_write_nothing(store: StateStore) -> None:
    with store.transaction("crm") as t:
        assert t.add_intents([]) == []
        t.link_many([])
        t.resolve_intents([])
    assert store.open_intents("crm") == [] and links(store) == []


def test_link_many_leaves_what_linking_one_by_one_leaves(store: StateStore) -> None:
    old = [("L1", "R1"), ("L2", "R2"), ("L7", "R7")]
    batch = [("L1", "R2"),   # takes both old pairs' partners: (L1, R1) and (L2, R2) go
             ("L3", "R3"), ("L3", "R4"),  # the same left twice: the later pair stays
             ("L5", "R4"),   # takes R4 from L3: L3 ends unlinked
             ("L6", "R6"), ("L6", "R6")]  # the same pair twice: once
    for name in ("bulk", "one-by-one"):
        with store.transaction(name) as t:
            for left, right in old:
                t.link(left, right)
    with store.transaction("bulk") as t:
        t.link_many(batch)
    with store.transaction("one-by-one") as t:
        for left, right in batch:
            t.link(left, right)
    assert links(store, "bulk") == links(store, "one-by-one") == [
        ("L1", "R2"), ("L5", "R4"), ("L6", "R6"), ("L7", "R7")]
    assert store.linked("bulk", "right", ["R1", "R2", "R3", "R4"]) == {"R2": "L1", "R4": "L5"}


def test_a_refused_intent_writes_none_of_the_batch(store: StateStore) -> None:
    with store.transaction("crm") as t:
        kept = t.add_intent(create("L0"))
    refused = Intent(side="right", kind="merge", source_id="L2", fields={})  # type: ignore[arg-type]
    with pytest.raises(StateError, match="recording write intents"), store.transaction("crm") as t:
        t.link("L9", "R9")
        t.add_intents([create("L1"), refused, create("L3")])
    # The block rolled back as a whole: nothing of the batch, nor of what came before it in the block.
    assert [i.id for i in store.open_intents("crm")] == [kept] and links(store) == []
    with store.transaction("crm") as t:  # the store goes on
        assert t.add_intents([create("L4")])[0] > kept
    assert [i.source_id for i in store.open_intents("crm")] == ["L0", "L4"]


def test_a_refused_link_writes_none_of_the_batch(store: StateStore) -> None:
    with store.transaction("crm") as t:
        t.link("L1", "R1")
    with pytest.raises(StateError, match="linking records"), store.transaction("crm") as t:
        t.link_many([("L1", "R2"), ("L3", None)])  # type: ignore[list-item]  # NOT NULL
    assert links(store) == [("L1", "R1")]


def test_a_value_of_the_wrong_kind_is_refused_before_anything_is_written(store: StateStore) -> None:
    with pytest.raises(ValueError, match="side"), store.transaction("crm") as t:
        t.add_intents([create("L1"), Intent(side="middle", kind="create", source_id="L2",  # type: ignore[arg-type]
                                            fields={})])
    with pytest.raises(TypeError), store.transaction("crm") as t:
        t.add_intents([create("L1", bad=object())])
    assert store.open_intents("crm") == []


def test_sqlite_a_refused_batch_caught_inside_the_block_left_none_of_its_rows(tmp_path: Path) -> None:
    """SQLite runs a batch row by row: the rows before a refused one are
    undone (a savepoint), so the rest of the block may still commit."""
    with open_store(tmp_path / "state.db") as store:
        with store.transaction("crm") as t:
            t.link("L0", "R0")
            with pytest.raises(StateError):
                t.add_intents([create("L1"), Intent("right", "merge", "L2", {}), create("L3")])  # type: ignore[arg-type]
            with pytest.raises(StateError):
                t.link_many([("L0", "R5"), ("L4", None)])  # type: ignore[list-item]
            t.add_intent(create("L6"))
        assert [i.source_id for i in store.open_intents("crm")] == ["L6"]
        assert links(store) == [("L0", "R0")]


def test_mark_synced_leaves_what_putting_the_snapshot_in_step_leaves(store: StateStore) -> None:
    one = Snapshot("left", "L1", {"email": "a@x", "tags": ["t"]}, None, "a@x", "h1", T0, dirty=True, generation=3)
    two = Snapshot("left", "L2", {"email": "b@x"}, {"email": "old@x"}, "b@x", "h2", T0, dirty=True)
    gone = Snapshot("left", "L3", {"email": "c@x"}, None, "c@x", "h3", T0, deleted=True, dirty=True)
    right = Snapshot("right", "L1", {"email": "r@x"}, None, "r@x", "h1", dirty=True)  # same id, other side
    with store.transaction("crm") as t:
        t.put_snapshots([one, two, gone, right])
    with store.transaction("crm") as t:
        t.mark_synced("left", [("L1", "h1"), ("L2", "changed since"), ("L3", "h3"), ("unknown", "h9")])
        t.mark_synced("right", [])
    got = store.snapshots("crm", "left", ["L1", "L2", "L3"])
    assert got["L1"] == replace(one, synced=one.seen, dirty=False)  # as put_snapshots of it in step
    assert got["L2"] == two  # its hash is not the one given: it changed since, still to sync
    assert got["L3"] == replace(gone, synced=gone.seen, dirty=False)  # still deleted
    assert store.snapshots("crm", "right", ["L1"])["L1"] == right
    assert [s.record_id for batch in store.dirty("crm", "left") for s in batch] == ["L2"]
    with pytest.raises(ValueError, match="side"), store.transaction("crm") as t:
        t.mark_synced("middle", [("L2", "h2")])  # type: ignore[arg-type]


def test_put_snapshots_with_a_record_given_twice_keeps_the_last(store: StateStore) -> None:
    first = Snapshot("left", "L1", {"email": "a@x"}, None, "a@x", "h1", T0, dirty=True)
    last = Snapshot("left", "L1", {"email": "b@x"}, {"email": "b@x"}, "b@x", "h2", None, generation=4)
    other = Snapshot("right", "L1", {"email": "r@x"}, None, "r@x", "h3")  # the same id on the other side
    with store.transaction("crm") as t:
        t.put_snapshots([first, other, last])
    assert store.snapshots("crm", "left", ["L1"])["L1"] == last
    assert store.snapshots("crm", "right", ["L1"])["L1"] == other
