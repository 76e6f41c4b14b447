"""Update intents: what an update wrote, so that a crash before its commit loses no edit.

An update is recorded as an intent before its request is sent: the record written to and the
fields written, in their stored form. The pair's commit resolves it. An intent still open once
a cycle has read both sides was cut short (a crash, a kill) or its outcome was not known (a
timeout, a 5xx).

Each written field the target now holds is in step there: the target's base takes its value,
so the target does not look changed in it. Without that, the next cycle saw syncd's own write
as an edit of the target; an edit of the source made meanwhile was then a conflict, and
``newest_wins`` (comparing whole records) took syncd's write, the newer, over it.

Nothing else moves. The source keeps its base, so what it held when the update was planned
still looks changed and is written again (the same values: the cost of a crash), or what it
holds now if it was edited since; a field the pair wrote the other way that never landed still
looks changed on its side and is sent again; a written field the target no longer holds (edited
since) keeps its base and is a change, or a conflict, as any edit is. A pair never synced
before has no base to move: its intent stays open while the target holds what it wrote, and
moves the base the pair gets (the base a create's recovery gives it, or the one the writer
gives a record paired with an unconfirmed create's source), or ends with the pair's commit.
Resolved at once, a landed update of the source of a create a crash cut short was lost: the
create's recovery then gave the source its base from before the update, and the update looked
like an edit of the source, a conflict with the next edit of the created record.

An update that may still land (a crash cut it short, or it got no answer: the app may be
carrying it out yet) is left open while the connector's timeout runs from its error (see
:meth:`~syncd.sync._context.CycleContext.waiting_lookups`), unless its target already holds
what it wrote; its pair is not written meanwhile. Written at once, the pair's new values could
be undone by the late update landing after them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import structlog

from syncd.state import Intent, Side, Snapshot, StateStore
from syncd.sync._snapshots import Projection

log = structlog.get_logger("syncd.sync")


def update_intent(target: Side, dst: Snapshot, source_id: str, writes: Mapping[str, Any],
                  projection: Projection) -> Intent:
    """The intent of writing *writes* to *dst* (a record of *target*) from record *source_id*."""
    compared = projection.fields  # a handful of names: a tuple's scan, no set a record
    return Intent(side=target, kind="update", source_id=source_id, target_id=dst.record_id,
                  fields={k: v for k, v in writes.items() if k in compared})


def base_with_writes(intents: Iterable[Intent], snap: Snapshot) -> Snapshot | None:
    """*snap* (a target as read) with the written fields it holds in its base, or None when
    that moves nothing (no base, deleted, or none held that was not in step already)."""
    if snap.synced is None or snap.deleted:
        return None
    seen, base = snap.seen, dict(snap.synced)
    for intent in intents:
        for name, value in intent.fields.items():
            if name in seen and seen[name] == value:
                base[name] = value
    if base == snap.synced:
        return None
    return replace(snap, synced=base, dirty=seen != base)


def holds_any(intent: Intent, snap: Snapshot) -> bool:
    """Whether *snap* (the target as read) holds any field *intent* wrote."""
    return not snap.deleted and any(
        name in snap.seen and snap.seen[name] == value for name, value in intent.fields.items())


def holds_all(intent: Intent, snap: Snapshot | None) -> bool:
    """Whether *snap* (the target as read) holds every field *intent* wrote: it landed."""
    return snap is not None and not snap.deleted and all(
        name in snap.seen and snap.seen[name] == value for name, value in intent.fields.items())


@dataclass
class OpenUpdates:
    """The update intents a cycle leaves open once it has read both sides."""

    # (side, id) of the targets an update whose outcome is unknown may still write: their pairs wait
    landing: set[tuple[Side, str]] = field(default_factory=set)
    # (side, id) → the landed updates of a target with no base yet: they move the base its pair gets
    unbased: dict[tuple[Side, str], list[Intent]] = field(default_factory=dict)


def rebase_updates(store: StateStore, name: str, intents: Iterable[Intent],
                   waiting: Mapping[tuple[Side, str], datetime] | None = None, *,
                   keep_unbased: bool = True) -> OpenUpdates:
    """Resolve the open update *intents* of integration (or child pass) *name* once both sides
    are read (see the module's doc); *waiting*: when an update whose outcome is unknown may no
    longer land, by (target side, source id). Returns those left open. A target not read again
    since its write (an incremental read that did not reach it) shows the values it had before
    in the store: nothing moves, and the pair's source, still changed, is written again.
    *keep_unbased* False: a landed update of a target with no base ends too (a child pass: a
    child's pair gets its base from its create, or from its commit)."""
    waiting = waiting or {}
    out = OpenUpdates()
    by_target: dict[tuple[Side, str], list[Intent]] = {}
    for i in intents:
        if i.kind == "update" and i.target_id is not None:
            by_target.setdefault((i.side, i.target_id), []).append(i)
    if not by_target:
        return out
    snaps: dict[tuple[Side, str], Snapshot] = {}
    for side in ("left", "right"):
        ids = sorted(rid for s, rid in by_target if s == side)
        snaps |= {(side, rid): snap for rid, snap in (store.snapshots(name, side, ids) if ids else {}).items()}
    done: list[Intent] = []
    landed: list[Intent] = []
    moved: list[Snapshot] = []
    for key, group in by_target.items():
        snap = snaps.get(key)
        ending = []
        for i in group:
            late = (i.side, i.source_id) in waiting
            if late and not holds_all(i, snap):
                out.landing.add(key)  # the app may carry it out yet: left open, its pair waits
                continue
            if late:
                landed.append(i)
            if keep_unbased and snap is not None and snap.synced is None and holds_any(i, snap):
                out.unbased.setdefault(key, []).append(i)  # see the module's doc
                continue
            ending.append(i)
        done += ending
        if snap is not None and (new := base_with_writes(ending, snap)) is not None:
            moved.append(new)
    with store.transaction(name) as t:
        t.put_snapshots(moved)
        for i in landed:
            # It did land: nothing of it is in flight any more, and its error must not hold
            # the pair back until the wait is over.
            t.resolve_errors(i.side, i.source_id, writes=True)
        t.resolve_intents([i.id for i in done])
    log.info("updates left unconfirmed by a crash or an unknown outcome: the fields their targets "
             "hold are taken as in step there", count=len(done), targets=len(moved),
             still_landing=len(out.landing), unbased=len(out.unbased))
    return out
