"""The initial sync's state writes: a create's snapshots put as new read
nothing first, and a batch's intents are resolved in one statement per run
of consecutive ids (SQLite, its statements counted by a trace callback);
on every store, what is read back is what linking, putting and resolving
one by one leaves, whatever the hint or the ids given."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from syncd.state import Intent, Snapshot, StateStore, open_store


def snap(i: int, side: str = "right", **changes: object) -> Snapshot:
    base = Snapshot(side, f"R{i:05}", {"email": f"p{i}@x.org"}, None, f"p{i}@x.org", f"h{i}",  # type: ignore[arg-type]
                    None, False, False, 0)
    return replace(base, synced=base.seen, **changes)  # type: ignore[arg-type]


@contextmanager
def statements(store: StateStore) -> Iterator[list[str]]:
    """Every statement the SQLite store's connection runs meanwhile (an executemany: one per row)."""
    seen: list[str] = []
    conn = store._conn  # type: ignore[attr-defined]
    conn.set_trace_callback(seen.append)
    try:
        yield seen
    finally:
        conn.set_trace_callback(None)


def test_new_snapshots_are_put_without_reading_the_stored_ones(tmp_path: Path) -> None:
    with open_store(tmp_path / "state.db") as store:
        with store.transaction("crm") as t, statements(store) as run:
            t.put_snapshots([snap(i) for i in range(500)], new=True)
        assert not [s for s in run if s.lstrip().upper().startswith("SELECT")], run[:3]
        assert len([s for s in run if "INSERT INTO snapshots" in s]) == 500
        assert store.count("crm", "right") == 500


def test_a_batch_of_intents_is_resolved_in_one_statement_per_run_of_ids(tmp_path: Path) -> None:
    with open_store(tmp_path / "state.db") as store:
        with store.transaction("crm") as t:
            ids = t.add_intents([Intent("right", "create", f"L{i}", {"e": i}, f"{i}@x") for i in range(500)])
        with store.transaction("crm") as t, statements(store) as run:
            t.resolve_intents([n for n in ids if n != ids[250]])  # one left open: two runs
        assert len([s for s in run if s.lstrip().startswith("DELETE FROM intents")]) == 2, run
        assert [n.id for n in store.open_intents("crm")] == [ids[250]]


def test_put_as_new_replaces_a_stored_snapshot_all_the_same(store: StateStore) -> None:
    with store.transaction("crm") as t:
        t.put_snapshots([snap(i, dirty=True, generation=3) for i in range(10)])
        t.put_snapshots([snap(i, match_key="new@x.org") for i in range(5, 15)], new=True)
        t.put_snapshots([snap(20), snap(20, hash="later")], new=True)  # twice in one call: the last one
    got = store.snapshots("crm", "right", [f"R{i:05}" for i in range(21)])
    assert sorted(got) == [f"R{i:05}" for i in range(15)] + ["R00020"]
    assert [(got[f"R{i:05}"].match_key, got[f"R{i:05}"].dirty) for i in (4, 5, 14)] == [
        ("p4@x.org", True), ("new@x.org", False), ("new@x.org", False)]
    assert got["R00020"].hash == "later"
    assert [s.record_id for s in store.by_match_key("crm", "right", "new@x.org")] == [
        f"R{i:05}" for i in range(5, 15)]
    assert [s.record_id for b in store.dirty("crm", "right") for s in b] == [f"R{i:05}" for i in range(5)]


def test_resolve_intents_takes_any_ids(store: StateStore) -> None:
    with store.transaction("crm") as t:
        ids = t.add_intents([Intent("right", "create", f"L{i}", {"e": i}, f"{i}@x") for i in range(10)])
    with store.transaction("other") as t:
        others = t.add_intents([Intent("right", "create", "X", {}, None)])
    with store.transaction("crm") as t:
        ids += t.add_intents([Intent("left", "create", f"R{i}", {"e": i}, f"{i}@x") for i in range(3)])
        # Out of order, given twice, another integration's id, an unknown one: only this one's, once.
        t.resolve_intents([ids[9], ids[0], ids[1], ids[1], ids[11], ids[10], *others, max(ids) + 100])
    assert [n.id for n in store.open_intents("crm")] == [ids[i] for i in (2, 3, 4, 5, 6, 7, 8, 12)]
    assert [n.id for n in store.open_intents("other")] == others
