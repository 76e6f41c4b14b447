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

    # --- the cycle --------------------------------------------------------------

    async def run(self) -> CycleSummary:
        try:
            full = {s: self.force_full for s in SIDES}
            await self._resolve_intents(full)
            for side in SIDES:
                await self._read(side, full[side])
            self._resolve_intents_by_match()
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
        full = force_full or state.cursor is None or not connector.has_changes or stale
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
                for snap in batch:
                    if snap.record_id in handled[side]:
                        continue
                    await self._pair(side, snap, handled)

    async def _pair(self, side: Side, snap: Snapshot, handled: dict[Side, set[str]]) -> None:
        o = other(side)
        partner_id = self.store.linked(self.name, side, [snap.record_id]).get(snap.record_id)
        partner = self.store.snapshots(self.name, o, [partner_id]).get(partner_id) if partner_id else None
        if partner is None and not snap.deleted and snap.match_key is not None:
            partner = self._match(o, snap.match_key)
        handled[side].add(snap.record_id)
        if partner is not None:
            handled[o].add(partner.record_id)
        views: dict[Side, SideView | None] = {side: view(snap, self.projection[side]), o: None}
        if partner is not None:
            views[o] = view(partner, self.projection[o])
        if snap.deleted:
            await self._deleted(side, snap, partner)
            return
        if partner is None and snap.match_key is None:
            self.summary.skipped += 1
            self._settle([snap], {})
            return
        plan = self.plan.plan(views["left"], views["right"])
        await self._carry_out(plan, {side: snap, o: partner})

    def _match(self, side: Side, key: str) -> Snapshot | None:
        for candidate in self.store.by_match_key(self.name, side, key):
            if not self.store.linked(self.name, side, [candidate.record_id]):
                return candidate
        return None

    async def _carry_out(self, plan: PairPlan, snaps: dict[Side, Snapshot | None]) -> None:
        if not self.write and not self.dry_run:
            # Read-only (reset --read-only): take both sides as in step as
            # they are; only changes made from now on are synced.
            with self.store.transaction(self.name) as t:
                t.put_snapshots([self._synced(s) for s in snaps.values() if s is not None])
                if snaps["left"] is not None and snaps["right"] is not None:
                    t.link(snaps["left"].record_id, snaps["right"].record_id)
            self.summary.unchanged += 1
            return
        self.summary.skipped += len(plan.skipped)
        results: dict[Side, Snapshot] = {}
        new_link: tuple[Side, str, str] | None = None
        for target in SIDES:
            fields = plan.left if target == "left" else plan.right
            source = other(target)
            src, dst = snaps[source], snaps[target]
            if plan.create == target:
                assert src is not None
                new = await self._create(target, src, fields)
                if new is None:
                    return  # failed: recorded; the source stays dirty
                results[target] = new
                new_link = (target, new.record_id, src.record_id)
            elif fields and dst is not None:
                done = await self._update(target, dst, fields, src)
                if done is None:
                    return
                results[target] = done
        if self.dry_run:
            return
        with self.store.transaction(self.name) as t:
            for target, snap in results.items():
                t.put_snapshots([snap])
            for s in SIDES:
                snap = snaps[s]
                if snap is not None and s not in results:
                    t.put_snapshots([self._synced(snap)])
                if snap is not None:
                    t.resolve_errors(s, snap.record_id)
            if new_link is not None:
                self._link(t, *new_link)
            elif snaps["left"] is not None and snaps["right"] is not None:
                t.link(snaps["left"].record_id, snaps["right"].record_id)
            for c in plan.conflicts:
                t.add_conflict(self._conflict_row(c, snaps))
        self.summary.conflicts += len(plan.conflicts)
        if not results:
            self.summary.unchanged += 1

    async def _create(self, target: Side, src: Snapshot, fields: dict[str, Any]) -> Snapshot | None:
        if self.dry_run:
            self.summary.writes.append(PlannedWrite(target, "create", None, src.record_id, fields))
            self.summary.created[target] += 1
            return None
        intent = Intent(side=target, kind="create", source_id=src.record_id, fields=self.projection[target].wire(fields),
                        match_key=src.match_key)
        with self.store.transaction(self.name) as t:
            intent_id = t.add_intent(intent)
        try:
            record = await self.connectors[target].create(fields)
        except ConnectorError as e:
            self._failed(target, src.record_id, "create", e, intent_id)
            return None
        self.summary.created[target] += 1
        snap = written(None, target, record.id, {**fields, **record.fields}, self.projection[target], record.updated_at)
        with self.store.transaction(self.name) as t:
            t.resolve_intent(intent_id)
            t.put_snapshots([snap])
            self._link(t, target, record.id, src.record_id)
        return snap

    async def _update(self, target: Side, dst: Snapshot, fields: dict[str, Any],
                      src: Snapshot | None) -> Snapshot | None:
        if self.dry_run:
            self.summary.writes.append(PlannedWrite(target, "update", dst.record_id,
                                                    src.record_id if src else "", fields))
            self.summary.updated[target] += 1
            return None
        try:
            await self.connectors[target].update(dst.record_id, fields)
        except ConnectorError as e:
            self._failed(target, src.record_id if src else dst.record_id, "update", e)
            return None
        self.summary.updated[target] += 1
        return written(dst, target, dst.record_id, fields, self.projection[target])

    async def _deleted(self, side: Side, snap: Snapshot, partner: Snapshot | None) -> None:
        deletions = self.integration.deletions
        applies = deletions is not None and deletions.side in (side, "both") and partner is not None
        if applies and partner is not None:
            plan = self.plan.deletion(view(snap, self.projection[side]),
                                      view(partner, self.projection[other(side)]), side=side)
            target = other(side)
            if getattr(plan, "delete", None) == target:
                if self.dry_run:
                    self.summary.writes.append(PlannedWrite(target, "delete", partner.record_id, snap.record_id, {}))
                    self.summary.deleted[target] += 1
                    return
                if self.write:
                    try:
                        await self.connectors[target].delete(partner.record_id)
                    except ConnectorError as e:
                        self._failed(target, snap.record_id, "delete", e)
                        return
                    self.summary.deleted[target] += 1
                with self.store.transaction(self.name) as t:
                    t.unlink(side, snap.record_id)
                    t.put_snapshots([self._synced(snap), self._synced(partner, deleted=True)])
                return
            await self._carry_out(plan, {side: snap, target: partner})
            return
        if not self.dry_run:
            with self.store.transaction(self.name) as t:
                t.put_snapshots([self._synced(snap)])

    # --- bookkeeping ------------------------------------------------------------------

    @staticmethod
    def _synced(snap: Snapshot, deleted: bool | None = None) -> Snapshot:
        return Snapshot(side=snap.side, record_id=snap.record_id, seen=snap.seen, synced=snap.seen,
                        match_key=snap.match_key, hash=snap.hash, updated_at=snap.updated_at,
                        deleted=snap.deleted if deleted is None else deleted, dirty=False,
                        generation=snap.generation)

    def _settle(self, snaps: Iterable[Snapshot], _: dict[str, Any]) -> None:
        if self.dry_run:
            return
        with self.store.transaction(self.name) as t:
            t.put_snapshots([self._synced(s) for s in snaps])

    def _failed(self, target: Side, record_id: str, operation: str, error: ConnectorError,
                intent_id: int | None = None) -> None:
        self.summary.errors += 1
        with self.store.transaction(self.name) as t:
            t.add_error(RecordErrorRow(target, record_id, operation, str(error),
                                       status=getattr(error, "status", None) or None, origin=self.origin))
            if intent_id is not None and _certainly_not_created(error):
                t.resolve_intent(intent_id)
            # Otherwise the intent stays open: a timeout, a 5xx or a 409
            # (already exists) may mean the record is there; the next cycle
            # looks it up before creating again.
        if isinstance(error, (AuthError, TransportError)):
            raise error  # the app is unreachable or refuses us: stop the cycle

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
