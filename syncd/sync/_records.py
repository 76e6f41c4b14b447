"""Syncing chosen records now: an operator's retry of failed records, and
the records a webhook names.

For each record (its side and id) the current values are fetched from its
app (``get``; a spec without it: the snapshot as last read), or taken as
the caller has them (a webhook whose body carries the whole record; unless
it is older than the record last read: a replay or a late delivery is read
again, never written), its snapshot updated, and its pair planned and written by the cycle's own
:class:`~syncd.sync._writing.Writer`: the same mapping, rules, conflict and
create policies, the same intents before a create (a crash cannot
duplicate it), the results and the resolved errors committed together. An
operator's retry writes the record whether or not its automatic retry is
due, and whatever its count; failing again counts one more attempt.

A record error names the side written to and the *source* record (whose
values were being written): :func:`source_of` turns it into the record to
sync again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from syncd.connector import AuthError, ConnectorError, Record, TransportError
from syncd.state import RecordErrorRow, Side, Snapshot
from syncd.sync._children import child_states
from syncd.sync._context import other
from syncd.sync._cycle import Cycle
from syncd.sync._factory import Cycles
from syncd.sync._retries import WRITE_OPERATIONS
from syncd.sync._snapshots import snapshot_for

__all__ = ["RecordOutcome", "RetryOutcome", "UnknownErrors", "retry_errors", "source_of", "sync_records"]

log = structlog.get_logger("syncd.sync")


class UnknownErrors(LookupError):
    """Error ids that are not open errors of the integration (never were, or resolved already)."""

    def __init__(self, name: str, ids: Sequence[int], children: Mapping[int, str] | None = None) -> None:
        self.ids = list(ids)
        children = children or {}
        listed = ", ".join(str(i) for i in ids)
        if ids and all(i in children for i in ids):
            # Errors of child objects (notes, tasks): listed with the parent's, but
            # not retried one by one: their parent's next read retries them.
            objects = ", ".join(dict.fromkeys(children[i] for i in ids))
            super().__init__(
                f"error {listed} is about {objects} (a child object): it is retried by the next cycle "
                f"that reads its contact, not one by one: `syncd sync {name}` runs one now")
            return
        super().__init__(
            f"no open error {listed} in integration {name!r} (resolved already, or never one): "
            f"`syncd errors {name}` lists the open ones")


@dataclass(frozen=True)
class RecordOutcome:
    """What became of one record synced now."""

    side: Side  # the record's side (the source of the writes)
    record_id: str
    ok: bool  # it is in step now (or needs no write); False: it failed again
    message: str  # what happened, or why it failed


@dataclass(frozen=True)
class RetryOutcome:
    """An error retried: the error as it was, and what became of its record."""

    error: RecordErrorRow
    ok: bool
    message: str
    after: RecordErrorRow | None  # the error as it is now, when it is still open


def source_of(error: RecordErrorRow) -> tuple[Side, str] | None:
    """The record whose sync failed: for a write, the source record (of the
    side opposite the one written to); for a read, the record read. None
    for an error about no one record (deletions held back: ``*``)."""
    if error.record_id in ("*", "?", ""):
        return None
    if error.operation in WRITE_OPERATIONS:
        return other(error.side), error.record_id
    return error.side, error.record_id


async def sync_records(cycle: Cycle, records: Sequence[tuple[Side, str]],
                       given: Mapping[tuple[Side, str], Any] | None = None) -> list[RecordOutcome]:
    """Fetch, plan, write and commit these records now (see the module docstring).

    *given* holds records the caller has already, as the app sends them
    (raw, before the spec's fields are read): those are not fetched.
    AuthError, and a TransportError of an app that cannot be reached,
    propagate as from a cycle: nothing can be said of any record then.
    """
    given = given or {}
    ctx = cycle.ctx
    outcomes: dict[tuple[Side, str], RecordOutcome] = {}
    fresh: dict[Side, list[Snapshot]] = {"left": [], "right": []}
    for side, record_id in dict.fromkeys(records):
        old = ctx.store.snapshots(ctx.name, side, [record_id]).get(record_id)
        connector = ctx.connectors[side]
        raw = given.get((side, record_id))
        if raw is not None or "get" in connector.object.operations:
            try:
                with structlog.contextvars.bound_contextvars(side=side):
                    record = connector.extract(raw) if raw is not None else None
                    if record is not None and _older(record, old):
                        # A replayed or late webhook: its record is older than the
                        # one syncd has, and must not overwrite it.
                        log.info("webhook record older than the one last read: ignored", record=record_id)
                        if "get" not in connector.object.operations:
                            outcomes[(side, record_id)] = RecordOutcome(
                                side, record_id, True, "older than the record last read: nothing to do")
                            continue
                        raw = record = None
                    if raw is None:
                        record = await connector.get(record_id)
            except (AuthError, TransportError):
                raise  # the app refuses us or cannot be reached: as in a cycle, nothing to go on with
            except ConnectorError as e:
                outcomes[(side, record_id)] = RecordOutcome(side, record_id, False, f"cannot read it: {e}")
                continue
            if record is None:
                if old is None:
                    outcomes[(side, record_id)] = RecordOutcome(
                        side, record_id, False, f"no such record on the {side} side")
                    continue
                snap = Snapshot(side=side, record_id=record_id, seen=old.seen, synced=old.synced,
                                match_key=old.match_key, hash=old.hash, updated_at=old.updated_at,
                                deleted=True, dirty=True, generation=old.generation)
            else:
                new = snapshot_for(side, record, ctx.projection[side], old, 0)
                if new is not None:
                    snap = new
                elif old is not None:  # unchanged since it was read
                    snap = old
                else:  # snapshot_for gives None only when there is an old one
                    continue
        elif old is not None:
            snap = old  # no `get` in the spec: as last read
        else:
            outcomes[(side, record_id)] = RecordOutcome(side, record_id, False, "never read: nothing to sync")
            continue
        with ctx.store.transaction(ctx.name) as t:
            t.put_snapshots([snap])
        fresh[side].append(snap)
    writer = cycle.writer(enforce_backoff=False)
    for side in ("left", "right"):
        if fresh[side]:
            await writer.apply_records(side, fresh[side])
    for side in ("left", "right"):
        # Their children (notes, tasks) too: a note added bumps its contact,
        # and the contact's webhook is all the app sends.
        ctx.touched[side].update(snap.record_id for snap in fresh[side])
    await cycle.sync_children(partial=True)
    for side in ("left", "right"):
        for snap in fresh[side]:
            outcomes[(side, snap.record_id)] = _outcome(cycle, side, snap.record_id)
    return [outcomes[key] for key in dict.fromkeys(records) if key in outcomes]


def _older(record: Record, old: Snapshot | None) -> bool:
    """Whether *record* is an older version than the one last read (both stamped)."""
    return (old is not None and old.updated_at is not None and record.updated_at is not None
            and record.updated_at < old.updated_at)


def _outcome(cycle: Cycle, side: Side, record_id: str) -> RecordOutcome:
    ctx = cycle.ctx
    still = [e for e in ctx.store.errors(ctx.name, limit=1_000_000)
             if source_of(e) == (side, record_id)]
    if still:
        newest = still[0]
        status = f"HTTP {newest.status}" if newest.status else ""
        prefix = f"{status}: " if status and status not in newest.message else ""
        return RecordOutcome(side, record_id, False, f"{newest.operation} failed again: {prefix}{newest.message}")
    snap = ctx.store.snapshots(ctx.name, side, [record_id]).get(record_id)
    if snap is not None and snap.dirty:
        return RecordOutcome(side, record_id, False, "not written yet: it changed less than `delay:` ago")
    return RecordOutcome(side, record_id, True, "synced")


async def retry_errors(cycles: Cycles, name: str, ids: Sequence[int] | None) -> list[RetryOutcome]:
    """Retry the open errors *ids* of integration *name* (None: every open
    one) with origin ``retry``; :class:`UnknownErrors` names the ids that
    are not open errors (nothing is retried then)."""
    store = cycles.store
    open_errors = store.errors(name, limit=1_000_000)
    by_id = {e.id: e for e in open_errors}
    if ids is not None:
        unknown = [i for i in ids if i not in by_id]
        if unknown:
            children = {e.id: child for key, child in child_states(store, name)
                        for e in store.errors(key, limit=1_000_000)}
            raise UnknownErrors(name, unknown, children)
        chosen = [by_id[i] for i in dict.fromkeys(ids)]
    else:
        chosen = list(reversed(open_errors))  # oldest first
    records = [r for e in chosen if (r := source_of(e)) is not None]
    outcomes: dict[tuple[Side, str], RecordOutcome] = {}
    if records:
        async with cycles.cycle(name, origin="retry") as cycle:
            for outcome in await sync_records(cycle, records):
                outcomes[(outcome.side, outcome.record_id)] = outcome
    still_open = {e.id: e for e in store.errors(name, limit=1_000_000)}
    results = []
    for e in chosen:
        source = source_of(e)
        if source is None:
            results.append(RetryOutcome(e, False, "not one record: checked again at the next full read",
                                        still_open.get(e.id)))
            continue
        done = outcomes.get(source)
        if done is None:
            results.append(RetryOutcome(e, False, "not retried", still_open.get(e.id)))
            continue
        log.info("record retried", side=source[0], record=source[1], error=e.id, ok=done.ok)
        results.append(RetryOutcome(e, done.ok, done.message, still_open.get(e.id)))
    return results
