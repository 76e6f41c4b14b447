"""What the state store holds, as plain frozen records.

Per integration and side: a cursor, and a snapshot of every record seen
(its match key, the compared field values as last read and as last synced,
a content hash). Per integration: links between a left and a right record,
write intents (recorded before a create so a crash cannot duplicate it),
record errors and the conflict log. Secrets are never stored: field values
are contact data, and settings are not stored at all.

Values are JSON-native (str, int, float, bool, None, lists, dicts); the
sync layer turns anything else into one of those before storing. Datetimes
must be aware; they come back as aware UTC datetimes (microseconds kept).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Side = Literal["left", "right"]
# What started a cycle or a write: the daemon's schedule, a bulk sync, a
# webhook, an operator's retry or `syncd sync` (manual), `syncd once`, `syncd reset`.
Origin = Literal["scheduled", "bulk", "webhook", "retry", "manual", "once", "reset"]
# How a cycle ended: ok; errors (completed, some records failed); aborted
# (an app refused or was down); stopped (at a checkpoint, when asked);
# failed (a bug, or the state store failing).
Outcome = Literal["ok", "errors", "aborted", "stopped", "failed"]
BulkState = Literal["running", "done", "stopped", "failed"]


@dataclass(frozen=True, slots=True)
class SideState:
    """Where reading one side of an integration stands."""

    cursor: datetime | None = None  # the greatest updated_at committed; None: never read
    last_full_read: datetime | None = None  # when the last complete list() finished
    generation: int = 0  # counts complete list() reads; a snapshot records the last one it was in
    fields: tuple[str, ...] | None = None  # the compared fields the last complete read stored
    # The API's opaque cursor for the next changes read (a spec's
    # `sync_token`), as of the last read that completed; None: none yet.
    sync_token: str | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One record of one side, as syncd last saw it and last synced it.

    ``seen`` are the compared fields (mapped, matched or read by a rule) as
    last read, normalised; ``synced`` the same fields as of the last sync
    (None for a record never synced), the base of three-way comparisons.
    ``dirty`` marks a record whose ``seen`` differs from ``synced`` or whose
    deletion is not yet handled.
    """

    side: Side
    record_id: str
    seen: Mapping[str, Any]
    synced: Mapping[str, Any] | None = None
    match_key: str | None = None
    hash: str = ""
    updated_at: datetime | None = None
    deleted: bool = False
    dirty: bool = False
    generation: int = 0


@dataclass(frozen=True, slots=True)
class Intent:
    """A write about to be made; kept until its result is committed."""

    side: Side  # the side written to
    kind: Literal["create", "update", "delete"]
    source_id: str  # the record on the other side it comes from
    fields: Mapping[str, Any]
    match_key: str | None = None
    target_id: str | None = None  # for update and delete
    id: int = 0  # assigned by the store
    created_at: datetime | None = None  # None: the store uses now()
    # A create's: what its source held when the create was planned (the values the create was
    # made from), the source's side of the pair's base once the created record is found. None:
    # not a create, or an intent recorded before schema 9 (SQLite) / 4 (PostgreSQL).
    source_seen: Mapping[str, Any] | None = None


# An error of one of these operations is keyed by the side written to and the id of the record
# whose values were written (the source's); any other (a read, a list) by the record's own side and
# id. The two apps' ids may be the same strings (two apps numbering from 1): the operation is what
# tells a left record's write error from a right record's read error.
WRITE_OPERATIONS = frozenset({"create", "update", "delete"})


@dataclass(frozen=True, slots=True)
class RecordErrorRow:
    side: Side
    record_id: str
    operation: str
    message: str
    status: int | None = None
    attempts: int = 1
    origin: Origin = "scheduled"
    at: datetime | None = None  # when it last failed; None: the store uses now()
    id: int = 0
    resolved_at: datetime | None = None  # set by resolve_errors; errors(unresolved=False) shows it
    # When a cycle may write the record again (automatic retry with backoff);
    # None: its automatic retries are used up, it waits for an operator.
    next_retry_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ConflictRow:
    left_id: str
    right_id: str
    field: str  # the mapping, as "left_field -> right_field"
    left_value: Any
    right_value: Any
    winner: Literal["left", "right"]
    rule: str  # newest_wins, left_wins, right_wins, left_unless_blank, …
    at: datetime | None = None  # None: the store uses now()
    id: int = 0


@dataclass(frozen=True, slots=True)
class CycleRow:
    """One cycle of an integration, as it ended."""

    origin: Origin
    started_at: datetime
    ended_at: datetime
    outcome: Outcome
    counts: Mapping[str, Any]  # CycleSummary.counts(): read, created, updated, …
    error: str | None = None  # why it was aborted or failed (masked)
    id: int = 0


@dataclass(frozen=True, slots=True)
class BulkRun:
    """The current or last bulk sync of an integration (one a integration):
    ``done`` of ``total`` linked pairs handled, ``failed`` of them with a
    write that failed (each one in the error table)."""

    state: BulkState
    started_at: datetime
    updated_at: datetime  # the last checkpoint
    done: int = 0
    total: int = 0
    failed: int = 0
    ended_at: datetime | None = None
    message: str | None = None  # why it stopped or failed, for people


@dataclass(frozen=True, slots=True)
class AccountUsage:
    """One connector account's use of its API quota window (see
    :class:`syncd.connector.Usage`, which this stores). Times are Unix seconds."""

    account: str  # the account key: connector@base_url#digest, no secret
    connector: str
    window_start: float
    window_end: float
    used: int  # syncd's own requests in the window
    api_used: int | None = None  # what the API last said was used
    api_limit: int | None = None  # the limit the API last sent
