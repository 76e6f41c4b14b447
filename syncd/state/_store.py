"""The state store contract, as two protocols; :mod:`syncd.state._sqlite` implements them.

:class:`StateStore` is every read the sync layer, the daemon and the
command line make, and :meth:`StateStore.transaction`; :class:`Transaction`
is every write. They are protocols, not base classes, so that a store need
not inherit from anything here (a PostgreSQL store would only have to
provide these methods), and ``tests/state/test_contract.py`` runs the same
tests against every store. An implementation may still subclass them, as
the SQLite one does, so that mypy checks its signatures where it is written
and it inherits the few methods given here (``now``, ``with store: …``).

Reads may happen anywhere; every change but an account's API usage
(:meth:`StateStore.put_api_usage`) goes through a :class:`Transaction`
(``with store.transaction("crm-to-newsletter") as t: …``), bound to one
integration, which commits as one unit or not at all: any exception inside
the block rolls it back and propagates. Transactions do not nest, and the
block must not ``await``: a store is one connection, used from one thread,
and another task's transaction meanwhile would be refused (StateError).
Reads outside a transaction see committed data; reads inside one also see
its own uncommitted writes. The sync layer commits everything a page
changes (snapshots, links, intents, errors, cursor) in one transaction: a
crash at any instant leaves either all of it or none of it.

All methods are synchronous: SQLite calls take microseconds to a few
milliseconds and the sync layer batches them per page. Every failure of the
store is a :class:`syncd.state.StateError`; a value of the wrong kind (a
side other than "left"/"right", a naive datetime, a non-JSON value) is a
ValueError or TypeError, a bug in the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol, Self, runtime_checkable

from syncd.state._model import (
    AccountUsage,
    BulkRun,
    ConflictRow,
    CycleRow,
    Intent,
    RecordErrorRow,
    Side,
    SideState,
    Snapshot,
)

if TYPE_CHECKING:
    from syncd.state._leases import Fence, Lease

KEPT_CYCLES = 100  # cycles kept per integration: status shows the last, the rest is recent history


@runtime_checkable
class Transaction(Protocol):
    """Writes for one integration, committed together; unusable after its block."""

    def put_snapshots(self, snapshots: Iterable[Snapshot], *, new: bool = False) -> None:
        """Insert or replace these snapshots (key: side, record_id); every field is replaced.

        *new*: a hint that the store holds none of them (records just
        created): the store need not look for stored ones first. A wrong
        hint is never wrong data, only slower."""

    def mark_synced(self, side: Side, rows: Sequence[tuple[str, str]]) -> None:
        """These snapshots of *side*, given as (record_id, hash), are in step as
        they are: ``synced`` becomes ``seen`` and ``dirty`` false, what
        :meth:`put_snapshots` of the snapshot with ``synced=seen`` and
        ``dirty=False`` writes, without sending its values again. A snapshot
        whose hash is no longer *hash* (its values changed since they were
        read) is left as it is, still to sync; unknown ids are ignored."""

    def mark_seen(self, side: Side, record_ids: Iterable[str], generation: int) -> None:
        """Set the generation of these snapshots (a full read saw them); unknown ids are ignored."""

    def set_side_state(self, side: Side, state: SideState) -> None:
        """Replace the side's state (cursor, last full read, generation, fields)."""

    def link(self, left_id: str, right_id: str) -> None:
        """Link two records; replaces any link either of them had."""

    def unlink(self, side: Side, record_id: str) -> None:
        """Remove the link of that record of ``side``, if it has one."""

    def add_intent(self, intent: Intent) -> int:
        """Record a write about to be made; returns its id (ids are never reused).
        ``intent.id`` is ignored; ``created_at`` None means now."""

    def resolve_intent(self, intent_id: int) -> None:
        """The write's result is committed: the intent is deleted (an unknown id is ignored)."""

    # The bulk forms: a batch of creates records its intents, then links and
    # resolves them, in one statement (SQLite) or one round trip (PostgreSQL)
    # each, not one per record. Each is all or none: a row the store refuses
    # (a constraint) raises StateError and writes none of the batch; leave
    # the block with it (the transaction rolls back: on PostgreSQL it can
    # write nothing more). A value of the wrong kind is a ValueError or
    # TypeError raised before anything is written. An empty batch writes
    # nothing.

    def add_intents(self, intents: Sequence[Intent]) -> list[int]:
        """:meth:`add_intent` for each, in order: their ids, in the same order (ascending)."""

    def link_many(self, pairs: Sequence[tuple[str, str]]) -> None:
        """:meth:`link` for each (left_id, right_id), in order: a later pair
        sharing a record with an earlier one replaces it, as linking one by
        one would."""

    def resolve_intents(self, intent_ids: Iterable[int]) -> None:
        """:meth:`resolve_intent` for each (unknown ids are ignored)."""

    def add_error(self, error: RecordErrorRow) -> None:
        """Record a failed write or read; an unresolved error for the same
        (side, record_id, operation) is replaced, its attempts counted up
        (old attempts + 1; ``error.attempts`` counts only for a new error)
        and its ``next_retry_at`` replaced (None: waits for an operator).
        ``at`` None means now."""

    def retry_due(self, side: Side, record_ids: Iterable[str], at: datetime | None = None) -> None:
        """The unresolved errors of these records (of ``side``) are due for a
        retry at *at* (None: now), unless due earlier already; those waiting
        for an operator too (the record changed: it may sync now)."""

    def resolve_errors(self, side: Side, record_id: str, *, writes: bool | None = None) -> None:
        """The record synced: its unresolved errors are resolved (kept, with
        ``resolved_at``, for history: :data:`~syncd.state._history.KEPT_DAYS`). *writes* True: only those of
        :data:`WRITE_OPERATIONS` (the errors of writing record *record_id*'s
        values to *side*); False: only the others (record *record_id* of
        *side*'s own); None: every one."""

    def add_conflict(self, conflict: ConflictRow) -> None:
        """Append to the conflict log (kept :data:`~syncd.state._history.KEPT_DAYS`); ``at`` None means now."""

    def set_disabled(self, since: datetime | None) -> None:
        """Mark the integration disabled since *since*, or enabled (None)."""

    def add_cycle(self, cycle: CycleRow) -> None:
        """Record how a cycle ended; only the newest :data:`KEPT_CYCLES` are kept. At most once an
        hour per process, also delete the integration's (and its child objects') conflicts and
        resolved errors older than :data:`~syncd.state._history.KEPT_DAYS`."""

    def put_bulk_run(self, run: BulkRun) -> None:
        """Replace the integration's current or last bulk sync with *run*."""

    def reset(self) -> None:
        """Forget everything about the integration (``syncd reset``)."""


@runtime_checkable
class StateStore(Protocol):
    """The state of every integration, keyed by integration name."""

    def close(self) -> None:
        """Release the store; an open transaction is rolled back. Closing twice is harmless;
        anything else after closing raises :class:`StateError`."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def transaction(self, integration: str) -> AbstractContextManager[Transaction]:
        """``with store.transaction(name) as t:`` writes for that integration,
        committed at the end of the block, rolled back on any exception."""

    def require_fences(self, daemon_id: str) -> None:
        """From now on every transaction needs a fence held for its integration (:meth:`fence`):
        without one it raises LeaseLost at its start, and it commits only if its lease still holds
        with that token (else LeaseLost, nothing committed). PostgreSQL only: a SQLite store
        (one daemon per file) ignores it."""

    def fence(self, name: str, fence: Fence | None) -> None:
        """The fence this daemon holds for integration *name* (lease acquired), or None (lost or
        released). Ignored by a SQLite store."""

    def leases(self) -> dict[str, Lease]:
        """Every integration's lease, by name, for status; ``{}`` on SQLite (no leases)."""

    def side_state(self, integration: str, side: Side) -> SideState:
        """The side's state; ``SideState()`` if it was never set."""

    def snapshots(self, integration: str, side: Side, record_ids: Sequence[str]) -> dict[str, Snapshot]:
        """The snapshots of these records by id (deleted ones included);
        ids without a snapshot are absent from the result."""

    def digests(self, integration: str, side: Side, record_ids: Sequence[str]) -> dict[str, tuple[str, bool]]:
        """(hash, deleted) of these snapshots: enough to tell an unchanged
        record without decoding its snapshot. Unknown ids are left out."""

    def by_match_key(self, integration: str, side: Side, match_key: str) -> list[Snapshot]:
        """Snapshots of that side with that match key, deleted ones left out, by record_id."""

    def by_match_keys(self, integration: str, side: Side, match_keys: Sequence[str]) -> dict[str, list[Snapshot]]:
        """:meth:`by_match_key` for many keys in one read (a batch's matching
        is one round trip, not one per record): each key with a snapshot to
        its list (deleted ones left out, by record_id); keys without one are
        absent from the result."""

    def linked(self, integration: str, side: Side, record_ids: Sequence[str]) -> dict[str, str]:
        """For records of ``side``, the id of the record each is linked to;
        unlinked ids are absent from the result."""

    def dirty(self, integration: str, side: Side, batch: int = 500) -> Iterator[list[Snapshot]]:
        """Dirty snapshots in batches of at most ``batch``, in record_id order.

        Safe to mark them clean (or change them otherwise) in transactions
        between batches: each batch starts after the last record_id yielded,
        so nothing repeats or is skipped; a record made dirty meanwhile is
        yielded if its id comes after the last one yielded. ``batch`` below 1
        is a ValueError."""

    def unseen(self, integration: str, side: Side, generation: int) -> Iterator[Snapshot]:
        """Snapshots not deleted whose generation is older (deletion candidates),
        in record_id order (read by the primary key: no index holds the
        generation, so that :meth:`Transaction.mark_seen` rewrites rows
        alone; see the SQLite step 10 and PostgreSQL step 5 of the
        migrations); safe to mark them deleted or seen while iterating (read
        in batches, each after the last yielded, like :meth:`dirty`)."""

    def count(self, integration: str, side: Side, *, deleted: bool = False) -> int:
        """How many snapshots of that side are live (``deleted=False``) or
        deleted (``deleted=True``)."""

    def any_snapshot(self, integration: str, side: Side) -> Snapshot | None:
        """One snapshot of that side (which one is unspecified), or None."""

    def open_intents(self, integration: str) -> list[Intent]:
        """Intents not yet resolved, oldest first (after a crash: writes whose
        outcome is unknown)."""

    def errors(self, integration: str, *, unresolved: bool = True, limit: int = 100) -> list[RecordErrorRow]:
        """Record errors, newest first: unresolved ones, or all (``unresolved=False``)."""

    def count_errors(self, integration: str) -> int:
        """How many record errors are unresolved."""

    def conflicts(self, integration: str, *, limit: int = 100) -> list[ConflictRow]:
        """The conflict log, newest first."""

    def cycles(self, integration: str, *, limit: int = 10) -> list[CycleRow]:
        """The integration's last cycles, newest first."""
    def count_conflicts(self, integration: str) -> int:
        """How many conflicts the log holds."""

    def disabled_since(self, integration: str) -> datetime | None:
        """When the integration was disabled; None when it is not (or unknown)."""

    def links(self, integration: str, batch: int = 500) -> Iterator[list[tuple[str, str]]]:
        """Every link as (left_id, right_id), in batches of at most ``batch``
        in left_id order; like :meth:`dirty`, safe to change links between
        batches (each batch starts after the last left_id yielded)."""

    def link_count(self, integration: str) -> int:
        """How many linked pairs the integration has."""

    def bulk_run(self, integration: str) -> BulkRun | None:
        """The integration's current or last bulk sync; None if it never had one."""

    def integrations(self) -> list[str]:
        """Names of the integrations that have state, sorted."""

    def check(self) -> list[str]:
        """Problems of the store, one line each naming the table and the key; ``[]`` when it is sound
        (``syncd state check``). The store's own consistency (SQLite's ``integrity_check`` and
        ``foreign_key_check``; PostgreSQL's leases), its schema version, and syncd's invariants
        (:mod:`syncd.state._check`). Reads only; it may run beside a daemon."""

    def api_usage(self) -> list[AccountUsage]:
        """Every connector account's last stored API usage, by account key."""

    def put_api_usage(self, usage: AccountUsage) -> None:
        """Store an account's API usage (replacing its last), committed at once.

        Not in a :class:`Transaction`: an account's budget belongs to no one
        integration (several share it), and it is written after each request,
        outside any transaction; called while one is open, it is refused
        (StateError) rather than committed or rolled back with it."""

    def add_api_usage(self, account: str, connector: str, window: tuple[float, float], now: float, *,
                      api_used: int | None = None, api_limit: int | None = None,
                      resets_at: float | None = None) -> AccountUsage:
        """Count one request of *account*, ended at *now* (epoch seconds), committed at once; the row as stored.

        The count of every process on the store (daemons on one PostgreSQL
        database): in one statement, a stored window that ended at or before
        *now* is replaced by *window* (the one holding now) with a count of
        one, else the count goes up by one; *api_used*, *api_limit* (what
        the answer's quota headers said) replace the stored ones when given,
        and *resets_at* later than *now* becomes the window's end. Outside
        transactions, as :meth:`put_api_usage`."""

    @staticmethod
    def now() -> datetime:
        """The current time, aware, in UTC: what the store stamps where a row leaves its time None."""
        return utc_now()


def utc_now() -> datetime:
    """:meth:`StateStore.now`, for code that has no store at hand (a transaction)."""
    return datetime.now(UTC)
