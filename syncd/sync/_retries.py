"""When a record that could not be written is tried again: backoff, bounded.

A failed write is kept as a record error (``syncd errors``) with the time
its next automatic retry is due: ``record_retries.backoff_initial`` after
the first failure, ``backoff_factor`` times longer after each further one,
at most ``backoff_max``. A cycle's writer leaves the record alone (dirty,
counted as ``retry_later``) until then. After ``attempts`` failures it is
not due at all: it waits for an operator (``waiting_for_operator``), whose
``--retry`` writes it whatever its count. A record that changes again at
its source is due at once (the reader says so, :meth:`Transaction.retry_due`):
the data, or the app, may have been fixed.

Error rows are keyed by the side written to and the *source* record's id
(the record whose values were being written), so a dirty record of side S
is held by the errors of (other(S), its id).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Literal

from syncd.config import RecordRetries
from syncd.state import WRITE_OPERATIONS, RecordErrorRow, Side, Snapshot

__all__ = ["WRITE_OPERATIONS", "Hold", "RetryGate", "late_lookups", "next_retry_at"]

Hold = Literal["retry_later", "waiting_for_operator"]


def next_retry_at(retries: RecordRetries, attempts: int, now: datetime) -> datetime | None:
    """When a record that has now failed *attempts* times is due again; None
    when its automatic retries are used up (it waits for an operator)."""
    if attempts >= retries.attempts:
        return None
    wait = retries.backoff_initial_seconds * retries.backoff_factor ** (attempts - 1)
    return now + timedelta(seconds=min(wait, retries.backoff_max_seconds))


class RetryGate:
    """The open write errors of one integration as a cycle starts writing.

    *enforce* False (an operator's retry) writes every record, due or not;
    the counts and the next due time are kept the same way.
    """

    def __init__(self, retries: RecordRetries, errors: Iterable[RecordErrorRow], now: datetime,
                 *, enforce: bool = True) -> None:
        self.retries = retries
        self.now = now
        self.enforce = enforce
        self._errors: dict[tuple[Side, str, str], RecordErrorRow] = {}
        self._by_record: dict[tuple[Side, str], list[RecordErrorRow]] = {}
        for e in errors:
            if e.operation in WRITE_OPERATIONS and e.resolved_at is None:
                self._errors[(e.side, e.record_id, e.operation)] = e
                self._by_record.setdefault((e.side, e.record_id), []).append(e)

    @property
    def open(self) -> bool:
        """Whether :meth:`held` can hold anything back: enforced, with an open write error."""
        return self.enforce and bool(self._by_record)

    def held(self, side: Side, snap: Snapshot, partner: Snapshot | None) -> Hold | None:
        """Why the pair of *snap* (a dirty record of *side*) is not written
        now, or None: it is due (or never failed)."""
        if not self.open:
            return None  # an initial sync has no open error: no lookups per record
        errors = list(self._by_record.get((_other(side), snap.record_id), ()))
        if partner is not None:
            errors += self._by_record.get((side, partner.record_id), ())
            # The pair has both records now (made by hand, or a create that
            # landed late): no create is to be made, so a failed one holds
            # nothing back; the pair is written, and its errors end, as any other.
            errors = [e for e in errors if e.operation != "create"]
        if any(e.next_retry_at is None for e in errors):
            return "waiting_for_operator"
        if any(e.next_retry_at is not None and e.next_retry_at > self.now for e in errors):
            return "retry_later"
        return None

    def failed(self, target: Side, record_id: str, operation: str, *, shared: bool) -> tuple[int, datetime | None]:
        """(attempts, next retry) of a write that failed now. *shared*: the
        failure was the whole request's (a batch answered 5xx, a timeout),
        not this record's own: it is due at the next cycle (a create then
        goes alone), within the same bound on attempts."""
        old = self._errors.get((target, record_id, operation))
        attempts = 1 if old is None else old.attempts + 1
        due = next_retry_at(self.retries, attempts, self.now)
        if shared and due is not None:
            due = self.now
        return attempts, due


def late_lookups(errors: Iterable[RecordErrorRow], timeouts: Mapping[Side, float]) -> dict[tuple[Side, str], datetime]:
    """When each create that failed without an HTTP error status may be
    looked up, and each such update's pair written again, by (target,
    source id): no answer (a timeout, a dropped connection), or an answer
    syncd could not use (not JSON, a read-back that failed).

    An app goes on with a request its client stopped waiting for, and an
    app's search may not show a new record at once: a lookup right away can
    find nothing, and the create would be sent twice. So the app gets the
    target connector's ``timeout`` again from the failure (twice what syncd
    waited, in all). A refusal with a status is looked up at once. A create
    a crash cut short is given such an error by the first cycle that finds
    it (:meth:`~syncd.sync._context.CycleContext.waiting_lookups`), and so
    is an update: written again at once, its pair could be undone by the
    late one landing after."""
    out: dict[tuple[Side, str], datetime] = {}
    for e in errors:
        if e.operation in _LATE and e.status is None and e.at is not None and e.resolved_at is None:
            when = e.at + timedelta(seconds=timeouts[e.side])
            out[(e.side, e.record_id)] = max(when, out.get((e.side, e.record_id), when))
    return out


_LATE = frozenset({"create", "update"})  # the writes an app may carry out after its client gave up


def _other(side: Side) -> Side:
    return "right" if side == "left" else "left"
