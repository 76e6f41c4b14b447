"""Child objects (notes, tasks of a contact), synced under their linked parents.

After the parent pass has written and committed (so new parent links
exist), each ``children:`` entry runs a child pass:

1. **Which parents**: every linked parent pair on the first pass of that
   child object (no child state yet), after ``reset``, on a forced full
   cycle and once the last full pass is older than ``full_every``; otherwise the parents read as changed in this cycle on either side
   (a child written bumps its parent's ``updated_at``; the parents' read
   reaches back to the last completed child pass: :func:`children_cursor`),
   the parents of waiting children once they are linked, of children that
   could not be read, and the target parents of open create intents; each
   with its linked partner.
2. **Read**: the children of each such parent, through the child object's
   ``list`` bound to the parent (``{{ parent_id }}``), concurrently within the
   connector's own limits. Each child's snapshot keeps its parent's id (the
   ``@parent`` value, also its match key, so a parent's children are found
   by index). A child missing from a parent that was read is asked for
   with the child object's ``get`` (when the spec has one: a search index
   lags writes); one gone for ``get`` too is deleted.
3. **Open intents** (a crash between a create and its commit): the target
   parent's children were just read; one that is not linked and holds what
   the intent wrote is adopted (linked) instead of created again. The
   written fields an open update's target child holds are taken as in step
   there (:mod:`syncd.sync._update_intents`).
4. **Write**: each dirty child is paired by its link (an unlinked one with
   an unlinked child of the partner parent whose values agree: a reset
   forgets links) and planned through the same planner as the parents
   (mappings, ``conflict:``, the entry's ``create:``). A child whose parent
   is not linked waits, dirty, for a later cycle; so does one whose partner
   parent's children could not be read (nothing is created blind). A
   create or update is recorded as an intent first; a create's result is
   committed with its link right after the call. A child deleted on one side: see
   :meth:`ChildPass._deleted`.

State lives under a derived integration key, ``NAME/CHILD`` (an integration
name cannot hold ``/``), in the store's own tables: snapshots, links,
intents, errors, conflicts and the child's side states.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import structlog

from syncd.config import ChildSync, Integration
from syncd.connector import AuthError, Connector, ConnectorError, Record, TransportError
from syncd.state import ConflictRow, Intent, RecordErrorRow, Side, SideState, Snapshot, StateStore
from syncd.sync._context import SIDES, CycleContext, certainly_not_written, other
from syncd.sync._plan import IntegrationPlan, PairPlan, SkipKind
from syncd.sync._snapshots import Projection, changed_snapshot, content_hash, view, written
from syncd.sync._summary import CycleSummary
from syncd.sync._transforms import is_blank, same_value
from syncd.sync._update_intents import rebase_updates, update_intent

__all__ = ["PARENT", "ChildPass", "child_integration", "child_key", "child_keys", "child_states",
           "children_cursor"]

log = structlog.get_logger("syncd.sync")

PARENT = "@parent"  # where a child's snapshot keeps its parent's id (not a field name)
_CONCURRENCY = 4  # parents read or children written at once, when the spec sets no max_concurrency
_CHUNK = 200  # parents whose children are read, then committed together
_LIST_ERROR = "list children"  # the operation of the error of a parent whose children could not be read

T = TypeVar("T")


def child_key(integration: str, child: ChildSync) -> str:
    """The state key of one ``children:`` entry (``NAME/notes``)."""
    return f"{integration}/{child.left}"


def child_keys(integration: Integration) -> list[str]:
    return [child_key(integration.name, c) for c in integration.children]


def child_states(store: StateStore, name: str) -> list[tuple[str, str]]:
    """(state key, child object) of each child object of integration *name*
    that has state, in its config or no longer."""
    prefix = f"{name}/"
    return [(key, key[len(prefix):]) for key in store.integrations() if key.startswith(prefix)]


def children_cursor(store: StateStore, integration: Integration, side: Side, cursor: datetime | None) -> datetime | None:
    """Where a read of *side*'s parents starts: its *cursor*, or, when the
    last child pass to complete is older (a stop, an abort or a crash came
    between the two passes), that pass's cursor, so that the parents
    changed since are read, and their children, again."""
    if cursor is None:
        return None
    lagging = [store.side_state(key, side).cursor for key in child_keys(integration)]
    if not lagging or any(c is None for c in lagging):
        return cursor  # no child pass yet: the first one reads every linked parent
    return min([cursor, *(c for c in lagging if c is not None)])


def child_integration(integration: Integration, child: ChildSync) -> Integration:
    """The integration a child pass plans with: the entry's fields and
    ``create:``, the parent's ``conflict:``; no rules, no match field (a
    child is paired by its link only)."""
    return replace(integration, name=child_key(integration.name, child), fields=child.fields,
                   create=child.create, rules=(), deletions=None, match_left=PARENT, match_right=PARENT,
                   children=())


@dataclass
class _Pair:
    snaps: dict[Side, Snapshot | None]
    plan: PairPlan
    parents: dict[Side, str]  # each side's parent id
    results: dict[Side, Snapshot] = field(default_factory=dict)
    failed: bool = False
    intents: list[int] = field(default_factory=list)  # its updates': resolved with its commit


class ChildPass:
    """One child object's pass of a cycle (see the module docstring)."""

    def __init__(self, parent: CycleContext, child: ChildSync, plan: IntegrationPlan,
                 connectors: dict[Side, Connector], *, full: bool, partial: bool = False) -> None:
        integration = child_integration(parent.integration, child)
        self.parent = parent
        self.child = child
        self.ctx = CycleContext(
            integration=integration, plan=plan, store=parent.store, connectors=connectors,
            projection={s: Projection(plan.compared_fields(s), PARENT) for s in SIDES},
            summary=CycleSummary(integration.name), origin=parent.origin, write=parent.write,
            stop=parent.stop)
        self.key = integration.name
        # A partial pass (a webhook's or a retry's round) reads the parents
        # it was given; the first full pass is a cycle's.
        self.partial = partial
        self.full = not partial and (full or any(self._due(s) for s in SIDES))
        self.listed: dict[Side, dict[str, list[Record]]] = {"left": {}, "right": {}}  # parent id -> children
        # (target, source id) of the creates that failed without an error status lately: their intents stay open
        self.unconfirmed: set[tuple[Side, str]] = set()
        # (side, id) of the children an update whose outcome is unknown may still write
        self.landing: set[tuple[Side, str]] = set()
        limit = min((c.spec.rate_limit.max_concurrency or _CONCURRENCY) for c in connectors.values())
        self.gate = asyncio.Semaphore(max(1, limit))

    def _due(self, side: Side) -> bool:
        """Whether *side*'s children are due a full pass: never had one, or
        not for ``full_every`` (as the parents are read in full: an app whose
        notes leave their contact's ``updated_at`` alone shows them there)."""
        last = self.store.side_state(self.key, side).last_full_read
        every = timedelta(seconds=self.parent.integration.full_every_seconds)
        return last is None or self.store.now() - last > every

    @property
    def store(self) -> StateStore:
        return self.ctx.store

    async def run(self) -> None:
        started = self.store.now()
        with structlog.contextvars.bound_contextvars(child=self.child.left):
            sources = self._intent_sources()
            await self._read(self._parents())
            self._resolve_intents(sources)
            await self._write()
            if self.partial:  # a few parents only: the cursors say nothing of the others
                self._report()
                return
            # Done: the parents read up to the parents' cursors had their
            # children handled (see children_cursor).
            with self.store.transaction(self.key) as t:
                for side in SIDES:
                    before = self.store.side_state(self.key, side)
                    t.set_side_state(side, SideState(
                        cursor=self.store.side_state(self.parent.name, side).cursor,
                        last_full_read=started if self.full else before.last_full_read))
        self._report()

    def _report(self) -> None:
        summary = self.ctx.summary
        self.parent.summary.children[self.child.left] = summary.child_counts()
        self.parent.summary.errors += summary.errors

    # --- 1. which parents --------------------------------------------------

    def _parents(self) -> dict[Side, set[str]]:
        name = self.parent.name
        wanted: dict[Side, set[str]] = {s: set(self.parent.touched[s]) for s in SIDES}
        if self.full:
            for batch in self.store.links(name):
                for left, right in batch:
                    wanted["left"].add(left)
                    wanted["right"].add(right)
        for side in SIDES:
            # Children still waiting: their parents once linked (a parent
            # still unlinked is not read again: its children are known).
            for dirty in self.store.dirty(self.key, side):
                waiting = sorted({str(s.seen.get(PARENT)) for s in dirty if s.seen.get(PARENT)})
                wanted[side].update(self.store.linked(name, side, waiting))
        for intent in self.store.open_intents(self.key):
            if intent.fields.get(PARENT):
                wanted[intent.side].add(str(intent.fields[PARENT]))
        for error in self.store.errors(self.key, limit=1_000_000):
            if error.operation == _LIST_ERROR:  # parents whose children could not be read: again
                wanted[error.side].add(error.record_id)
        for side in SIDES:  # and each one's partner
            partners = self.store.linked(name, side, sorted(wanted[side]))
            wanted[other(side)].update(partners.values())
        for side in SIDES:  # a parent gone from its app has no children to read
            parents = self.store.snapshots(name, side, sorted(wanted[side]))
            wanted[side].difference_update(pid for pid, snap in parents.items() if snap.deleted)
        return wanted

    # --- 2. read -------------------------------------------------------------

    async def _read(self, parents: Mapping[Side, set[str]]) -> None:
        """Read the children of *parents*, a chunk of parents at a time, each
        chunk's snapshots and errors committed together (a checkpoint)."""
        reads = [(side, pid) for side in SIDES for pid in sorted(parents[side])]
        failed_before = self.store.count_errors(self.key) > 0
        for start in range(0, len(reads), _CHUNK):
            chunk = reads[start:start + _CHUNK]
            results = await asyncio.gather(*(self._gated(self._list(side, pid)) for side, pid in chunk))
            _raise_unreachable(results)
            results = await self._missed(chunk, results)
            changed: list[Snapshot] = []
            with self.store.transaction(self.key) as t:
                for (side, pid), result in zip(chunk, results):
                    if isinstance(result, ConnectorError):
                        log.warning("children unreadable", side=side, parent=pid, error=str(result))
                        self.ctx.summary.errors += 1
                        t.add_error(RecordErrorRow(side, pid, _LIST_ERROR, str(result),
                                                   status=getattr(result, "status", None) or None,
                                                   origin=self.ctx.origin))
                        continue
                    self.listed[side][pid] = result
                    self.ctx.summary.read[side] += len(result)
                    changed += self._snapshots(side, pid, result)
                    if failed_before:
                        t.resolve_errors(side, pid, writes=False)  # read again: a list error is over
                t.put_snapshots(changed)
            self.ctx.checkpoint()

    async def _gated(self, call: Awaitable[T]) -> T:
        async with self.gate:
            return await call

    async def _list(self, side: Side, pid: str) -> list[Record] | ConnectorError:
        """The children of one parent, or why they could not be read (the
        caller stops the cycle on an app that refuses us or is down)."""
        records: list[Record] = []
        try:
            with structlog.contextvars.bound_contextvars(side=side):
                async for page in self.ctx.connectors[side].under(pid).list(read_ahead=False):
                    records += page.records
                    if page.errors:  # a child that cannot be read: its parent's children are not known
                        return page.errors[0]
        except ConnectorError as e:
            return e
        return records

    async def _missed(self, chunk: list[tuple[Side, str]],
                      results: list[list[Record] | ConnectorError]) -> list[list[Record] | ConnectorError]:
        """*results* with each child its parent's list missed, but that the
        child object's ``get`` (when the spec has one) still finds, put back
        in its parent's list: a search index lags writes (HubSpot's notes are
        listed by search), and offset pages shift when a child is deleted
        during the read. Only a child gone for ``get`` too is taken as
        deleted. One listed under another parent of this chunk has moved,
        and is not asked for."""
        listed: dict[Side, set[str]] = {s: set() for s in SIDES}
        for (side, _), result in zip(chunk, results):
            if not isinstance(result, ConnectorError):
                listed[side].update(r.id for r in result)
        asks: list[tuple[int, Side, str, str]] = []
        for n, ((side, pid), result) in enumerate(zip(chunk, results)):
            if isinstance(result, ConnectorError) or self.ctx.connectors[side].object.operation("get") is None:
                continue
            asks += [(n, side, pid, snap.record_id) for snap in self.store.by_match_key(self.key, side, pid.lower())
                     if snap.seen.get(PARENT) == pid and not snap.deleted and snap.record_id not in listed[side]]
        if not asks:
            return results
        found = await asyncio.gather(*(self._gated(self._get(side, pid, rid)) for _, side, pid, rid in asks))
        _raise_unreachable(found)
        out = list(results)
        for (n, side, pid, rid), record in zip(asks, found):
            current = out[n]
            if isinstance(current, ConnectorError):
                continue
            if isinstance(record, ConnectorError):  # not known whether it is gone: its parent's children are not
                out[n] = record
            elif record is not None and not record.deleted:
                log.info("child missed by its parent's list, still there", side=side, parent=pid, record=rid)
                out[n] = [*current, record]
        return out

    async def _get(self, side: Side, pid: str, rid: str) -> Record | None | ConnectorError:
        try:
            with structlog.contextvars.bound_contextvars(side=side):
                return await self.ctx.connectors[side].under(pid).get(rid)
        except ConnectorError as e:
            return e

    def _seen(self, side: Side, pid: str, record: Record) -> dict[str, Any]:
        return self.ctx.projection[side].stored({**record.fields, PARENT: pid})

    def _snapshots(self, side: Side, pid: str, records: list[Record]) -> list[Snapshot]:
        """The changed snapshots of one parent's children, and of those gone from it."""
        projection = self.ctx.projection[side]
        old = self.store.snapshots(self.key, side, [r.id for r in records])
        out = []
        for record in records:
            seen = self._seen(side, pid, record)
            digest = content_hash(seen)
            before = old.get(record.id)
            if before is None or before.hash != digest or before.deleted:
                out.append(changed_snapshot(side, record, seen, digest, projection, before, 0))
        present = {r.id for r in records}
        for snap in self.store.by_match_key(self.key, side, pid.lower()):
            if snap.seen.get(PARENT) == pid and snap.record_id not in present:
                out.append(replace(snap, deleted=True, dirty=True))
        return out

    # --- 3. open intents -------------------------------------------------------

    def _intent_sources(self) -> dict[int, Snapshot | None]:
        """The source of each open create, as it is before this pass reads: its pair's base
        when the intent does not keep its source's values (recorded before it did)."""
        return {i.id: self.store.snapshots(self.key, other(i.side), [i.source_id]).get(i.source_id)
                for i in self.store.open_intents(self.key) if i.kind == "create"}

    def _resolve_intents(self, sources: Mapping[int, Snapshot | None]) -> None:
        intents = self.store.open_intents(self.key)
        # Only the creates looked up below (under their target parent), and the updates: a crash-cut
        # one gets its error.
        waiting = self.ctx.waiting_lookups(
            [i for i in intents if (i.kind == "create" and i.fields.get(PARENT)) or i.kind == "update"])
        # The children are read: see syncd.sync._update_intents
        self.landing = rebase_updates(self.store, self.key, intents, waiting, keep_unbased=False).landing
        for intent in intents:
            target_parent = str(intent.fields.get(PARENT) or "")
            listed = self.listed[intent.side].get(target_parent)
            if intent.kind == "update":
                continue  # resolved above
            if intent.kind != "create" or not target_parent:
                with self.store.transaction(self.key) as t:
                    t.resolve_intent(intent.id)  # a deletion is safe to redo
                continue
            if (intent.side, intent.source_id) in waiting:
                # Its outcome is unknown: the app may still be making it (see waiting_lookups).
                self.unconfirmed.add((intent.side, intent.source_id))
                continue
            if listed is None:  # its parent's children could not be read: left open, nothing created
                continue
            taken = self.store.linked(self.key, intent.side, [r.id for r in listed])
            found = next((r for r in listed if r.id not in taken and self._holds(intent, r)), None)
            with self.store.transaction(self.key) as t:
                if found is not None:
                    log.info("child found created before a crash: linked", side=intent.side, record=found.id,
                             source=intent.source_id)
                    snap = self.store.snapshots(self.key, intent.side, [found.id]).get(found.id)
                    if snap is not None:  # read just now: its base is what the create wrote
                        t.put_snapshots(self.ctx.recovered_pair(intent, snap, sources.get(intent.id)))
                    self.ctx.link(t, intent.side, found.id, intent.source_id)
                    # The create did land (its answer was lost): its error is moot.
                    t.resolve_errors(intent.side, intent.source_id, writes=True)
                t.resolve_intent(intent.id)

    def _holds(self, intent: Intent, record: Record) -> bool:
        """Whether *record* holds every value the intent's create wrote."""
        types = self.ctx.plan.types[intent.side]
        values = self._seen(intent.side, str(intent.fields[PARENT]), record)
        return all(
            same_value(values.get(name), value, types.get(name)) or (is_blank(value) and is_blank(values.get(name)))
            for name, value in intent.fields.items() if name != PARENT)

    # --- 4. write ----------------------------------------------------------------

    async def _write(self) -> None:
        name = self.parent.name
        pairs: list[_Pair] = []
        done: set[tuple[Side, str]] = set()
        for side in SIDES:
            o = other(side)
            for batch in self.store.dirty(self.key, side):
                links = self.store.linked(self.key, side, [s.record_id for s in batch])
                partners = self.store.snapshots(self.key, o, list(links.values()))
                for snap in batch:
                    if (side, snap.record_id) in done:
                        continue
                    partner = partners.get(links.get(snap.record_id, ""))
                    if partner is not None:
                        done.add((o, partner.record_id))
                    if self.landing and ((side, snap.record_id) in self.landing or (
                            partner is not None and (o, partner.record_id) in self.landing)):
                        self.ctx.summary.delayed += 1  # an update of the pair may land yet: it waits
                        continue
                    pid = str(snap.seen.get(PARENT) or "")
                    target_parent = (str(partner.seen.get(PARENT)) if partner is not None
                                     else self.store.linked(name, side, [pid]).get(pid))
                    if snap.deleted or (partner is not None and partner.deleted):
                        await self._deleted(side, snap, partner)
                        continue
                    if target_parent is None:
                        self.ctx.summary.delayed += 1  # waits, dirty, for its parent's link
                        continue
                    if partner is None and target_parent not in self.listed[o]:
                        # What is under the partner parent is not known (its
                        # read failed; an open intent may have created this
                        # very child there): nothing is created blind.
                        self.ctx.summary.delayed += 1
                        continue
                    if partner is None:
                        # A child with the same values, unlinked, under the
                        # partner parent is its partner (a reset forgot the
                        # links): linked, not created again.
                        partner = self._twin(snap, o, target_parent, done)
                        if partner is not None:
                            done.add((o, partner.record_id))
                    if partner is None and (o, snap.record_id) in self.unconfirmed:
                        self.ctx.summary.delayed += 1  # its last create may land yet: looked up first
                        continue
                    views = {side: view(snap), o: view(partner) if partner is not None else None}
                    plan = self.ctx.plan.plan(views["left"], views["right"])
                    for s in SIDES:  # the planner writes the match field with a create: not a field here
                        plan.writes(s).pop(PARENT, None)
                    parents = {side: pid, o: target_parent}
                    pairs.append(_Pair({side: snap, o: partner}, plan, parents))
        if not self.ctx.write:
            return
        for target in SIDES:
            with structlog.contextvars.bound_contextvars(side=target):
                await self._create_all(target, [p for p in pairs if p.plan.create == target])
                await self._update_all(target, [p for p in pairs if not p.failed and p.plan.create != target
                                                and p.plan.writes(target) and p.snaps[target] is not None])
        self._commit(pairs)

    def _twin(self, snap: Snapshot, side: Side, parent_id: str, taken: set[tuple[Side, str]]) -> Snapshot | None:
        """An unlinked, live child of *parent_id* on *side* whose values agree with *snap*'s."""
        candidates = [c for c in self.store.by_match_key(self.key, side, parent_id.lower())
                      if c.seen.get(PARENT) == parent_id and (side, c.record_id) not in taken]
        linked = self.store.linked(self.key, side, [c.record_id for c in candidates])
        for candidate in candidates:
            if candidate.record_id in linked:
                continue
            views = {snap.side: view(snap), side: view(candidate)}
            plan = self.ctx.plan.plan(views["left"], views["right"])
            if plan.empty and not plan.conflicts and not plan.problems:
                return candidate
        return None

    async def _create_all(self, target: Side, pairs: list[_Pair]) -> None:
        if not pairs:
            return
        source = other(target)
        with self.store.transaction(self.key) as t:
            intents = t.add_intents([Intent(
                side=target, kind="create", source_id=self._on(p, source).record_id,
                fields={**p.plan.writes(target), PARENT: p.parents[target]},
                source_seen=self._on(p, source).seen) for p in pairs])
        results = await asyncio.gather(*(
            self._gated(self._create(target, p.parents[target], p.plan.writes(target))) for p in pairs))
        with self.store.transaction(self.key) as t:
            for p, intent_id, result in zip(pairs, intents, results):
                src = self._on(p, source)
                if isinstance(result, ConnectorError):
                    p.failed = True
                    self.ctx.record_failure(t, target, src.record_id, "create", result)
                    if certainly_not_written(result):
                        t.resolve_intent(intent_id)  # refused before anything was stored
                    continue
                snap = written(None, target, result.id, {**p.plan.writes(target), **result.fields,
                                                         PARENT: p.parents[target]},
                               self.ctx.projection[target], result.updated_at)
                # In step on both sides as of the create, with its link (see Writer._create_all).
                t.put_snapshots([snap, self.ctx.synced(src)])
                self.ctx.link(t, target, result.id, src.record_id)
                self.ctx.resolve_pair_errors(t, {target: None, source: src})
                t.resolve_intent(intent_id)
                p.results[target] = snap
                self.ctx.summary.created[target] += 1
        _raise_unreachable(results)
        self.ctx.checkpoint()

    async def _create(self, target: Side, parent_id: str, fields: Mapping[str, Any]) -> Record | ConnectorError:
        try:
            return await self.ctx.connectors[target].under(parent_id).create(fields)
        except ConnectorError as e:
            return e

    async def _update_all(self, target: Side, pairs: list[_Pair]) -> None:
        if not pairs:
            return
        projection = self.ctx.projection[target]
        with self.store.transaction(self.key) as t:  # before any request: see Writer._update_all
            intents = t.add_intents([update_intent(target, self._on(p, target), self._on(p, other(target)).record_id,
                                                   p.plan.writes(target), projection) for p in pairs])
        for p, intent_id in zip(pairs, intents):
            p.intents.append(intent_id)
        results = await asyncio.gather(*(self._gated(self._update(target, p)) for p in pairs))
        with self.store.transaction(self.key) as t:
            for p, result in zip(pairs, results):
                dst = self._on(p, target)
                if isinstance(result, ConnectorError):
                    p.failed = True
                    self.ctx.record_failure(t, target, self._on(p, other(target)).record_id, "update", result)
                    if certainly_not_written(result):
                        t.resolve_intents(p.intents)  # refused: nothing written
                    continue
                p.results[target] = written(dst, target, dst.record_id, p.plan.writes(target),
                                            self.ctx.projection[target])
                self.ctx.summary.updated[target] += 1
        _raise_unreachable(results)

    async def _update(self, target: Side, p: _Pair) -> Record | None | ConnectorError:
        try:
            return await self.ctx.connectors[target].under(p.parents[target]).update(
                self._on(p, target).record_id, p.plan.writes(target))
        except ConnectorError as e:
            return e

    def _commit(self, pairs: list[_Pair]) -> None:
        """Every pair whose writes all succeeded: in step as of now."""
        with self.store.transaction(self.key) as t:
            for p in pairs:
                if p.failed:
                    continue  # its source stays dirty; the next cycle retries
                self.ctx.in_step(t, p.snaps, p.results)
                t.resolve_intents(p.intents)
                left, right = p.snaps["left"], p.snaps["right"]
                if left is not None and right is not None:
                    t.link(left.record_id, right.record_id)
                for c in p.plan.conflicts:
                    t.add_conflict(ConflictRow(
                        left_id=left.record_id if left else "", right_id=right.record_id if right else "",
                        field=f"{c.left_field} -> {c.right_field}", left_value=c.left_value,
                        right_value=c.right_value, winner=c.winner, rule=c.rule))
                self.ctx.summary.conflicts += len(p.plan.conflicts)
                self.ctx.summary.not_created += len(p.plan.skipped_by(SkipKind.CREATE_POLICY))
                if not p.results:
                    self.ctx.summary.unchanged += 1
        self.ctx.checkpoint()

    async def _deleted(self, side: Side, snap: Snapshot, partner: Snapshot | None) -> None:
        """A child gone from one side: its partner is deleted too when the
        integration's ``deletions: then: delete`` deletes from that side;
        otherwise (or never linked) the link ends."""
        gone, kept = (snap, partner) if snap.deleted else (partner, snap)
        assert gone is not None
        gone_side = gone.side
        deletions = self.parent.integration.deletions
        delete = (kept is not None and not kept.deleted and deletions is not None
                  and deletions.side in (gone_side, "both") and any(a.kind == "delete" for a in deletions.then))
        if delete and kept is not None and self.ctx.write:
            target = kept.side
            try:
                with structlog.contextvars.bound_contextvars(side=target):
                    await self.ctx.connectors[target].under(str(kept.seen.get(PARENT))).delete(kept.record_id)
            except (AuthError, TransportError):
                raise
            except ConnectorError as e:
                with self.store.transaction(self.key) as t:
                    self.ctx.record_failure(t, target, gone.record_id, "delete", e)
                return
            self.ctx.summary.deleted[target] += 1
        if not self.ctx.write:
            return
        with self.store.transaction(self.key) as t:
            t.unlink(gone_side, gone.record_id)
            t.put_snapshots([self.ctx.synced(gone)])
            if kept is not None:
                t.put_snapshots([self.ctx.synced(kept, deleted=True if delete else None)])
            t.resolve_errors(gone_side, gone.record_id, writes=False)
            t.resolve_errors(other(gone_side), gone.record_id, writes=True)  # a delete that failed before

    @staticmethod
    def _on(p: _Pair, side: Side) -> Snapshot:
        snap = p.snaps[side]
        assert snap is not None
        return snap


def _raise_unreachable(results: Iterable[object]) -> None:
    for result in results:
        if isinstance(result, AuthError) or (isinstance(result, TransportError) and not result.outcome_unknown):
            raise result  # the app is unreachable or refuses us: stop the cycle
