"""Applying: pair every dirty record, plan it, write in bulk, commit once.

Every dirty record is paired (by link, else by match key), planned
(:mod:`syncd.sync._plan`: mappings, rules, conflicts, create policy) and
written. A create or an update is recorded as an intent first (see
:mod:`syncd.sync._update_intents` for an update's); each write's result is
committed with the snapshots it produced, the written side's as what it
will read back (so the echo is not sent back). A failed write leaves its
record dirty and in the error table, due again as ``record_retries:``
says (:mod:`syncd.sync._retries`); until then the writer leaves it alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

import structlog

from syncd.connector import AuthError, ConnectorError, Record, TransportError
from syncd.state import ConflictRow, Intent, Side, Snapshot
from syncd.sync._context import SIDES, CycleContext, certainly_not_written, other, rebased
from syncd.sync._conflicts import Conflict
from syncd.sync._plan import PairPlan, SideView, SkipKind
from syncd.sync._snapshots import view, written
from syncd.sync._summary import PlannedWrite
from syncd.sync._update_intents import base_with_writes, update_intent

log = structlog.get_logger("syncd.sync")


@dataclass
class _Work:
    """One planned pair and what became of its writes."""

    plan: PairPlan
    snaps: dict[Side, Snapshot | None]
    results: dict[Side, Snapshot] = field(default_factory=dict)
    # The sides whose snapshot is committed already (a create's two, with its link)
    stored: set[Side] = field(default_factory=set)
    failed: bool = False
    unlink: bool = False  # the pair ends (a deletion handled with tag or set actions)
    intents: list[int] = field(default_factory=list)  # its updates' intents: resolved with its commit

    def on(self, side: Side) -> Snapshot:
        """The pair's record on *side*, where the plan says there is one
        (the source of a create, the target of an update)."""
        snap = self.snaps[side]
        if snap is None:
            raise LookupError(f"the pair has no {side} record")  # a planning bug, not bad input
        return snap



class Writer:
    def __init__(self, ctx: CycleContext, failed_creates: set[tuple[Side, str]],
                 unconfirmed: Mapping[tuple[Side, str], Intent] | None = None,
                 open_updates: Mapping[tuple[Side, str], list[int]] | None = None, *,
                 landing: set[tuple[Side, str]] | None = None,
                 unbased: Mapping[tuple[Side, str], list[Intent]] | None = None) -> None:
        self.ctx = ctx
        # (target side, source id) whose create failed before: sent alone
        self.failed_creates = failed_creates
        # (target side, source id) → the intent of a create whose outcome is
        # not known yet: never sent again before it is looked up
        self.unconfirmed: Mapping[tuple[Side, str], Intent] = unconfirmed or {}
        # (target side, target id) → open update intents a pair's commit ends: any a round of
        # chosen records finds (it resolves none: the next cycle would take their older values
        # over the base committed now), or a cycle's landed ones of a record with no base.
        self.open_updates: Mapping[tuple[Side, str], list[int]] = open_updates or {}
        # (side, id) of the records an update whose outcome is unknown may still write: their
        # pairs wait (a write now could be undone by it landing after)
        self.landing: set[tuple[Side, str]] = landing or set()
        # (side, id) → the landed updates of a record with no base yet: they move the base a
        # record paired with an unconfirmed create's source is given (see _with_base)
        self.unbased: Mapping[tuple[Side, str], list[Intent]] = unbased or {}
        delay = ctx.integration.delay_seconds
        # `delay:` a record changed after this is still settling: it waits
        self.quiet_after = ctx.store.now() - timedelta(seconds=delay) if delay > 0 else None

    async def apply(self) -> None:
        """Every dirty record of both sides, in batches, a checkpoint after each.

        *handled*: the records this pass took up (on their own side's turn,
        or as a partner) whose pair is not committed in step: a record left
        dirty (a failed write, a retry not due, ``delay:``) must not be
        taken up again on the other side's turn, nor paired twice. A pair
        committed in step and linked is clean, never yielded again, and
        leaves the set (:func:`_forget_in_step` says which others may): the
        set holds the few records left dirty or unlinked, not every record
        of an initial sync (at 1,000,000 contacts, two sets of a million
        ids: 150 MB).
        """
        handled: dict[Side, set[str]] = {"left": set(), "right": set()}
        for side in SIDES:
            for batch in self.ctx.store.dirty(self.ctx.name, side):
                todo = [s for s in batch if s.record_id not in handled[side]]
                if todo:
                    await self._apply_batch(side, todo, handled)
                    self.ctx.checkpoint()

    async def apply_records(self, side: Side, snapshots: list[Snapshot]) -> None:
        """These records of *side* (dirty or not) as one batch: planned,
        written and committed as a cycle does (a retry of chosen records)."""
        await self._apply_batch(side, snapshots, {"left": set(), "right": set()})

    async def _apply_batch(self, side: Side, batch: list[Snapshot], handled: dict[Side, set[str]]) -> None:
        """Plan a batch of dirty records, write in bulk, commit the results once."""
        o = other(side)
        partner_ids = self.ctx.store.linked(self.ctx.name, side, [s.record_id for s in batch])
        partners = self.ctx.store.snapshots(self.ctx.name, o, list(partner_ids.values()))
        matches = self._candidates(o, [s for s in batch if partner_ids.get(s.record_id) not in partners])
        works: list[_Work] = []
        settle: list[Snapshot] = []
        creating: set[tuple[Side, str]] = set()  # (target, match key) created in this batch
        # Looked up once a batch, not once a record: no retry gate to ask when
        # no error is open (an initial sync), no delay: to check when none is set.
        held_by = self.ctx.retries.held if self.ctx.retries is not None and self.ctx.retries.open else None
        quiet_after = self.quiet_after
        for snap in batch:
            if snap.record_id in handled[side]:
                continue
            partner = partners.get(partner_ids.get(snap.record_id, ""))
            if partner is None and matches and not snap.deleted and snap.match_key is not None:
                partner = self._match(matches, snap.match_key, handled[o])
                if partner is not None and self.unconfirmed:
                    snap, partner = self._with_base(snap, partner)
            handled[side].add(snap.record_id)
            if partner is not None:
                handled[o].add(partner.record_id)
            if self.landing and ((side, snap.record_id) in self.landing or (
                    partner is not None and (o, partner.record_id) in self.landing)):
                self.ctx.summary.retry_later += 1  # stays dirty: a cycle after the wait writes it
                continue
            held = held_by(side, snap, partner) if held_by is not None else None
            if held == "retry_later":
                self.ctx.summary.retry_later += 1  # stays dirty: a cycle after its retry is due takes it
                continue
            if held == "waiting_for_operator":
                self.ctx.summary.waiting_for_operator += 1
                continue
            if snap.deleted:
                work = await self._deleted(side, snap, partner)
                if work is not None:
                    works.append(work)
                continue
            if partner is not None and partner.deleted and partner.dirty:
                # The partner's deletion is the news, though this side came
                # first: deletions: decides, as if the partner's side had.
                work = await self._deleted(o, partner, snap)
                if work is not None:
                    works.append(work)
                continue
            if quiet_after is not None and self._settling(snap, partner):
                self.ctx.summary.delayed += 1  # stays dirty: a later cycle takes it
                continue
            if partner is None and snap.match_key is None:
                self.ctx.summary.no_match_key += 1  # nothing to match it by: never created blind
                settle.append(snap)
                continue
            if partner is not None and not self.ctx.write and not self.ctx.dry_run:
                # Read-only: a pair is taken as in step whatever its plan
                # says, and only a create's plan (no partner) decides
                # anything here; planning a million pairs for nothing was
                # a third of a read-only reset's time.
                works.append(_Work(PairPlan(), {side: snap, o: partner}))
                continue
            views: dict[Side, SideView | None] = {side: view(snap), o: None}
            if partner is not None:
                views[o] = view(partner)
            plan = self.ctx.plan.plan(views["left"], views["right"])
            if plan.create is not None and (plan.create, snap.record_id) in self.unconfirmed:
                self.ctx.summary.retry_later += 1  # its last create may land yet: looked up first
                continue
            if plan.create is not None:
                key = (plan.create, snap.match_key or "")
                if key in creating:
                    continue  # the same person twice on one side: linked once created
                creating.add(key)
            works.append(_Work(plan, {side: snap, o: partner}))
        if not self.ctx.write and not self.ctx.dry_run:
            self._take_as_synced(works, settle)
            _forget_in_step(handled, side, works, settle)
            return
        if settle and not self.ctx.dry_run:
            with self.ctx.store.transaction(self.ctx.name) as t:
                t.put_snapshots([self.ctx.synced(s) for s in settle])
        for target in SIDES:
            with structlog.contextvars.bound_contextvars(side=target):  # for the connector's events
                await self._create_all(target, [w for w in works if w.plan.create == target])
                await self._update_all(target, [
                    w for w in works
                    if not w.failed and w.plan.create != target and w.plan.writes(target)
                    and w.snaps[target] is not None])
        if not self.ctx.dry_run:
            self._commit(works)
            _forget_in_step(handled, side, [w for w in works if not w.failed], settle)

    async def update_pairs(self, pairs: list[tuple[PairPlan, Snapshot, Snapshot]]) -> int:
        """Write planned updates to linked (plan, left, right) pairs, in bulk,
        and commit them as :meth:`apply` does (a bulk sync's batch); returns
        how many pairs had a write fail (each one in the error table)."""
        works = [_Work(plan, {"left": left, "right": right}) for plan, left, right in pairs]
        for target in SIDES:
            with structlog.contextvars.bound_contextvars(side=target):
                await self._update_all(target, [w for w in works if not w.failed and w.plan.writes(target)])
        self._commit(works)
        return sum(w.failed for w in works)

    def _settling(self, *snaps: Snapshot | None) -> bool:
        """Whether a changed record of the pair changed less than `delay` ago."""
        quiet_after = self.quiet_after
        return quiet_after is not None and any(
            s is not None and s.dirty and s.updated_at is not None and s.updated_at > quiet_after
            for s in snaps)

    def _candidates(self, side: Side, unlinked: list[Snapshot]) -> dict[str, list[Snapshot]]:
        """For the match keys of a batch's unlinked records, the records of
        *side* each could pair with: not deleted, not linked, by record_id.
        Two reads for the whole batch, not two per record: on PostgreSQL
        each read is a round trip, and one per record made an initial sync
        12x slower than on SQLite. Nothing the batch's loop writes before
        its matching is done (a deletion's unlink or tombstone) touches a
        candidate that is not already ``taken``, so reading them up front
        finds what a read per record would."""
        keys = sorted({s.match_key for s in unlinked if s.match_key is not None and not s.deleted})
        if not keys:
            return {}
        found = self.ctx.store.by_match_keys(self.ctx.name, side, keys)
        linked = self.ctx.store.linked(
            self.ctx.name, side, [c.record_id for snaps in found.values() for c in snaps])
        return {key: [c for c in snaps if c.record_id not in linked] for key, snaps in found.items()}

    @staticmethod
    def _match(candidates: dict[str, list[Snapshot]], key: str, taken: set[str]) -> Snapshot | None:
        """The first candidate for *key* no record of this cycle has paired with yet."""
        for candidate in candidates.get(key, ()):
            if candidate.record_id not in taken:
                return candidate
        return None

    def _take_as_synced(self, works: list[_Work], settle: list[Snapshot]) -> None:
        """Read-only (reset --read-only): both sides are taken as in step as
        they are; only changes made from now on are synced."""
        # The batch in one call of each, not a call of each per pair: on
        # PostgreSQL each call is a round trip (there were three a pair).
        with self.ctx.store.transaction(self.ctx.name) as t:
            t.put_snapshots([self.ctx.synced(s) for s in settle]
                            + [self.ctx.synced(s) for w in works for s in w.snaps.values() if s is not None])
            t.link_many([(left.record_id, right.record_id) for w in works
                         if (left := w.snaps["left"]) is not None and (right := w.snaps["right"]) is not None])
        self.ctx.summary.unchanged += len(works)

    async def _create_all(self, target: Side, works: list[_Work]) -> None:
        if not works:
            return
        source = other(target)
        if self.ctx.dry_run:
            for w in works:
                src = w.snaps[source]
                self.ctx.summary.writes.append(PlannedWrite(
                    target, "create", None, src.record_id if src else "", w.plan.writes(target)))
                self.ctx.summary.created[target] += 1
            return
        projection = self.ctx.projection[target]
        with self.ctx.store.transaction(self.ctx.name) as t:
            # Committed before any request is sent (crash safety): the batch's
            # intents in one statement, not one per record.
            intents = t.add_intents([
                Intent(side=target, kind="create", source_id=w.on(source).record_id,
                       fields=projection.stored(w.plan.writes(target)), match_key=w.on(source).match_key,
                       source_seen=w.on(source).seen)
                for w in works
            ])
        # A record whose create failed before goes alone: in a batch, one bad
        # record the API rejects with a 5xx would sink its whole batch again
        # on every cycle.
        solo = [(target, w.on(source).record_id) in self.failed_creates for w in works]
        by_index: dict[int, Record | ConnectorError] = {}
        groups = [[i for i, alone in enumerate(solo) if not alone]]
        groups += [[i] for i, alone in enumerate(solo) if alone]
        for group in groups:
            if group:
                items = [works[i].plan.writes(target) for i in group]
                by_index.update(zip(group, await _unknown_outcome_is_a_result(
                    self.ctx.connectors[target].create_many(items), len(items))))
        results = [by_index[i] for i in range(len(works))]
        # The created records, their links and the intents' end in one
        # transaction, right after the call: the window a crash could hit
        # is covered by the intents, resolved by a lookup next cycle.
        shared = _shared(results)
        with self.ctx.store.transaction(self.ctx.name) as t:
            # Written in one call each at the end (one statement on SQLite, one
            # round trip on PostgreSQL): the same transaction, so the same
            # all-or-nothing as linking and resolving record by record.
            created: list[Snapshot] = []
            sources: list[tuple[str, str]] = []  # (id, hash) of each created record's source, as read
            links: list[tuple[str, str]] = []
            resolved: list[int] = []
            for w, intent_id, result in zip(works, intents, results):
                src = w.on(source)
                if isinstance(result, ConnectorError):
                    w.failed = True
                    self.ctx.record_failure(t, target, src.record_id, "create", result,
                                            shared=id(result) in shared)
                    if certainly_not_written(result):
                        resolved.append(intent_id)
                    continue
                fields = w.plan.writes(target)
                snap = written(None, target, result.id, {**fields, **result.fields}, projection,
                               result.updated_at)
                # The pair is in step as of the create, on both sides (a create writes nothing
                # to its source), in the transaction of its link: a kill before the batch's
                # commit must not leave the source never synced, or an edit of the created record
                # before the next cycle would be a conflict of whole records (newest_wins).
                created.append(snap)
                sources.append((src.record_id, src.hash))
                links.append((result.id, src.record_id) if target == "left" else (src.record_id, result.id))
                self.ctx.resolve_pair_errors(t, {target: None, source: src})
                resolved.append(intent_id)
                w.results[target] = snap
                w.stored.update((target, source))
                self.ctx.summary.created[target] += 1
            t.put_snapshots(created, new=True)  # records the app has just made
            t.mark_synced(source, sources)
            t.link_many(links)
            t.resolve_intents(resolved)
        self._abort_if_unreachable(results)

    async def _update_all(self, target: Side, works: list[_Work]) -> None:
        if not works:
            return
        source = other(target)
        if self.ctx.dry_run:
            for w in works:
                src, dst = w.snaps[source], w.snaps[target]
                self.ctx.summary.writes.append(PlannedWrite(
                    target, "update", dst.record_id if dst else None, src.record_id if src else "",
                    w.plan.writes(target)))
                self.ctx.summary.updated[target] += 1
            return
        projection = self.ctx.projection[target]
        # An update with no record on the other side (a rule's write to the source of a create
        # in the same batch) has none: the create's intent gives that pair its base.
        intended = [w for w in works if w.snaps[source] is not None]
        with self.ctx.store.transaction(self.ctx.name) as t:
            # Committed before any request is sent, as a create's: a crash before the commit
            # must not make the target's new values look like an edit of it (see
            # syncd.sync._update_intents). One statement for the batch.
            intents = t.add_intents([update_intent(
                target, w.on(target), w.on(source).record_id, w.plan.writes(target), projection)
                for w in intended])
        for w, intent_id in zip(intended, intents):
            w.intents.append(intent_id)
        results: list[Record | None | ConnectorError]
        try:
            results = await self.ctx.connectors[target].update_many(
                [(w.on(target).record_id, w.plan.writes(target)) for w in works])
        except (AuthError, TransportError) as e:
            # Met by the first request: nothing was done (one met later is the result of the
            # items not done, and those done keep theirs: see Connector.update_many).
            results = [e] * len(works)
        failures = [(w, r) for w, r in zip(works, results) if isinstance(r, ConnectorError)]
        if failures:
            shared = _shared(results)
            with self.ctx.store.transaction(self.ctx.name) as t:
                for w, error in failures:
                    w.failed = True
                    if not _unreachable(error):  # the app refusing us, or down: the cycle's failure, not the record's
                        self.ctx.record_failure(t, target, (w.snaps[source] or w.on(target)).record_id,
                                                "update", error, shared=id(error) in shared)
                # A refusal wrote nothing; any other failure may have (a timeout, a 5xx): its
                # intent stays open, and the next cycle looks at what the target holds.
                t.resolve_intents([i for w, error in failures if certainly_not_written(error) for i in w.intents])
        for w, result in zip(works, results):
            if not isinstance(result, ConnectorError):
                dst = w.on(target)
                w.results[target] = written(dst, target, dst.record_id, w.plan.writes(target),
                                            self.ctx.projection[target])
                self.ctx.summary.updated[target] += 1
        self._abort_if_unreachable(results)

    def _commit(self, works: list[_Work]) -> None:
        """Every pair whose writes all succeeded: in step as of now."""
        written_now: list[Snapshot] = []
        as_read: dict[Side, list[tuple[str, str]]] = {"left": [], "right": []}
        for w in works:
            if w.failed:
                continue
            for s in SIDES:
                snap = w.snaps[s]
                if s in w.stored:
                    continue  # a created record's snapshot was committed with its link: not again
                if s in w.results:
                    written_now.append(w.results[s])
                elif snap is not None:
                    # In step as read: synced = seen in the store, its values
                    # not sent again (unless they changed since: its hash).
                    as_read[s].append((snap.record_id, snap.hash))
        with self.ctx.store.transaction(self.ctx.name) as t:
            # The batch's snapshots in one call per kind (one round trip on
            # PostgreSQL, not one per pair); nothing below reads them.
            t.put_snapshots(written_now)
            for s in SIDES:
                t.mark_synced(s, as_read[s])
            t.resolve_intents([i for w in works if not w.failed for i in w.intents])
            if self.open_updates:
                t.resolve_intents([i for w in works if not w.failed for s, snap in w.snaps.items()
                                   if snap is not None for i in self.open_updates.get((s, snap.record_id), ())])
            for w in works:
                if w.failed:
                    continue  # its source stays dirty; the next cycle retries
                self.ctx.resolve_pair_errors(t, w.snaps)
                left, right = w.snaps["left"], w.snaps["right"]
                if w.unlink:
                    for s, snap in w.snaps.items():
                        if snap is not None and snap.deleted:
                            t.unlink(s, snap.record_id)
                elif left is not None and right is not None:
                    t.link(left.record_id, right.record_id)
                    if self.unconfirmed:
                        for target in SIDES:
                            src = right if target == "left" else left
                            intent = self.unconfirmed.get((target, src.record_id))
                            if intent is not None:
                                t.resolve_intent(intent.id)  # paired by match key: its create is moot
                for c in w.plan.conflicts:
                    row = self._conflict_row(c, w.snaps)
                    # The values stay in the state store (syncd status): a log holds no contact data.
                    log.info("conflict settled", left=row.left_id, right=row.right_id, field=row.field,
                             winner=row.winner, rule=row.rule)
                    t.add_conflict(row)
                self.ctx.summary.conflicts += len(w.plan.conflicts)
                # Rule skips and create-policy skips apart; a deletion skip
                # is neither (the pair is unchanged: deletions: decides).
                if w.plan.skipped:  # most plans skip nothing: no two scans of an empty list
                    self.ctx.summary.skipped += len(w.plan.skipped_by(SkipKind.RULE))
                    self.ctx.summary.not_created += len(w.plan.skipped_by(SkipKind.CREATE_POLICY))
                if not w.results:
                    self.ctx.summary.unchanged += 1

    def _with_base(self, snap: Snapshot, partner: Snapshot) -> tuple[Snapshot, Snapshot]:
        """*snap* and the *partner* its match key found, with the base of their pair when one is
        the source of an unconfirmed create and the other most likely what it made (the create
        landed late, or its answer was lost): see :func:`rebased`. Two records never synced
        otherwise, and ``newest_wins`` took the whole late record, made after an edit of its
        source, over that edit."""
        for source, target in ((snap, partner), (partner, snap)):
            intent = self.unconfirmed.get((target.side, source.record_id))
            if intent is not None:
                pair = {s.side: s for s in rebased(intent, target, source, None, self.ctx.projection[target.side])}
                return self._with_writes(pair.get(snap.side, snap)), self._with_writes(pair.get(partner.side, partner))
        return snap, partner

    def _with_writes(self, snap: Snapshot) -> Snapshot:
        """*snap* with the fields a landed update wrote to it, before it had a base, in its base."""
        landed = self.unbased.get((snap.side, snap.record_id))
        if not landed or snap.synced is None:
            return snap
        return base_with_writes(landed, snap) or snap

    async def _deleted(self, side: Side, snap: Snapshot, partner: Snapshot | None) -> _Work | None:
        """A record gone from ``side``: what ``deletions:`` says, once."""
        deletions = self.ctx.integration.deletions
        target = other(side)
        if deletions is None or deletions.side not in (side, "both") or partner is None:
            if not self.ctx.dry_run:  # never linked, or not declared: nothing to do
                with self.ctx.store.transaction(self.ctx.name) as t:
                    t.put_snapshots([self.ctx.synced(snap)])
            return None
        plan = self.ctx.plan.deletion(view(snap), view(partner), side=side)
        if plan.delete != target:
            work = _Work(plan, {side: snap, target: partner})
            work.unlink = True
            return work  # tag or set actions: an update of the partner
        if self.ctx.dry_run:
            self.ctx.summary.writes.append(PlannedWrite(target, "delete", partner.record_id, snap.record_id, {}))
            self.ctx.summary.deleted[target] += 1
            return None
        if self.ctx.write:
            try:
                with structlog.contextvars.bound_contextvars(side=target):
                    await self.ctx.connectors[target].delete(partner.record_id)
            except ConnectorError as e:
                with self.ctx.store.transaction(self.ctx.name) as t:
                    self.ctx.record_failure(t, target, snap.record_id, "delete", e)
                self._abort_if_unreachable([e])
                return None
            self.ctx.summary.deleted[target] += 1
        with self.ctx.store.transaction(self.ctx.name) as t:
            t.unlink(side, snap.record_id)
            t.put_snapshots([self.ctx.synced(snap), self.ctx.synced(partner, deleted=True)])
        return None

    @staticmethod
    def _abort_if_unreachable(results: Iterable[object]) -> None:
        for result in results:
            if _unreachable(result):
                assert isinstance(result, ConnectorError)
                raise result  # the app is unreachable or refuses us: stop the cycle

    @staticmethod
    def _conflict_row(c: Conflict, snaps: dict[Side, Snapshot | None]) -> ConflictRow:
        left, right = snaps["left"], snaps["right"]
        return ConflictRow(
            left_id=left.record_id if left else "", right_id=right.record_id if right else "",
            field=f"{c.left_field} -> {c.right_field}", left_value=c.left_value,
            right_value=c.right_value, winner=c.winner, rule=c.rule)


def _forget_in_step(handled: dict[Side, set[str]], side: Side, works: Iterable[_Work],
                    settle: Iterable[Snapshot]) -> None:
    """The records of *side*'s batch whose pairs were just committed in step
    leave *handled* (see :meth:`Writer.apply`) where that changes nothing:
    a pair now linked (clean, never yielded as dirty again; linked records
    are no match candidates); on the last side's turn, any record of that
    side (no later turn reads it, nor takes it as a candidate); a record
    without a match key (never a candidate). A record left unlinked on the
    first side's turn stays: it must not become the candidate of a record
    of the other side that the old writer would not have paired with it."""
    last = side == SIDES[-1]
    for w in works:
        linked = not w.unlink and (bool(w.stored) or all(w.snaps[s] is not None for s in SIDES))
        for s, snap in w.snaps.items():
            if snap is not None and (linked or (last and s == side)):
                handled[s].discard(snap.record_id)
    for snap in settle:
        handled[snap.side].discard(snap.record_id)


def _shared(results: Iterable[object]) -> set[int]:
    """The ids of the errors that are the result of more than one item: the
    whole request failed (a batch answered 5xx, an unknown outcome), not
    those records themselves."""
    counts = Counter(id(r) for r in results if isinstance(r, ConnectorError))
    return {key for key, n in counts.items() if n > 1}


def _unreachable(result: object) -> bool:
    """Whether a write's result says the app refuses us or cannot be reached: the cycle stops."""
    return isinstance(result, AuthError) or (isinstance(result, TransportError) and not result.outcome_unknown)


R = TypeVar("R")


async def _unknown_outcome_is_a_result(
        call: Awaitable[list[R | ConnectorError]], count: int) -> list[R | ConnectorError]:
    """A write call's results; a write that timed out and was not resent
    (its outcome unknown) is the result of every item of the call, so the
    cycle goes on and the next one looks those records up."""
    try:
        return await call
    except TransportError as e:
        if not e.outcome_unknown:
            raise
        return [e] * count
