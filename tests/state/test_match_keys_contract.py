"""by_match_keys: a batch's match keys looked up in one read, run against
both stores. It must answer what :meth:`by_match_key` answers key by key
(the writer relies on that when it matches a batch's records)."""

from __future__ import annotations

from typing import Any

import pytest

from syncd.state import Snapshot, StateError, StateStore


def snap(record_id: str, side: str = "left", **changes: Any) -> Snapshot:
    fields: dict[str, Any] = {"side": side, "record_id": record_id, "seen": {"email": record_id},
                              "match_key": f"{record_id}@example.com"}
    fields.update(changes)
    return Snapshot(**fields)


def put(store: StateStore, *snapshots: Snapshot, integration: str = "crm") -> None:
    with store.transaction(integration) as t:
        t.put_snapshots(snapshots)


def ids(found: dict[str, list[Snapshot]]) -> dict[str, list[str]]:
    return {key: [s.record_id for s in snaps] for key, snaps in found.items()}


def test_each_key_to_its_live_snapshots_by_record_id(store: StateStore) -> None:
    put(store, snap("b", match_key="k"), snap("a", match_key="k"), snap("c", match_key="k", deleted=True),
        snap("d", match_key="other"), snap("e", side="right", match_key="k"), snap("g", match_key="gone",
                                                                                     deleted=True))
    put(store, snap("f", match_key="k"), integration="other")
    found = store.by_match_keys("crm", "left", ["k", "other", "none", "gone", "k"])
    assert ids(found) == {"k": ["a", "b"], "other": ["d"]}  # unknown and all-deleted keys absent
    assert all(s.side == "left" and not s.deleted for snaps in found.values() for s in snaps)
    assert ids(store.by_match_keys("crm", "right", ["k"])) == {"k": ["e"]}
    assert store.by_match_keys("crm", "left", []) == {}


def test_it_answers_what_by_match_key_answers_key_by_key(store: StateStore) -> None:
    # More keys than one SQLite statement takes (its ids go in chunks), some shared by several records.
    snaps = [snap(f"r{i:04d}", match_key=f"k{i % 700}", deleted=i % 11 == 0) for i in range(2000)]
    put(store, *snaps)
    keys = [f"k{i}" for i in range(0, 800, 1)]
    found = store.by_match_keys("crm", "left", keys)
    for key in keys:
        one = store.by_match_key("crm", "left", key)
        assert found.get(key, []) == one, key
    assert len(found) == 700


def test_a_bad_side_is_refused(store: StateStore) -> None:
    with pytest.raises((ValueError, StateError)):
        store.by_match_keys("crm", "up", ["k"])  # type: ignore[arg-type]
