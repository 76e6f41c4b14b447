"""The state store contract; :mod:`syncd.state._sqlite` implements it.

Reads may happen anywhere; every change goes through a :class:`Transaction`
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

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Self

from syncd.state._model import ConflictRow, Intent, RecordErrorRow, Side, SideState, Snapshot


class Transaction(ABC):
    """Writes for one integration, committed together; unusable after its block."""

    @abstractmethod
    def put_snapshots(self, snapshots: Iterable[Snapshot]) -> None:
        """Insert or replace these snapshots (key: side, record_id); every field is replaced."""

    @abstractmethod
    def mark_seen(self, side: Side, record_ids: Iterable[str], generation: int) -> None:
        """Set the generation of these snapshots (a full read saw them); unknown ids are ignored."""

    @abstractmethod
    def set_side_state(self, side: Side, state: SideState) -> None: ...

    @abstractmethod
    def link(self, left_id: str, right_id: str) -> None:
        """Link two records; replaces any link either of them had."""

    @abstractmethod
    def unlink(self, side: Side, record_id: str) -> None: ...

    @abstractmethod
    def add_intent(self, intent: Intent) -> int:
        """Record a write about to be made; returns its id (ids are never reused).
        ``intent.id`` is ignored; ``created_at`` None means now."""

    @abstractmethod
    def resolve_intent(self, intent_id: int) -> None:
        """The write's result is committed: the intent is deleted (an unknown id is ignored)."""

    @abstractmethod
    def add_error(self, error: RecordErrorRow) -> None:
        """Record a failed write or read; an unresolved error for the same
        (side, record_id, operation) is replaced, its attempts counted up
        (old attempts + 1; ``error.attempts`` counts only for a new error).
        ``at`` None means now."""

    @abstractmethod
    def resolve_errors(self, side: Side, record_id: str) -> None:
        """The record synced: its unresolved errors are resolved (kept, with
        ``resolved_at``, for history)."""

    @abstractmethod
    def add_conflict(self, conflict: ConflictRow) -> None:
        """Append to the conflict log; ``at`` None means now."""

    @abstractmethod
    def set_disabled(self, since: datetime | None) -> None:
        """Mark the integration disabled since *since*, or enabled (None)."""

    @abstractmethod
    def reset(self) -> None:
        """Forget everything about the integration (``syncd reset``)."""


class StateStore(ABC):
    """The state of every integration, keyed by integration name."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @abstractmethod
    def transaction(self, integration: str) -> AbstractContextManager[Transaction]:
        """``with store.transaction(name) as t:`` writes for that integration,
        committed at the end of the block, rolled back on any exception."""

    @abstractmethod
    def side_state(self, integration: str, side: Side) -> SideState:
        """The side's state; ``SideState()`` if it was never set."""

    @abstractmethod
    def snapshots(self, integration: str, side: Side, record_ids: Sequence[str]) -> dict[str, Snapshot]:
        """The snapshots of these records by id (deleted ones included);
        ids without a snapshot are absent from the result."""

    @abstractmethod
    def digests(self, integration: str, side: Side, record_ids: Sequence[str]) -> dict[str, tuple[str, bool]]:
        """(hash, deleted) of these snapshots: enough to tell an unchanged
        record without decoding its snapshot. Unknown ids are left out."""

    @abstractmethod
    def by_match_key(self, integration: str, side: Side, match_key: str) -> list[Snapshot]:
        """Snapshots of that side with that match key, deleted ones left out, by record_id."""

    @abstractmethod
    def linked(self, integration: str, side: Side, record_ids: Sequence[str]) -> dict[str, str]:
        """For records of ``side``, the id of the record each is linked to;
        unlinked ids are absent from the result."""

    @abstractmethod
    def dirty(self, integration: str, side: Side, batch: int = 500) -> Iterator[list[Snapshot]]:
        """Dirty snapshots in batches of at most ``batch``, in record_id order.

        Safe to mark them clean (or change them otherwise) in transactions
        between batches: each batch starts after the last record_id yielded,
        so nothing repeats or is skipped; a record made dirty meanwhile is
        yielded if its id comes after the last one yielded."""

    @abstractmethod
    def unseen(self, integration: str, side: Side, generation: int) -> Iterator[Snapshot]:
        """Snapshots not deleted whose generation is older (deletion candidates),
        ordered by (generation, record_id); safe to mark them deleted or seen
        while iterating (read in batches, like :meth:`dirty`)."""

    @abstractmethod
    def count(self, integration: str, side: Side, *, deleted: bool = False) -> int:
        """How many snapshots of that side are live (``deleted=False``) or
        deleted (``deleted=True``)."""

    @abstractmethod
    def any_snapshot(self, integration: str, side: Side) -> Snapshot | None:
        """One snapshot of that side (which one is unspecified), or None."""

    @abstractmethod
    def open_intents(self, integration: str) -> list[Intent]:
        """Intents not yet resolved, oldest first (after a crash: writes whose
        outcome is unknown)."""

    @abstractmethod
    def errors(self, integration: str, *, unresolved: bool = True, limit: int = 100) -> list[RecordErrorRow]:
        """Record errors, newest first: unresolved ones, or all (``unresolved=False``)."""

    @abstractmethod
    def conflicts(self, integration: str, *, limit: int = 100) -> list[ConflictRow]:
        """The conflict log, newest first."""

    @abstractmethod
    def disabled_since(self, integration: str) -> datetime | None:
        """When the integration was disabled; None when it is not (or unknown)."""

    @abstractmethod
    def integrations(self) -> list[str]:
        """Names of the integrations that have state."""

    @staticmethod
    def now() -> datetime:
        from datetime import UTC

        return datetime.now(UTC)
