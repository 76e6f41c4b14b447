"""Write-only targets: finding, by match key, the records a cycle will write.

An object without ``list`` (an API that cannot list its records, such as
Drift's contacts) is never read (:mod:`syncd.sync._reading` skips it), so
the state store holds only the records syncd wrote there. Before the writer
pairs a changed record of the other side that is linked to nothing, its
match key is looked up on the target with ``find`` (which such an object
must have: the spec builder says so), and a record found is stored as if
read: the writer then pairs it by match key and updates it instead of
creating a second one. A linked record needs no lookup: it is updated by
its id. The config checks make sure nothing else would read the target
(an integration may only write to it, one way).
"""

from __future__ import annotations

import asyncio

import structlog

from syncd.state import Side, Snapshot
from syncd.sync._context import SIDES, CycleContext, other
from syncd.sync._snapshots import snapshot_for

log = structlog.get_logger("syncd.sync")

# Looked up this many at a time (the connector's rate limit applies as well).
_CHUNK = 20


def write_only(ctx: CycleContext, side: Side) -> bool:
    """Whether *side*'s object has no ``list``: never read, only written."""
    return "list" not in ctx.connectors[side].object.operations


async def look_up_targets(ctx: CycleContext) -> None:
    """For each write-only side: find the records the other side's changes
    will be written to, by match key, where no link says which they are."""
    for target in SIDES:
        if write_only(ctx, target):
            with structlog.contextvars.bound_contextvars(side=target):
                await _look_up(ctx, target)


async def _look_up(ctx: CycleContext, target: Side) -> None:
    source = other(target)
    keys: set[str] = set()
    for batch in ctx.store.dirty(ctx.name, source):
        linked = ctx.store.linked(ctx.name, source, [s.record_id for s in batch])
        keys.update(s.match_key for s in batch
                    if s.match_key is not None and not s.deleted and s.record_id not in linked)
    # A key with a record stored already (written by syncd, or found by an
    # earlier cycle) is paired from the store, as the writer does.
    # One read for every key (a read per key is a round trip each on PostgreSQL).
    stored = ctx.store.by_match_keys(ctx.name, target, sorted(keys)) if keys else {}
    wanted = sorted(k for k in keys if k not in stored)
    if not wanted:
        return
    connector = ctx.connectors[target]
    field = ctx.projection[target].match_field
    found = 0
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start:start + _CHUNK]
        answers = await asyncio.gather(*(connector.find(field, key) for key in chunk))
        records = [r for matches in answers for r in matches[:1]]
        old = ctx.store.snapshots(ctx.name, target, [r.id for r in records])
        snaps: list[Snapshot] = []
        for record in records:
            snap = snapshot_for(target, record, ctx.projection[target], old.get(record.id), 0)
            if snap is not None:
                snaps.append(snap)
        found += len(records)
        if snaps:
            with ctx.store.transaction(ctx.name) as t:
                t.put_snapshots(snaps)
        ctx.checkpoint()
    log.info("write-only target: records looked up by match key", looked_up=len(wanted), found=found)
