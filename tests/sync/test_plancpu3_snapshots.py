"""Snapshots and views built positionally land each value in its field.

``changed_snapshot``, ``written`` and ``view`` pass their values by position
(a frozen dataclass's keywords cost a microsecond a record of an initial
sync): every value here is distinct, so a field order that changed under
them (a field added or moved in ``Snapshot`` or ``SideView``) fails by name.
"""

from __future__ import annotations

from datetime import UTC, datetime

from syncd.connector import Record
from syncd.state import Snapshot
from syncd.sync._snapshots import Projection, changed_snapshot, content_hash, view, written

PROJECTION = Projection(["email", "name"], "email")
STAMP = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
LATER = datetime(2026, 12, 6, 13, 0, tzinfo=UTC)


def test_a_changed_snapshot_has_each_value_in_its_field() -> None:
    old = Snapshot(side="left", record_id="r1", seen={"email": "x@a.io", "name": None},
                   synced={"email": "x@a.io", "name": "Old"}, match_key="x@a.io", hash="h0", generation=7)
    record = Record("r1", {"email": "Ada@A.io", "name": "Ada", "other": 1}, STAMP, deleted=True)
    seen = PROJECTION.stored(record.fields)
    snap = changed_snapshot("left", record, seen, "digest1", PROJECTION, old, 0)
    assert (snap.side, snap.record_id, snap.seen, snap.synced, snap.match_key, snap.hash, snap.updated_at,
            snap.deleted, snap.dirty, snap.generation) == (
        "left", "r1", {"email": "Ada@A.io", "name": "Ada"}, {"email": "x@a.io", "name": "Old"}, "ada@a.io",
        "digest1", STAMP, True, True, 7)
    fresh = changed_snapshot("right", Record("r2", {"email": "b@a.io"}), {"email": "b@a.io", "name": None},
                             "digest2", PROJECTION, None, 3)
    assert (fresh.side, fresh.synced, fresh.updated_at, fresh.deleted, fresh.dirty, fresh.generation) == (
        "right", None, None, False, True, 3)


def test_a_written_snapshot_has_each_value_in_its_field() -> None:
    created = written(None, "right", "new1", {"email": "c@a.io", "name": "Cy", "unmapped": 1}, PROJECTION, STAMP)
    stored = {"email": "c@a.io", "name": "Cy"}
    assert (created.side, created.record_id, created.seen, created.synced, created.match_key, created.hash,
            created.updated_at, created.deleted, created.dirty, created.generation) == (
        "right", "new1", stored, stored, "c@a.io", content_hash(stored), STAMP, False, False, 0)
    updated = written(Snapshot(side="right", record_id="new1", seen=stored, synced=stored, match_key="c@a.io",
                               hash="h", updated_at=STAMP, deleted=False, dirty=True, generation=4),
                      "right", "new1", {"name": "Cyd"}, PROJECTION)
    assert (updated.seen, updated.updated_at, updated.dirty, updated.generation) == (
        {"email": "c@a.io", "name": "Cyd"}, STAMP, False, 4)
    assert written(updated, "right", "new1", {}, PROJECTION, LATER).updated_at == LATER


def test_a_view_has_each_value_in_its_field() -> None:
    snap = Snapshot(side="left", record_id="r9", seen={"email": "v@a.io"}, synced={"email": "w@a.io"},
                    updated_at=STAMP, deleted=True)
    v = view(snap)
    assert (v.id, v.seen, v.synced, v.updated_at, v.deleted) == ("r9", {"email": "v@a.io"}, {"email": "w@a.io"},
                                                                  STAMP, True)
