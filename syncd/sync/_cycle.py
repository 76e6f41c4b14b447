"""One cycle of one integration: read both sides, then plan and apply writes.

1. **Resolve** the create intents a crash left open: the record may exist
   on the target already; it is found (``find``, or by match key after a
   full read) and linked instead of created again.
2. **Read** each side: its changes since the cursor, or everything (the
   first cycle, a side without ``changes``, every ``full_every``). Every
   page is one transaction: the snapshots it changed, the records it could
   not read. The cursor advances only when the whole run is read, so a
   crash re-reads from the last cursor (an unchanged record costs a hash
   comparison, nothing more). A full read also finds deletions, behind the
   guard.
3. **Apply**: every dirty record is paired (by link, else by match key),
   planned (:mod:`syncd.sync._plan`: mappings, rules, conflicts, create
   policy) and written. A create is recorded as an intent first; each
   write's result is committed with the snapshots it produced, the written
   side's as what it will read back (so the echo is not sent back). A
   failed write leaves its record dirty and in the error table; the next
   cycle retries it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from syncd.config import Integration
from syncd.connector import ApiError, AuthError, Connector, ConnectorError, TransportError, to_wire
from syncd.state import (
    ConflictRow,
    Intent,
    Origin,
    RecordErrorRow,
    Side,
    SideState,
    Snapshot,
    StateStore,
)
from syncd.sync._plan import IntegrationPlan, PairPlan, SideView
from syncd.sync._snapshots import Projection, snapshot_for, view, written

SIDES: tuple[Side, Side] = ("left", "right")
# Re-read a little before the cursor: an app whose timestamps have second
# precision can commit a change stamped with the cursor's own second after
# syncd read up to it. Re-reading is cheap; an unchanged record is skipped.
CURSOR_OVERLAP = timedelta(seconds=1)


def other(side: Side) -> Side:
    return "right" if side == "left" else "left"


class CycleAborted(Exception):
    """The cycle could not go on: credentials refused, an app down past its
    retries, or the deletion guard. What was committed stays committed."""


@dataclass
class PlannedWrite:
    side: Side
    action: Literal["create", "update", "delete"]
    record_id: str | None
    source_id: str
    fields: dict[str, Any]


@dataclass
class _Work:
    """One planned pair and what became of its writes."""

    plan: PairPlan
    snaps: dict[Side, Snapshot | None]
    results: dict[Side, Snapshot] = field(default_factory=dict)
    failed: bool = False
    unlink: bool = False  # the pair ends (a deletion handled with tag or set actions)


@dataclass
class CycleSummary:
    integration: str
    read: dict[str, int] = field(default_factory=lambda: {"left": 0, "right": 0})
    created: dict[str, int] = field(default_factory=lambda: {"left": 0, "right": 0})
    updated: dict[str, int] = field(default_factory=lambda: {"left": 0, "right": 0})
    deleted: dict[str, int] = field(default_factory=lambda: {"left": 0, "right": 0})
    unchanged: int = 0
    skipped: int = 0
    conflicts: int = 0
    errors: int = 0
    aborted: str | None = None
    writes: list[PlannedWrite] = field(default_factory=list)  # filled on a dry run

    @property
    def write_count(self) -> int:
        return sum(self.created.values()) + sum(self.updated.values()) + sum(self.deleted.values())


class Cycle:
    def __init__(
        self, integration: Integration, plan: IntegrationPlan, store: StateStore,
        connectors: dict[Side, Connector], *, origin: Origin = "scheduled",
        dry_run: bool = False, write: bool = True, full: bool = False,
    ) -> None:
        self.integration = integration
        self.name = integration.name
        self.plan = plan
        self.store = store
        self.connectors = connectors
        self.origin = origin
        self.dry_run = dry_run
        self.write = write and not dry_run  # False: read and record state only (reset --read-only)
        self.force_full = full
        match = {"left": integration.match_left, "right": integration.match_right}
        self.projection: dict[Side, Projection] = {
            s: Projection(connectors[s].object, plan.compared_fields(s), match[s]) for s in SIDES
        }
        self.summary = CycleSummary(self.name)
        self.failed_creates: set[tuple[str, str]] = set()  # (target side, source id) whose create failed

    # --- the cycle --------------------------------------------------------------

    async def run(self) -> CycleSummary:
        try:
            full = {s: self.force_full for s in SIDES}
            await self._resolve_intents(full)
            for side in SIDES:
                await self._read(side, full[side])
            self._resolve_intents_by_match()
            self.failed_creates = {
                (e.side, e.record_id) for e in self.store.errors(self.name, unresolved=True, limit=1_000_000)
                if e.operation == "create"}
            await self._apply()
        except (AuthError, TransportError) as e:
            self.summary.aborted = str(e)
        except CycleAborted as e:
            self.summary.aborted = str(e)
        return self.summary

    # --- 1. open intents --------------------------------------------------------

    async def _resolve_intents(self, full: dict[Side, bool]) -> None:
        for intent in self.store.open_intents(self.name):
            if intent.kind != "create":
                with self.store.transaction(self.name) as t:
                    t.resolve_intent(intent.id)  # updates and deletes are safe to redo
                continue
            target = self.connectors[intent.side]
            match_field = self.projection[intent.side].match_field
            if intent.match_key is None or "find" not in target.object.operations:
                full[intent.side] = True  # found by match key after a full read
                continue
            found = await target.find(match_field, intent.match_key)
            with self.store.transaction(self.name) as t:
                if found:
                    record = found[0]
                    snap = snapshot_for(intent.side, record, self.projection[intent.side], None, 0)
                    if snap is not None:
                        t.put_snapshots([snap])
                    self._link(t, intent.side, record.id, intent.source_id)
                t.resolve_intent(intent.id)

    def _resolve_intents_by_match(self) -> None:
        for intent in self.store.open_intents(self.name):
            if intent.kind != "create" or intent.match_key is None:
                continue
            candidates = self.store.by_match_key(self.name, intent.side, intent.match_key)
            with self.store.transaction(self.name) as t:
                if candidates:
                    self._link(t, intent.side, candidates[0].record_id, intent.source_id)
                t.resolve_intent(intent.id)

    @staticmethod
    def _link(t: Any, side: Side, record_id: str, partner_id: str) -> None:
        if side == "left":
            t.link(record_id, partner_id)
        else:
            t.link(partner_id, record_id)

    # --- 2. reading ---------------------------------------------------------------

    async def _read(self, side: Side, force_full: bool) -> None:
        connector = self.connectors[side]
        state = self.store.side_state(self.name, side)
        now = datetime.now(UTC)
        stale = state.last_full_read is None or (
            now - state.last_full_read > timedelta(seconds=self.integration.full_every_seconds))
        # Mapping a field more or less changes what a snapshot holds: read
        # everything again, so that the new field is back-filled for every
        # linked record (and a field unmapped is forgotten).
        sample = self.store.any_snapshot(self.name, side)
        reshaped = sample is not None and set(sample.seen) != set(self.projection[side].fields)
        full = force_full or state.cursor is None or not connector.has_changes or stale or reshaped
        generation = state.generation + 1 if full else 0
        before = self.store.count(self.name, side)
        pages = connector.list() if full else connector.changes(state.cursor - CURSOR_OVERLAP)  # type: ignore[operator]
        high = state.cursor
        read = 0
        async for page in pages:
            ids = [r.id for r in page.records]
            old = self.store.snapshots(self.name, side, ids)
            changed, unchanged = [], []
            for record in page.records:
                snap = snapshot_for(side, record, self.projection[side], old.get(record.id), generation)
                (changed if snap is not None else unchanged).append(snap or record.id)
                if record.updated_at is not None and (high is None or record.updated_at > high):
                    high = record.updated_at
            read += len(page.records)
            self.summary.unchanged += len(unchanged)
            with self.store.transaction(self.name) as t:
                t.put_snapshots(changed)  # type: ignore[arg-type]
                if full:
                    t.mark_seen(side, unchanged, generation)  # type: ignore[arg-type]
                for err in page.errors:
                    t.add_error(RecordErrorRow(side, err.record_id or "?", err.operation, err.message,
                                               origin=self.origin))
            self.summary.errors += len(page.errors)
        self.summary.read[side] += read
        with self.store.transaction(self.name) as t:
            if full:
                self._deletions(t, side, generation, read, before)
            t.set_side_state(side, SideState(
                cursor=high, generation=generation if full else state.generation,
                last_full_read=now if full else state.last_full_read))

    def _deletions(self, t: Any, side: Side, generation: int, read: int, before: int) -> None:
        gone = list(self.store.unseen(self.name, side, generation))
        if not gone:
            return
        limit = self.integration.deletions.max_delete_percent if self.integration.deletions else 10.0
        if read == 0 or (before and 100.0 * len(gone) / before > limit):
            why = "read no records at all" if read == 0 else \
                f"lost {len(gone)} of {before} records ({100.0 * len(gone) / before:.0f} % > {limit:g} %)"
            raise CycleAborted(
                f"the {side} side {why} since its last full read; refusing to treat them as "
                "deleted. If they really were deleted, raise deletions.max_delete_percent or run "
                f"`syncd reset {self.name}`")
        t.put_snapshots(
            Snapshot(side=s.side, record_id=s.record_id, seen=s.seen, synced=s.synced,
                     match_key=s.match_key, hash=s.hash, updated_at=s.updated_at, deleted=True,
                     dirty=True, generation=s.generation)
            for s in gone)

    # --- 3. planning and writing ---------------------------------------------------

    async def _apply(self) -> None:
        handled: dict[Side, set[str]] = {"left": set(), "right": set()}
        for side in SIDES:
            for batch in self.store.dirty(self.name, side):
                todo = [s for s in batch if s.record_id not in handled[side]]
                if todo:
                    await self._apply_batch(side, todo, handled)

    async def _apply_batch(self, side: Side, batch: list[Snapshot], handled: dict[Side, set[str]]) -> None:
        """Plan a batch of dirty records, write in bulk, commit the results once."""
        o = other(side)
        partner_ids = self.store.linked(self.name, side, [s.record_id for s in batch])
        partners = self.store.snapshots(self.name, o, list(partner_ids.values()))
        works: list[_Work] = []
        settle: list[Snapshot] = []
        creating: set[tuple[Side, str]] = set()  # (target, match key) created in this batch
        for snap in batch:
            if snap.record_id in handled[side]:
                continue
            partner = partners.get(partner_ids.get(snap.record_id, ""))
            if partner is None and not snap.deleted and snap.match_key is not None:
                partner = self._match(o, snap.match_key, handled[o])
            handled[side].add(snap.record_id)
            if partner is not None:
                handled[o].add(partner.record_id)
            if snap.deleted:
                work = await self._deleted(side, snap, partner)
                if work is not None:
                    works.append(work)
                continue
            if partner is None and snap.match_key is None:
                self.summary.skipped += 1  # nothing to match it by: never created blind
                settle.append(snap)
                continue
            views: dict[Side, SideView | None] = {side: view(snap, self.projection[side]), o: None}
            if partner is not None:
                views[o] = view(partner, self.projection[o])
            plan = self.plan.plan(views["left"], views["right"])
            if plan.create is not None:
                key = (plan.create, snap.match_key or "")
                if key in creating:
                    continue  # the same person twice on one side: linked once created
                creating.add(key)
            works.append(_Work(plan, {side: snap, o: partner}))
        if not self.write and not self.dry_run:
            self._take_as_synced(works, settle)
            return
        if settle and not self.dry_run:
            with self.store.transaction(self.name) as t:
                t.put_snapshots([self._synced(s) for s in settle])
        for target in SIDES:
            await self._create_all(target, [w for w in works if w.plan.create == target])
            await self._update_all(target, [
                w for w in works
                if not w.failed and w.plan.create != target and w.plan.writes(target)
                and w.snaps[target] is not None])
        if not self.dry_run:
            self._commit(works)

    def _match(self, side: Side, key: str, taken: set[str]) -> Snapshot | None:
        for candidate in self.store.by_match_key(self.name, side, key):
            if candidate.record_id in taken:
                continue
            if not self.store.linked(self.name, side, [candidate.record_id]):
                return candidate
        return None

    def _take_as_synced(self, works: list[_Work], settle: list[Snapshot]) -> None:
        """Read-only (reset --read-only): both sides are taken as in step as
        they are; only changes made from now on are synced."""
        with self.store.transaction(self.name) as t:
            t.put_snapshots([self._synced(s) for s in settle])
            for w in works:
                t.put_snapshots([self._synced(s) for s in w.snaps.values() if s is not None])
                if w.snaps["left"] is not None and w.snaps["right"] is not None:
                    t.link(w.snaps["left"].record_id, w.snaps["right"].record_id)
                self.summary.unchanged += 1

    async def _create_all(self, target: Side, works: list[_Work]) -> None:
        if not works:
            return
        source = other(target)
        if self.dry_run:
            for w in works:
                src = w.snaps[source]
                self.summary.writes.append(PlannedWrite(
                    target, "create", None, src.record_id if src else "", w.plan.writes(target)))
                self.summary.created[target] += 1
            return
        projection = self.projection[target]
        with self.store.transaction(self.name) as t:
            intents = [
                t.add_intent(Intent(side=target, kind="create", source_id=w.snaps[source].record_id,  # type: ignore[union-attr]
                                    fields=projection.wire(w.plan.writes(target)),
                                    match_key=w.snaps[source].match_key))  # type: ignore[union-attr]
                for w in works
            ]
        # A record whose create failed before goes alone: in a batch, one bad
        # record the API rejects with a 5xx would sink its whole batch again
        # on every cycle.
        solo = [(target, w.snaps[source].record_id) in self.failed_creates for w in works]  # type: ignore[union-attr]
        results: list[Any] = [None] * len(works)
        groups = [[i for i, alone in enumerate(solo) if not alone]]
        groups += [[i] for i, alone in enumerate(solo) if alone]
        for group in groups:
            if group:
                items = [works[i].plan.writes(target) for i in group]
                for i, result in zip(group, await _unknown_outcome_is_a_result(
                        _create_many(self.connectors[target], items), len(items))):
                    results[i] = result
        # The created records, their links and the intents' end in one
        # transaction, right after the call: the window a crash could hit
        # is covered by the intents, resolved by a lookup next cycle.
        with self.store.transaction(self.name) as t:
            for w, intent_id, result in zip(works, intents, results):
                src = w.snaps[source]
                assert src is not None
                if isinstance(result, ConnectorError):
                    w.failed = True
                    self._record_failure(t, target, src.record_id, "create", result)
                    if _certainly_not_created(result):
                        t.resolve_intent(intent_id)
                    continue
                fields = w.plan.writes(target)
                snap = written(None, target, result.id, {**fields, **result.fields}, projection,
                               result.updated_at)
                t.put_snapshots([snap])
                self._link(t, target, result.id, src.record_id)
                t.resolve_intent(intent_id)
                w.results[target] = snap
                self.summary.created[target] += 1
        self._abort_if_unreachable(results)

    async def _update_all(self, target: Side, works: list[_Work]) -> None:
        if not works:
            return
        source = other(target)
        if self.dry_run:
            for w in works:
                src, dst = w.snaps[source], w.snaps[target]
                self.summary.writes.append(PlannedWrite(
                    target, "update", dst.record_id if dst else None, src.record_id if src else "",
                    w.plan.writes(target)))
                self.summary.updated[target] += 1
            return
        results = await _unknown_outcome_is_a_result(_update_many(
            self.connectors[target],
            [(w.snaps[target].record_id, w.plan.writes(target)) for w in works]),  # type: ignore[union-attr]
            len(works))
        failures = [(w, r) for w, r in zip(works, results) if isinstance(r, ConnectorError)]
        if failures:
            with self.store.transaction(self.name) as t:
                for w, error in failures:
                    src, dst = w.snaps[source], w.snaps[target]
                    w.failed = True
                    self._record_failure(t, target, (src or dst).record_id, "update", error)  # type: ignore[union-attr]
        for w, result in zip(works, results):
            if not isinstance(result, ConnectorError):
                dst = w.snaps[target]
                assert dst is not None
                w.results[target] = written(dst, target, dst.record_id, w.plan.writes(target),
                                            self.projection[target])
                self.summary.updated[target] += 1
        self._abort_if_unreachable(results)

    def _commit(self, works: list[_Work]) -> None:
        """Every pair whose writes all succeeded: in step as of now."""
        with self.store.transaction(self.name) as t:
            for w in works:
                if w.failed:
                    continue  # its source stays dirty; the next cycle retries
                for s in SIDES:
                    snap = w.snaps[s]
                    if s in w.results:
                        t.put_snapshots([w.results[s]])
                    elif snap is not None:
                        t.put_snapshots([self._synced(snap)])
                    if snap is not None:
                        t.resolve_errors(s, snap.record_id)
                left, right = w.snaps["left"], w.snaps["right"]
                if w.unlink:
                    for s, snap in w.snaps.items():
                        if snap is not None and snap.deleted:
                            t.unlink(s, snap.record_id)
                elif left is not None and right is not None:
                    t.link(left.record_id, right.record_id)
                for c in w.plan.conflicts:
                    t.add_conflict(self._conflict_row(c, w.snaps))
                self.summary.conflicts += len(w.plan.conflicts)
                self.summary.skipped += len(w.plan.skipped)
                if not w.results:
                    self.summary.unchanged += 1

    async def _deleted(self, side: Side, snap: Snapshot, partner: Snapshot | None) -> _Work | None:
        """A record gone from ``side``: what ``deletions:`` says, once."""
        deletions = self.integration.deletions
        target = other(side)
        if deletions is None or deletions.side not in (side, "both") or partner is None:
            if not self.dry_run:  # never linked, or not declared: nothing to do
                with self.store.transaction(self.name) as t:
                    t.put_snapshots([self._synced(snap)])
            return None
        plan = self.plan.deletion(view(snap, self.projection[side]),
                                  view(partner, self.projection[target]), side=side)
        if plan.delete != target:
            work = _Work(plan, {side: snap, target: partner})
            work.unlink = True
            return work  # tag or set actions: an update of the partner
        if self.dry_run:
            self.summary.writes.append(PlannedWrite(target, "delete", partner.record_id, snap.record_id, {}))
            self.summary.deleted[target] += 1
            return None
        if self.write:
            try:
                await self.connectors[target].delete(partner.record_id)
            except ConnectorError as e:
                with self.store.transaction(self.name) as t:
                    self._record_failure(t, target, snap.record_id, "delete", e)
                self._abort_if_unreachable([e])
                return None
            self.summary.deleted[target] += 1
        with self.store.transaction(self.name) as t:
            t.unlink(side, snap.record_id)
            t.put_snapshots([self._synced(snap), self._synced(partner, deleted=True)])
        return None

    # --- bookkeeping ------------------------------------------------------------------

    @staticmethod
    def _synced(snap: Snapshot, deleted: bool | None = None) -> Snapshot:
        return Snapshot(side=snap.side, record_id=snap.record_id, seen=snap.seen, synced=snap.seen,
                        match_key=snap.match_key, hash=snap.hash, updated_at=snap.updated_at,
                        deleted=snap.deleted if deleted is None else deleted, dirty=False,
                        generation=snap.generation)

    def _record_failure(self, t: Any, target: Side, record_id: str, operation: str,
                        error: ConnectorError) -> None:
        self.summary.errors += 1
        t.add_error(RecordErrorRow(target, record_id, operation, str(error),
                                   status=getattr(error, "status", None) or None, origin=self.origin))

    @staticmethod
    def _abort_if_unreachable(results: Iterable[Any]) -> None:
        for result in results:
            if isinstance(result, AuthError) or (
                    isinstance(result, TransportError) and not result.outcome_unknown):
                raise result  # the app is unreachable or refuses us: stop the cycle

    @staticmethod
    def _conflict_row(c: Any, snaps: dict[Side, Snapshot | None]) -> ConflictRow:
        left, right = snaps["left"], snaps["right"]
        return ConflictRow(
            left_id=left.record_id if left else "", right_id=right.record_id if right else "",
            field=f"{c.left_field} -> {c.right_field}", left_value=_json(c.left_value),
            right_value=_json(c.right_value), winner=c.winner, rule=c.rule)


def _certainly_not_created(error: ConnectorError) -> bool:
    """A refusal before anything was stored: a 4xx other than 409 Conflict."""
    return isinstance(error, ApiError) and 400 <= error.status < 500 and error.status != 409


def _json(value: Any) -> Any:
    """A value as the state store keeps it (datetimes as ISO text)."""
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    return to_wire(value)


async def _unknown_outcome_is_a_result(call: Any, count: int) -> list[Any]:
    """A write call's results; a write that timed out and was not resent
    (its outcome unknown) is the result of every item of the call, so the
    cycle goes on and the next one looks those records up."""
    try:
        return list(await call)
    except TransportError as e:
        if not e.outcome_unknown:
            raise
        return [e] * count


async def _create_many(connector: Connector, items: list[dict[str, Any]]) -> list[Any]:
    """Per-item results; credentials refused or an app down propagate (the
    open intents then cover whatever was created before)."""
    if hasattr(connector, "create_many"):
        return await connector.create_many(items)  # type: ignore[no-any-return]
    out: list[Any] = []
    for fields in items:
        try:
            out.append(await connector.create(fields))
        except (AuthError, TransportError):
            raise
        except ConnectorError as e:
            out.append(e)
    return out


async def _update_many(connector: Connector, items: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    if hasattr(connector, "update_many"):
        return await connector.update_many(items)  # type: ignore[no-any-return]
    out: list[Any] = []
    for record_id, fields in items:
        try:
            out.append(await connector.update(record_id, fields))
        except (AuthError, TransportError):
            raise
        except ConnectorError as e:
            out.append(e)
    return out
