"""The SQLite store puts a snapshot whose match key keeps its value (the
indexed column an upsert would rewrite for nothing) in place, without
rewriting its index entries: an upsert sets every column, and SQLite
rewrites the index entries of every column set, even to the same value,
one random page of the match-key index per snapshot. A read-only reset of 1,000,000 pairs
(each snapshot put once more, in step) wrote 9 GB of WAL that way. Counted
in WAL frames (pages written), not timed; and whatever way a snapshot
goes, what is read back is what was put."""

from __future__ import annotations

import random
import sqlite3
from dataclasses import replace
from pathlib import Path

from syncd.state import Snapshot, StateStore, open_store

N = 20_000


def snap(i: int, **changes: object) -> Snapshot:
    fields = {"email": f"p{i}@example.com", "first_name": "Ada"}
    base = Snapshot("left", f"rec-{i:06d}", fields, None, f"{random.Random(i).random()}@example.com", f"h{i}",
                    None, False, True, 1)
    return replace(base, **changes)  # type: ignore[arg-type]


def put(store: StateStore, snaps: list[Snapshot]) -> None:
    with store.transaction("crm") as t:
        t.put_snapshots(snaps)


def wal_frames(path: Path) -> int:
    """Frames written to the WAL since the last checkpoint (another connection asks)."""
    with sqlite3.connect(path) as conn:
        busy, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert busy == 0
        return int(frames)


def checkpoint(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()


def test_snapshots_put_in_step_rewrite_no_index_page_of_their_match_keys(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with open_store(path) as store:
        put(store, [snap(i) for i in range(N)])
        checkpoint(path)
        # 500 in a row, put in step (synced = seen, not dirty), as a writer's batch does.
        batch = [snap(i) for i in range(5_000, 5_500)]
        put(store, [replace(s, synced=s.seen, dirty=False) for s in batch])
        frames = wal_frames(path)
        # Their rows (a few dozen pages), the dirty index, the commit: 31
        # frames. Before, a page of the match-key index for most snapshots
        # besides: 268.
        assert frames < 100, frames
        assert store.count("crm", "left") == N
        assert sum(len(b) for b in store.dirty("crm", "left")) == N - len(batch)
        stored = store.snapshots("crm", "left", [s.record_id for s in batch])
        assert all(stored[s.record_id] == replace(s, synced=s.seen, dirty=False) for s in batch)


def test_snapshots_a_full_read_put_changed_or_deleted_rewrite_no_index_page(tmp_path: Path) -> None:
    """A full read puts what changed with its new generation, and a record
    gone as deleted: neither column is indexed (SQLite's schema 10), so
    both go in place too."""
    path = tmp_path / "state.db"
    with open_store(path) as store:
        put(store, [snap(i, dirty=False) for i in range(N)])
        checkpoint(path)
        batch = [replace(snap(i), seen={"email": f"p{i}@example.com", "first_name": "Grace"}, generation=2,
                         deleted=i % 2 == 0, dirty=False) for i in range(5_000, 5_500)]
        put(store, batch)
        frames = wal_frames(path)
        assert frames < 100, frames  # 251 when they were upserted
        stored = store.snapshots("crm", "left", [s.record_id for s in batch])
        assert all(stored[s.record_id] == s for s in batch)
        assert store.count("crm", "left", deleted=True) == 250
        assert [s.record_id for s in store.by_match_key("crm", "left", snap(5_001).match_key or "")] == [
            "rec-005001"]
        assert store.check() == []


def test_a_changed_key_a_new_record_and_a_record_put_twice_are_upserted(tmp_path: Path) -> None:
    with open_store(tmp_path / "state.db") as store:
        put(store, [snap(i) for i in range(10)])
        put(store, [
            snap(0, match_key="moved@example.com", dirty=False),  # its key changed
            snap(1, deleted=True),  # deleted (in place: no index holds it)
            snap(2, generation=7),  # seen by a later full read (in place too)
            snap(3, synced={"email": "p3@example.com"}, dirty=False),  # in place
            snap(4, match_key="first@example.com"), snap(4, match_key="second@example.com"),  # twice: the last
            snap(5, match_key=None),  # its key gone
            snap(20),  # new
        ])
        found = store.snapshots("crm", "left", [f"rec-{i:06d}" for i in (0, 1, 2, 3, 4, 5, 20)])
        assert found["rec-000000"].match_key == "moved@example.com" and not found["rec-000000"].dirty
        assert found["rec-000001"].deleted and found["rec-000002"].generation == 7
        assert found["rec-000003"].synced == {"email": "p3@example.com"} and not found["rec-000003"].dirty
        assert found["rec-000004"].match_key == "second@example.com"
        assert found["rec-000005"].match_key is None and "rec-000020" in found
        # The indexes agree with the rows.
        assert [s.record_id for s in store.by_match_key("crm", "left", "moved@example.com")] == ["rec-000000"]
        assert store.by_match_key("crm", "left", snap(0).match_key or "") == []
        assert store.by_match_key("crm", "left", "first@example.com") == []
        assert [s.record_id for s in store.by_match_key("crm", "left", "second@example.com")] == ["rec-000004"]
        assert store.by_match_key("crm", "left", snap(5).match_key or "") == []
        unseen = {s.record_id for s in store.unseen("crm", "left", 2)}
        assert unseen == {f"rec-{i:06d}" for i in (0, 3, 4, 5, 6, 7, 8, 9, 20)}  # not 1 (deleted), not 2 (gen 7)
        dirty = {s.record_id for b in store.dirty("crm", "left") for s in b}
        assert dirty == {f"rec-{i:06d}" for i in (1, 2, 4, 5, 6, 7, 8, 9, 20)}
        assert store.check() == []
