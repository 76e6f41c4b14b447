"""From records read through a connector to snapshots, and back to views.

A snapshot stores the *compared* fields of a record (mapped, matched or
read by a rule) in their JSON form: datetimes as ISO text, tag lists
sorted (tag order means nothing, and an app that reorders tags must not
look like a change). Its hash is over that form, so an unchanged record is
recognised without comparing field by field.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import orjson

from syncd.config import ObjectSpec
from syncd.connector import Record, normaliser_for, to_wire
from syncd.state import Side, Snapshot
from syncd.sync._plan import SideView


class Projection:
    """The compared fields of one side, and how to store and restore them."""

    def __init__(self, obj: ObjectSpec, fields: Iterable[str], match_field: str) -> None:
        self.fields = tuple(sorted(set(fields) | {match_field}))
        self.match_field = match_field
        self.tags = frozenset(f for f in self.fields if obj.fields[f].type == "tags")
        self.datetimes = {
            f: parse for f in self.fields
            if obj.fields[f].type == "datetime" and (parse := normaliser_for(obj.fields[f])) is not None
        }

    def wire(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The compared fields of ``values`` as stored."""
        out: dict[str, Any] = {}
        for name in self.fields:
            value = values.get(name)
            if name in self.tags and isinstance(value, list):
                value = sorted(value)
            out[name] = to_wire(value)
        return out

    def restore(self, stored: Mapping[str, Any]) -> dict[str, Any]:
        """Stored values back to normalised ones (ISO text → datetime)."""
        if not self.datetimes:
            return dict(stored)
        out = dict(stored)
        for name, parse in self.datetimes.items():
            if out.get(name) is not None:
                out[name] = parse(out[name])
        return out

    def match_key(self, wire_values: Mapping[str, Any]) -> str | None:
        value = wire_values.get(self.match_field)
        if value is None or value == "" or value == []:
            return None
        return str(value).strip().lower()


def content_hash(wire_values: Mapping[str, Any]) -> str:
    return hashlib.blake2b(orjson.dumps(wire_values, option=orjson.OPT_SORT_KEYS), digest_size=12).hexdigest()


def snapshot_for(
    side: Side, record: Record, projection: Projection, old: Snapshot | None, generation: int,
) -> Snapshot | None:
    """The new snapshot of a record just read, or None when nothing changed."""
    seen = projection.wire(record.fields)
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
    return Snapshot(
        side=side, record_id=record.id, seen=seen, synced=synced,
        match_key=projection.match_key(seen), hash=digest, updated_at=record.updated_at,
        deleted=record.deleted, dirty=dirty, generation=generation or (old.generation if old else 0),
    )


def view(snapshot: Snapshot, projection: Projection) -> SideView:
    return SideView(
        id=snapshot.record_id,
        seen=projection.restore(snapshot.seen),
        synced=projection.restore(snapshot.synced) if snapshot.synced is not None else None,
        updated_at=snapshot.updated_at,
        deleted=snapshot.deleted,
    )


def written(
    snapshot: Snapshot | None, side: Side, record_id: str, fields: Mapping[str, Any],
    projection: Projection, updated_at: datetime | None = None,
) -> Snapshot:
    """The snapshot a side will have once ``fields`` are written to it: seen
    and synced both, so that the echo on its next read is recognised."""
    base = dict(snapshot.seen) if snapshot is not None else {name: None for name in projection.fields}
    base.update(projection.wire({**projection.restore(base), **fields}))
    return Snapshot(
        side=side, record_id=record_id, seen=base, synced=base, match_key=projection.match_key(base),
        hash=content_hash(base), updated_at=updated_at or (snapshot.updated_at if snapshot else None),
        deleted=False, dirty=False, generation=snapshot.generation if snapshot else 0,
    )
