"""From records read through a connector to snapshots, and to views.

A snapshot stores the *compared* fields of a record (mapped, matched or
read by a rule) in the stored form the connector's extractor already gave
them (datetimes as ISO text, tag lists sorted: see
``syncd.connector._fields``), so storing and planning convert nothing.
Its hash is over that form, so an unchanged record is recognised without
comparing field by field.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import orjson

from syncd.connector import Record
from syncd.state import Side, Snapshot
from syncd.sync._plan import SideView


class Projection:
    """The compared fields of one side: what a snapshot of it keeps."""

    def __init__(self, fields: Iterable[str], match_field: str) -> None:
        self.fields = tuple(sorted(set(fields) | {match_field}))
        self.match_field = match_field

    def stored(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The compared fields of ``values`` (already in the stored form), missing ones None."""
        return {name: values.get(name) for name in self.fields}

    def match_key(self, stored: Mapping[str, Any]) -> str | None:
        value = stored.get(self.match_field)
        if value is None or value == "" or value == []:
            return None
        return str(value).strip().lower()


_blake2b, _dumps, _SORT_KEYS = hashlib.blake2b, orjson.dumps, orjson.OPT_SORT_KEYS  # two per record


def content_hash(wire_values: Mapping[str, Any]) -> str:
    return _blake2b(_dumps(wire_values, option=_SORT_KEYS), digest_size=12).hexdigest()


def snapshot_for(
    side: Side, record: Record, projection: Projection, old: Snapshot | None, generation: int,
) -> Snapshot | None:
    """The new snapshot of a record just read, or None when nothing changed."""
    seen = projection.stored(record.fields)
    digest = content_hash(seen)
    if old is not None and old.hash == digest and old.deleted == record.deleted:
        return None
    return changed_snapshot(side, record, seen, digest, projection, old, generation)


def changed_snapshot(
    side: Side, record: Record, seen: dict[str, Any], digest: str, projection: Projection,
    old: Snapshot | None, generation: int,
) -> Snapshot:
    """The snapshot of a record whose stored values (``seen``) changed."""
    synced = old.synced if old is not None else None
    # A record whose values are what syncd last wrote or synced (its own
    # echo) is not dirty: nothing changed since the last sync.
    dirty = record.deleted != (old.deleted if old else False) or synced != seen
    # Positional (side, record_id, seen, synced, match_key, hash, updated_at,
    # deleted, dirty, generation): a frozen dataclass's keywords cost a
    # microsecond a record (tests/sync/test_plancpu3_snapshots.py checks the order).
    return Snapshot(side, record.id, seen, synced, projection.match_key(seen), digest, record.updated_at,
                    record.deleted, dirty, generation or (old.generation if old else 0))


def view(snapshot: Snapshot) -> SideView:
    # Positional (id, seen, synced, updated_at, deleted), as above: one a record planned.
    return SideView(snapshot.record_id, snapshot.seen, snapshot.synced, snapshot.updated_at, snapshot.deleted)


def written(
    snapshot: Snapshot | None, side: Side, record_id: str, fields: Mapping[str, Any],
    projection: Projection, updated_at: datetime | None = None,
) -> Snapshot:
    """The snapshot a side will have once ``fields`` are written to it: seen
    and synced both, so that the echo on its next read is recognised."""
    if snapshot is None:  # a created record: its fields are all there is
        base = projection.stored(fields)
    else:
        base = dict(snapshot.seen)
        base.update(projection.stored({**base, **fields}))
    return Snapshot(side, record_id, base, base, projection.match_key(base), content_hash(base),
                    updated_at or (snapshot.updated_at if snapshot else None), False, False,
                    snapshot.generation if snapshot else 0)  # positional, as in changed_snapshot
