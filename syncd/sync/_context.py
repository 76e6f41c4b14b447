"""What the parts of one cycle share: the integration, its store and connectors."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import structlog

from syncd.config import Integration
from syncd.connector import ApiError, Connector, ConnectorError
from syncd.state import Intent, Origin, RecordErrorRow, Side, Snapshot, StateStore, Transaction
from syncd.sync._plan import IntegrationPlan
from syncd.sync._retries import RetryGate, late_lookups
from syncd.sync._snapshots import Projection, written
from syncd.sync._summary import CycleStopped, CycleSummary

log = structlog.get_logger("syncd.sync")

SIDES: tuple[Side, Side] = ("left", "right")
# Re-read a little before the cursor: an app whose timestamps have second
# precision can commit a change stamped with the cursor's own second after
# syncd read up to it. Re-reading is cheap; an unchanged record is skipped.
CURSOR_OVERLAP = timedelta(seconds=1)


def other(side: Side) -> Side:
    return "right" if side == "left" else "left"


def rebased(intent: Intent, target: Snapshot, source: Snapshot | None, source_before: Snapshot | None,
            projection: Projection) -> list[Snapshot]:
    """The snapshots of the pair of an unconfirmed create (*intent*) once its created record
    (*target*, as read) is found, with the base the pair had when the create was made.

    The pair was in step then: the created record held what the intent says was written, the
    source what it held when the create was planned (``intent.source_seen``; *source_before*'s
    values for an intent that does not say). Only what changed since is a change. Without that
    base (both never synced) every field that differs was a conflict, and ``newest_wins`` compares
    whole records: an edit made on either record since was lost whenever the other was stamped
    later, the late-landing create itself included. Nor may the source's base be what it holds
    now: an edit read while the create's lookup waited would look in step, and stay unsynced.
    """
    created = written(None, intent.side, target.record_id, intent.fields, projection)
    out = [replace(target, synced=created.synced, dirty=target.deleted or target.seen != created.synced)]
    base = intent.source_seen
    if base is None and source_before is not None and not source_before.deleted:
        base = source_before.seen
    if source is not None and base is not None:
        out.append(replace(source, synced=base, dirty=source.deleted or source.seen != base))
    return out


def certainly_not_written(error: ConnectorError) -> bool:
    """A write refused before anything was stored: a 4xx other than 409 Conflict."""
    return isinstance(error, ApiError) and 400 <= error.status < 500 and error.status != 409


def cut_short_message(timeout: float, kind: str = "create") -> str:
    """The error of a create or update a crash, or a state store that failed
    to record its answer, cut short (see :meth:`CycleContext.waiting_lookups`)."""
    why = ("its outcome was never recorded: syncd stopped while it was being sent (a crash or a kill), or the "
           "state store could not commit its answer (a full disk)")
    if kind == "update":
        return (f"update cut short: {why}, so whether the app applied it is unknown; the pair is written again "
                f"once the app has had the connector's timeout ({timeout:g} s) to finish it")
    return (f"create cut short: {why}, so whether the app made the record is unknown; it is looked up once "
            f"the app has had the connector's timeout ({timeout:g} s) to finish it")


@dataclass
class CycleContext:
    integration: Integration
    plan: IntegrationPlan
    store: StateStore
    connectors: dict[Side, Connector]
    projection: dict[Side, Projection]
    summary: CycleSummary
    origin: Origin = "scheduled"
    dry_run: bool = False
    write: bool = True  # False: read and record state only (reset --read-only, catch_up: skip)
    stop: Callable[[], bool] | None = None  # asked at each checkpoint: end the cycle there?
    retries: RetryGate | None = None  # the open write errors, set once reading is done
    # Whether the integration may have an open record error: False only once
    # the writer has seen none (and none failed since), when resolving a
    # synced pair's errors has nothing to do: an initial sync of 100,000
    # pairs then makes 400,000 fewer statements.
    errors_open: bool = True
    # The records read as changed in this cycle, by side: whose children the
    # child pass reads (kept only for an integration with children:).
    touched: dict[Side, set[str]] = field(default_factory=lambda: {"left": set(), "right": set()})

    def checkpoint(self) -> None:
        """Called after each commit: end the cycle here if a stop was asked for."""
        if self.stop is not None and self.stop():
            raise CycleStopped

    @property
    def name(self) -> str:
        return self.integration.name

    @staticmethod
    def link(t: Transaction, side: Side, record_id: str, partner_id: str) -> None:
        if side == "left":
            t.link(record_id, partner_id)
        else:
            t.link(partner_id, record_id)

    @staticmethod
    def synced(snap: Snapshot, deleted: bool | None = None) -> Snapshot:
        """The snapshot as in step: what was seen is now what was synced."""
        return Snapshot(side=snap.side, record_id=snap.record_id, seen=snap.seen, synced=snap.seen,
                        match_key=snap.match_key, hash=snap.hash, updated_at=snap.updated_at,
                        deleted=snap.deleted if deleted is None else deleted, dirty=False,
                        generation=snap.generation)

    def in_step(self, t: Transaction, snaps: Mapping[Side, Snapshot | None], results: Mapping[Side, Snapshot]) -> None:
        """A pair whose writes all succeeded: each side's snapshot as written
        (*results*) or as read, now synced, and its errors resolved."""
        t.put_snapshots(self.in_step_snapshots(snaps, results))
        self.resolve_pair_errors(t, snaps)

    def recovered_pair(self, intent: Intent, target: Snapshot, source_before: Snapshot | None) -> list[Snapshot]:
        """The snapshots of a pair whose create a crash or a lost answer left unconfirmed, once
        the created record (*target*, as read now) is found, with the pair's base (see
        :func:`rebased`); *source_before*: the source's snapshot as it was before this cycle read
        anything, the base of an intent that does not say what its source held."""
        source = other(intent.side)
        now = self.store.snapshots(self.name, source, [intent.source_id]).get(intent.source_id)
        return rebased(intent, target, now, source_before, self.projection[intent.side])

    @classmethod
    def in_step_snapshots(cls, snaps: Mapping[Side, Snapshot | None],
                          results: Mapping[Side, Snapshot]) -> list[Snapshot]:
        """What :meth:`in_step` writes of a pair's snapshots (a batch puts
        many pairs' in one call: one round trip on PostgreSQL)."""
        out: list[Snapshot] = []
        for s in SIDES:
            snap = snaps[s]
            if s in results:
                out.append(results[s])
            elif snap is not None:
                out.append(cls.synced(snap))
        return out

    def waiting_lookups(self, intents: Sequence[Intent]) -> dict[tuple[Side, str], datetime]:
        """Of these open intents, the creates and updates whose outcome is unknown while the app
        may still be carrying them out (see :func:`late_lookups`): when a create may be looked
        up, or an update's pair written again, by (target, source id).

        An intent with no error was cut short by a crash (its intent is written before the
        request is sent, and resolved, or given an error, when its answer is handled; a cycle
        holds its integration's lock). The app may have been carrying it out when syncd
        stopped, or its search may not show a new record yet: it gets an error now, an unknown
        outcome like a timeout's, and waits as theirs does. Were a cut-short update's pair
        written again at once, the late update could land after that write and undo it. The
        error is not an attempt of ``record_retries`` (a crash is not the record's fault)."""
        open_writes = [i for i in intents if i.kind in ("create", "update")]
        if not open_writes:
            return {}  # every cycle asks: no read of the errors when no write is open
        now = self.store.now()
        timeouts = {s: c.spec.timeout for s, c in self.connectors.items()}
        errors = self.store.errors(self.name, limit=1_000_000)
        by_key = {(e.side, e.record_id, e.operation): e for e in errors}
        cut_short: list[RecordErrorRow] = []
        for i in open_writes:
            key = (i.side, i.source_id, i.kind)
            old = by_key.get(key)
            if old is not None and (old.at is None or i.created_at is None or old.at >= i.created_at):
                continue  # its own error (or the cut-short one a cycle gave it): its outcome is that error's
            # An error older than the intent is an earlier attempt's: this retry was cut short, and
            # its wait starts now. The store counts it as one more attempt of that error (a retry
            # was sent); a write cut short on its first attempt counts none.
            row = RecordErrorRow(i.side, i.source_id, i.kind, cut_short_message(timeouts[i.side], i.kind),
                                 attempts=0, origin=self.origin, at=now,
                                 next_retry_at=now + timedelta(seconds=timeouts[i.side]))
            by_key[key] = row  # two intents of one record: one error
            cut_short.append(row)
        if cut_short and not self.dry_run:
            with self.store.transaction(self.name) as t:
                for row in cut_short:
                    log.debug("a write was cut short", side=row.side, record=row.record_id,
                              operation=row.operation)
                    t.add_error(row)
            # One line, not one a record: a crash in a batch of 500 leaves 500.
            log.warning("writes cut short (a crash, or a state store that could not commit): their outcome "
                        "is unknown; each create is looked up, "
                        "and each update's pair written again, once the app has had the connector's "
                        "timeout (syncd errors lists them)",
                        count=len(cut_short), timeout=max(timeouts[row.side] for row in cut_short))
            self.errors_open = True
        after = late_lookups([*errors, *cut_short], timeouts)
        return {key: when for key, when in after.items() if when > now}

    def resolve_pair_errors(self, t: Transaction, snaps: Mapping[Side, Snapshot | None]) -> None:
        if not self.errors_open:
            return
        for s in SIDES:
            snap = snaps[s]
            if snap is not None:
                # Its read errors are (s, id); the errors of writing its values to the
                # other side are (other(s), id), by operation: a record of the other side
                # may have the same id, and its read errors are not this pair's.
                t.resolve_errors(s, snap.record_id, writes=False)
                t.resolve_errors(other(s), snap.record_id, writes=True)

    def record_failure(self, t: Transaction, target: Side, record_id: str, operation: str,
                       error: ConnectorError, *, shared: bool = False) -> None:
        """A write of *record_id*'s values to *target* failed: an error row,
        due again as ``record_retries:`` says (*shared*: see :meth:`RetryGate.failed`)."""
        self.summary.errors += 1
        self.errors_open = True
        status = getattr(error, "status", None) or None
        attempts, due = (self.retries.failed(target, record_id, operation, shared=shared)
                         if self.retries is not None else (1, self.store.now()))
        log.warning("write failed", side=target, record=record_id, operation=operation,
                    status=status, error=str(error), attempts=attempts,
                    next_retry_at=due.isoformat() if due is not None else None)
        if due is None:
            log.warning("record waits for an operator: its automatic retries are used up", side=target,
                        record=record_id, operation=operation, attempts=attempts,
                        retry=f"syncd errors {self.name} --retry-all")
        t.add_error(RecordErrorRow(target, record_id, operation, str(error), status=status, origin=self.origin,
                                   next_retry_at=due))
