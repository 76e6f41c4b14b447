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
   guard. A side whose object has no ``list`` (a write-only target) is
   not read: the records the other side's changes go to are looked up by
   match key with ``find`` instead (:mod:`syncd.sync._write_only`).
3. **Apply**: every dirty record is paired (by link, else by match key),
   planned (:mod:`syncd.sync._plan`: mappings, rules, conflicts, create
   policy) and written. A create is recorded as an intent first; each
   write's result is committed with the snapshots it produced, the written
   side's as what it will read back (so the echo is not sent back). A
   failed write leaves its record dirty and in the error table; a later
   cycle retries it once it is due (``record_retries:``, see
   :mod:`syncd.sync._retries`), a bounded number of times.
4. **Children** (``children:``, :mod:`syncd.sync._children`): once the
   parents' writes are committed, the children of the parents that changed
   are read, paired by link and written under the linked parents.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import structlog

from syncd.config import ChildSync, Integration
from syncd.connector import Connector, ConnectorError, Record
from syncd.state import Intent, Origin, Side, Snapshot, StateStore
from syncd.sync._children import ChildPass
from syncd.sync._context import SIDES, CycleContext
from syncd.sync._write_only import look_up_targets
from syncd.sync._plan import IntegrationPlan
from syncd.sync._reading import Reader
from syncd.sync._retries import RetryGate
from syncd.sync._snapshots import Projection, snapshot_for, written
from syncd.sync._summary import CycleStopped, CycleSummary
from syncd.sync._writing import Writer


class Cycle:
    def __init__(
        self, integration: Integration, plan: IntegrationPlan, store: StateStore,
        connectors: dict[Side, Connector], *, origin: Origin = "scheduled",
        dry_run: bool = False, write: bool = True, full: bool = False,
        stop: Callable[[], bool] | None = None,
        children: Sequence[tuple[ChildSync, IntegrationPlan, dict[Side, Connector]]] = (),
    ) -> None:
        match = {"left": integration.match_left, "right": integration.match_right}
        self.ctx = CycleContext(
            integration=integration, plan=plan, store=store, connectors=connectors,
            projection={s: Projection(plan.compared_fields(s), match[s]) for s in SIDES},
            summary=CycleSummary(integration.name), origin=origin, dry_run=dry_run,
            write=write and not dry_run, stop=stop)
        self.force_full = full
        self.children = children

    async def run(self) -> CycleSummary:
        ctx = self.ctx
        try:
            full = {s: self.force_full for s in SIDES}
            await self._resolve_intents(full)
            reader = Reader(ctx)
            for side in SIDES:
                await reader.read(side, full[side])
            await look_up_targets(ctx)
            self._resolve_intents_by_match()
            await self.writer().apply()
            await self.sync_children()
        except ConnectorError as e:
            # credentials refused, an app down or refusing a read past its
            # retries (a 5xx, or a 4xx from a wrong path): nothing to go on with
            ctx.summary.aborted = str(e)
        except CycleStopped:
            ctx.summary.stopped = True
        return ctx.summary

    async def sync_children(self, *, partial: bool = False) -> None:
        """The child passes, after the parents' writes are committed (new
        parent links exist): of the parents this cycle touched. *partial*:
        a round of chosen records (a webhook, a retry), not a cycle of the
        schedule: no full pass, and the children's cursors stay where the
        last cycle left them (a round reads a few parents only)."""
        ctx = self.ctx
        if ctx.dry_run:
            # A child's plan depends on the parents' writes (the links a
            # create makes), which a dry run does not make: said, not guessed.
            ctx.summary.children_not_previewed = [child.left for child, _, _ in self.children]
            return
        if not ctx.write:
            return
        for child, plan, connectors in self.children:
            await ChildPass(ctx, child, plan, connectors, full=self.force_full and not partial,
                            partial=partial).run()

    def writer(self, *, enforce_backoff: bool = True) -> Writer:
        """The writer of this cycle, once reading is done: it knows the open
        errors (which creates go alone, which records wait for their retry)."""
        ctx = self.ctx
        errors = ctx.store.errors(ctx.name, unresolved=True, limit=1_000_000)
        ctx.retries = RetryGate(ctx.integration.record_retries, errors, ctx.store.now(), enforce=enforce_backoff)
        ctx.errors_open = bool(errors)
        failed_creates = {(e.side, e.record_id) for e in errors if e.operation == "create"}
        return Writer(ctx, failed_creates)

    # --- open intents: creates whose outcome a crash left unknown ----------------

    async def _resolve_intents(self, full: dict[Side, bool]) -> None:
        for intent in self.ctx.store.open_intents(self.ctx.name):
            if intent.kind != "create":
                with self.ctx.store.transaction(self.ctx.name) as t:
                    t.resolve_intent(intent.id)  # updates and deletes are safe to redo
                continue
            target = self.ctx.connectors[intent.side]
            match_field = self.ctx.projection[intent.side].match_field
            if intent.match_key is None or "find" not in target.object.operations:
                full[intent.side] = True  # found by match key after a full read
                continue
            with structlog.contextvars.bound_contextvars(side=intent.side):
                found = await target.find(match_field, intent.match_key)
            with self.ctx.store.transaction(self.ctx.name) as t:
                if found:
                    record = found[0]
                    t.put_snapshots(self._created_pair(intent, record))
                    self.ctx.link(t, intent.side, record.id, intent.source_id)
                    # The create did land (its answer was lost, or reading the
                    # record back failed): its error is moot, and must not hold
                    # the pair back until a retry is due.
                    t.resolve_errors(intent.side, intent.source_id)
                t.resolve_intent(intent.id)

    def _created_pair(self, intent: Intent, record: Record) -> list[Snapshot]:
        """The snapshots of a pair whose create a crash left unconfirmed, found by its match key.

        The pair was in step when the create was made: the created record held what the intent
        says was written, and the source what its snapshot holds (the create was planned from it;
        intents are resolved before the cycle reads anything). So both are the pair's base, and
        only what changed since is a change. Without that base (both never synced) every field
        that differs was a conflict, and ``newest_wins`` compares whole records: an edit made on
        the created record since was lost whenever its source record was edited later, in another field.
        """
        projection = self.ctx.projection[intent.side]
        created = written(None, intent.side, record.id, intent.fields, projection, record.updated_at)
        out = [snapshot_for(intent.side, record, projection, created, 0) or created]  # dirty if edited since
        source: Side = "left" if intent.side == "right" else "right"
        source_snap = self.ctx.store.snapshots(self.ctx.name, source, [intent.source_id]).get(intent.source_id)
        if source_snap is not None and not source_snap.deleted:
            out.append(self.ctx.synced(source_snap))
        return out

    def _resolve_intents_by_match(self) -> None:
        for intent in self.ctx.store.open_intents(self.ctx.name):
            if intent.kind != "create" or intent.match_key is None:
                continue
            candidates = self.ctx.store.by_match_key(self.ctx.name, intent.side, intent.match_key)
            with self.ctx.store.transaction(self.ctx.name) as t:
                if candidates:
                    self.ctx.link(t, intent.side, candidates[0].record_id, intent.source_id)
                    t.resolve_errors(intent.side, intent.source_id)  # as above
                t.resolve_intent(intent.id)

