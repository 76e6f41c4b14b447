"""One cycle of one integration: read both sides, then plan and apply writes.

1. **Resolve** the create intents a crash left open: the record may exist
   on the target already; it is found (``find``, or by match key after a
   full read) and linked instead of created again. An open update intent
   waits for the read: the written fields its target holds are taken as in
   step there (:mod:`syncd.sync._update_intents`).
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
   policy) and written. A create or update is recorded as an intent first; each
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
from datetime import datetime

import structlog

from syncd.config import ChildSync, Integration
from syncd.connector import Connector, ConnectorError
from syncd.state import Intent, Origin, Side, Snapshot, StateStore
from syncd.sync._children import ChildPass
from syncd.sync._context import SIDES, CycleContext
from syncd.sync._write_only import look_up_targets
from syncd.sync._plan import IntegrationPlan
from syncd.sync._reading import Reader
from syncd.sync._retries import RetryGate
from syncd.sync._snapshots import Projection, snapshot_for
from syncd.sync._summary import CycleStopped, CycleSummary
from syncd.sync._update_intents import OpenUpdates, rebase_updates
from syncd.sync._writing import Writer

log = structlog.get_logger("syncd.sync")


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
        # The sources of the intents left to the full read, as they were before it: the base of
        # their pair for an intent recorded before intents kept their source's values (see
        # rebased in syncd.sync._context), which the read may change.
        self._sources_before: dict[int, Snapshot | None] = {}
        # The create intents left open, by (target, source id): see _may_still_land
        self._deferred: dict[tuple[Side, str], Intent] = {}
        self._intents_resolved = False  # every other open intent: resolved by this cycle's start
        # When each write whose outcome is unknown may no longer land, by (target, source id)
        self._waiting: dict[tuple[Side, str], datetime] = {}
        # The update intents left open once both sides are read (see syncd.sync._update_intents)
        self._updates = OpenUpdates()

    async def run(self) -> CycleSummary:
        ctx = self.ctx
        try:
            full = {s: self.force_full for s in SIDES}
            await self._resolve_intents(full)
            reader = Reader(ctx)
            for side in SIDES:
                await reader.read(side, full[side])
            await look_up_targets(ctx)
            self._resolve_after_read()
            self._intents_resolved = True
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
        # A create that failed goes alone (its batch's failure may have been its own); one a crash
        # cut short (no attempt counted: see CycleContext.waiting_lookups) did not fail.
        failed_creates = {(e.side, e.record_id) for e in errors if e.operation == "create" and e.attempts > 0}
        # A create still unconfirmed (deferred above, or left open for the
        # next cycle when no cycle resolved it: a webhook's round, a retry)
        # is never sent again until its record is looked up.
        if self._intents_resolved:
            unbased = self._updates.unbased
            return Writer(ctx, failed_creates, self._deferred,
                          {key: [i.id for i in group] for key, group in unbased.items()},
                          landing=self._updates.landing, unbased=unbased)
        intents = ctx.store.open_intents(ctx.name)
        # A round of chosen records (a webhook's, a retry) resolves no update intent: the pair of
        # one that may still land waits (see syncd.sync._update_intents), and the commit of any
        # other's pair ends it.
        updates = [i for i in intents if i.kind == "update" and i.target_id is not None]
        waiting = ctx.waiting_lookups(updates) if updates else {}
        landing = {(i.side, i.target_id or "") for i in updates if (i.side, i.source_id) in waiting}
        open_updates: dict[tuple[Side, str], list[int]] = {}
        for i in updates:
            open_updates.setdefault((i.side, i.target_id or ""), []).append(i.id)
        return Writer(ctx, failed_creates, {(i.side, i.source_id): i for i in intents if i.kind == "create"},
                      open_updates, landing=landing)

    # --- open intents: creates whose outcome a crash left unknown ----------------

    async def _resolve_intents(self, full: dict[Side, bool]) -> None:
        intents = self.ctx.store.open_intents(self.ctx.name)
        waiting = self._waiting = self.ctx.waiting_lookups(intents)
        for intent in intents:
            if intent.kind == "update":
                continue  # once both sides are read: _resolve_after_read
            if intent.kind != "create":
                with self.ctx.store.transaction(self.ctx.name) as t:
                    t.resolve_intent(intent.id)  # a deletion is safe to redo
                continue
            if self._may_still_land(intent, waiting):
                self._deferred[(intent.side, intent.source_id)] = intent
                continue
            target = self.ctx.connectors[intent.side]
            match_field = self.ctx.projection[intent.side].match_field
            if intent.match_key is None or "find" not in target.object.operations:
                self._by_full_read(intent, full)
                continue
            try:
                with structlog.contextvars.bound_contextvars(side=intent.side):
                    found = await target.find(match_field, intent.match_key)
            except ConnectorError as e:
                if "list" not in target.object.operations:
                    raise  # a write-only target: nothing else can tell whether the create landed
                # One failed lookup need not stop the whole cycle: a full read of the target finds
                # the record as well, by its match key.
                log.warning("looking up a create a crash left unconfirmed failed: a full read will",
                            side=intent.side, source=intent.source_id, error=str(e))
                self._by_full_read(intent, full)
                continue
            with self.ctx.store.transaction(self.ctx.name) as t:
                if found:
                    record = found[0]
                    snap = snapshot_for(intent.side, record, self.ctx.projection[intent.side], None, 0)
                    assert snap is not None  # never None without an old snapshot
                    t.put_snapshots(self.ctx.recovered_pair(intent, snap, self._source(intent)))
                    self.ctx.link(t, intent.side, record.id, intent.source_id)
                    # The create did land (its answer was lost, or reading the
                    # record back failed): its error is moot, and must not hold
                    # the pair back until a retry is due.
                    t.resolve_errors(intent.side, intent.source_id, writes=True)
                t.resolve_intent(intent.id)

    def _may_still_land(self, intent: Intent, waiting: dict[tuple[Side, str], datetime]) -> bool:
        """Whether *intent*'s lookup must wait: the app may still be making its record
        (see :meth:`CycleContext.waiting_lookups`)."""
        after = waiting.get((intent.side, intent.source_id))
        if after is None:
            return False
        log.info("a create whose outcome is unknown is looked up later: the app may still be making it",
                 side=intent.side, source=intent.source_id, after=after.isoformat())
        return True

    def _source(self, intent: Intent) -> Snapshot | None:
        side: Side = "left" if intent.side == "right" else "right"
        return self.ctx.store.snapshots(self.ctx.name, side, [intent.source_id]).get(intent.source_id)

    def _by_full_read(self, intent: Intent, full: dict[Side, bool]) -> None:
        """*intent*'s created record is looked for by match key once its side is read in full."""
        full[intent.side] = True
        self._sources_before[intent.id] = self._source(intent)

    def _is_deferred(self, intent: Intent) -> bool:
        deferred = self._deferred.get((intent.side, intent.source_id))
        return deferred is not None and deferred.id == intent.id

    def _resolve_after_read(self) -> None:
        """The open intents both sides' reads tell the outcome of: the creates left to a full
        read, found by match key, then the updates (see :mod:`syncd.sync._update_intents`: a
        landed update of a created record's source moves the base the create gives it)."""
        intents = self.ctx.store.open_intents(self.ctx.name)
        self._resolve_creates_by_match(intents)
        self._updates = rebase_updates(self.ctx.store, self.ctx.name, intents, self._waiting)

    def _resolve_creates_by_match(self, intents: list[Intent]) -> None:
        for intent in intents:
            if intent.kind != "create" or intent.match_key is None or self._is_deferred(intent):
                continue
            candidates = self.ctx.store.by_match_key(self.ctx.name, intent.side, intent.match_key)
            with self.ctx.store.transaction(self.ctx.name) as t:
                if candidates:
                    source = self._sources_before.get(intent.id, None)
                    t.put_snapshots(self.ctx.recovered_pair(intent, candidates[0], source))
                    self.ctx.link(t, intent.side, candidates[0].record_id, intent.source_id)
                    t.resolve_errors(intent.side, intent.source_id, writes=True)  # as above
                t.resolve_intent(intent.id)
