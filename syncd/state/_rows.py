"""Values in and rows out, the same for every store.

Both stores write JSON values as orjson text and check sides the same way,
and read each kind of row with the same columns in the same order
(``*_COLUMNS``); what differs is how a time is stored (SQLite: ISO-8601
text; PostgreSQL: ``timestamptz``), so each decoder is given ``when``, the
store's conversion of a stored time to an aware UTC datetime (None stays
None). Imports no store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

import orjson

from syncd.state._model import (
    WRITE_OPERATIONS,
    BulkRun,
    ConflictRow,
    CycleRow,
    Intent,
    RecordErrorRow,
    Side,
    SideState,
    Snapshot,
)

When = Callable[[Any], datetime | None]

_SIDES = ("left", "right")

SNAPSHOT_COLUMNS = "side, record_id, seen, synced, match_key, hash, updated_at, deleted, dirty, generation"
SIDE_STATE_COLUMNS = "cursor, last_full_read, generation, fields, sync_token"
INTENT_COLUMNS = "side, kind, source_id, fields, match_key, target_id, id, created_at, source_seen"
ERROR_COLUMNS = ("side, record_id, operation, message, status, attempts, origin, at, id, resolved_at,"
                 " next_retry_at")
CONFLICT_COLUMNS = "left_id, right_id, field, left_value, right_value, winner, rule, at, id"
CYCLE_COLUMNS = "origin, started_at, ended_at, outcome, counts, error, id"
BULK_COLUMNS = "state, started_at, updated_at, done, total, failed, ended_at, message"


# --- values in -----------------------------------------------------------------------------------

def _json_default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON-native: convert it before storing")


def dump(value: Any) -> str:
    return orjson.dumps(value, default=_json_default).decode()


def intent_row(integration: str, intent: Intent, created_at: Any) -> tuple[Any, ...]:
    """The values of an intents row, in ``INSERT_INTENT_COLUMNS``' order (*created_at*: in
    the store's own type)."""
    return (integration, check_side(intent.side), intent.kind, intent.source_id, intent.target_id,
            intent.match_key, dump(intent.fields), created_at,
            None if intent.source_seen is None else dump(intent.source_seen))


INSERT_INTENT_COLUMNS = "integration, side, kind, source_id, target_id, match_key, fields, created_at, source_seen"


def operations_clause(writes: bool | None) -> str:
    """The SQL that keeps an errors query to write errors (*writes* True), to the others (False),
    or to every one (None): see ``WRITE_OPERATIONS``. Constants only, no parameter."""
    if writes is None:
        return ""
    listed = ", ".join(f"'{op}'" for op in sorted(WRITE_OPERATIONS))
    return f"AND operation {'IN' if writes else 'NOT IN'} ({listed})"


def check_side(side: str) -> Side:
    if side not in _SIDES:
        raise ValueError(f"side must be 'left' or 'right', not {side!r}")
    return cast(Side, side)


# --- rows out ------------------------------------------------------------------------------------

def _always(when: When, value: Any) -> datetime:
    """A time the schema makes NOT NULL."""
    decoded = when(value)
    if decoded is None:
        raise ValueError("a NOT NULL time column was NULL")
    return decoded


def snapshot(row: tuple[Any, ...], when: When) -> Snapshot:
    side, record_id, seen, synced, match_key, hash_, updated_at, deleted, dirty, generation = row
    return Snapshot(side, record_id, orjson.loads(seen), None if synced is None else orjson.loads(synced),
                    match_key, hash_, when(updated_at), bool(deleted), bool(dirty), generation)


def side_state(row: tuple[Any, ...], when: When) -> SideState:
    cursor, last_full_read, generation, fields, sync_token = row
    return SideState(when(cursor), when(last_full_read), generation,
                     None if fields is None else tuple(orjson.loads(fields)), sync_token)


def intent(row: tuple[Any, ...], when: When) -> Intent:
    side, kind, source_id, fields, match_key, target_id, id_, created, source_seen = row
    return Intent(side, kind, source_id, orjson.loads(fields), match_key, target_id, id_, when(created),
                  None if source_seen is None else orjson.loads(source_seen))


def record_error(row: tuple[Any, ...], when: When) -> RecordErrorRow:
    side, record_id, operation, message, status, attempts, origin, at, id_, resolved_at, next_retry_at = row
    return RecordErrorRow(side, record_id, operation, message, status, attempts, origin, when(at), id_,
                          when(resolved_at), when(next_retry_at))


def conflict(row: tuple[Any, ...], when: When) -> ConflictRow:
    left_id, right_id, field, left_value, right_value, winner, rule, at, id_ = row
    return ConflictRow(left_id, right_id, field, orjson.loads(left_value), orjson.loads(right_value), winner, rule,
                       when(at), id_)


def cycle(row: tuple[Any, ...], when: When) -> CycleRow:
    origin, started, ended, outcome, counts, error, id_ = row
    return CycleRow(origin, _always(when, started), _always(when, ended), outcome, orjson.loads(counts), error, id_)


def bulk_run(row: tuple[Any, ...], when: When) -> BulkRun:
    state, started, updated, done, total, failed, ended, message = row
    return BulkRun(state, _always(when, started), _always(when, updated), done, total, failed, when(ended), message)


# --- keyset iteration ----------------------------------------------------------------------------

Fetch = Callable[[str, tuple[Any, ...]], list[Any]]  # a store's query: rows, or StateError


def keyset(fetch: Fetch, first: str, after: str, params: tuple[Any, ...],
           key: Callable[[Any], tuple[Any, ...]], batch: int) -> Iterator[list[Any]]:
    """Rows in batches by keyset pagination: each query starts after the key
    of the last row yielded, so rows the caller changes between batches
    (marked clean, deleted, seen, unlinked) neither repeat nor shift others.
    *first* and *after* end with a LIMIT placeholder; *after* takes the
    key's values before it."""
    last: tuple[Any, ...] | None = None
    while True:
        rows = fetch(first, (*params, batch)) if last is None else fetch(after, (*params, *last, batch))
        if not rows:
            return
        last = key(rows[-1])
        yield rows


# --- links ---------------------------------------------------------------------------------------

def last_links(pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (left_id, right_id) pairs that linking each in turn leaves: a
    pair goes when a later one names its left or its right record (link()
    replaces the links of both). In their order."""
    lefts: set[str] = set()
    rights: set[str] = set()
    kept: list[tuple[str, str]] = []
    for left, right in reversed(pairs):
        if left not in lefts and right not in rights:
            kept.append((left, right))
        lefts.add(left)
        rights.add(right)
    kept.reverse()
    return kept
