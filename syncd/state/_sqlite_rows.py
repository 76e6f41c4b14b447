"""Row encoding for the SQLite store: times, id chunks, the error guard (the
JSON values, sides and row decoders every store shares are in ``_rows``).

Shared by the store (:mod:`syncd.state._sqlite`) and its transaction
(:mod:`syncd.state._sqlite_tx`); it imports neither of them.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from syncd.state._errors import from_sqlite
from syncd.state._model import Snapshot
from syncd.state._rows import SNAPSHOT_COLUMNS, snapshot

P = ParamSpec("P")
R = TypeVar("R")

_CHUNK = 512  # ids per IN (…) query; padded to a power of two so few statements are prepared


# --- values in and out ---------------------------------------------------------------------------

def _time(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is UTC:  # the common case (every time syncd makes or parses): nothing to convert
        return value.isoformat(timespec="microseconds")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} given to the state store: make it aware (UTC)")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


@functools.lru_cache(maxsize=None)
def _marks(n: int) -> str:
    return ",".join("?" * n)


def _chunks(ids: Iterable[str]) -> Iterator[tuple[str, list[str]]]:
    """Unique ids in chunks of at most ``_CHUNK``, each padded (with its last id) to a power of two."""
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), _CHUNK):
        part = unique[start:start + _CHUNK]
        size = 8
        while size < len(part):
            size *= 2
        part += [part[-1]] * (size - len(part))
        yield _marks(size), part


def _snapshot(row: tuple[Any, ...]) -> Snapshot:
    return snapshot(row, _parse_time)


# --- error translation ---------------------------------------------------------------------------

class _OnAFile(Protocol):
    """What :func:`_guard` needs of the object whose method it wraps (a store
    or a transaction): the file and lock wait its error messages name."""

    @property
    def path(self) -> str: ...

    @property
    def busy_timeout(self) -> float: ...


Owner = TypeVar("Owner", bound=_OnAFile)


def _guard(doing: str) -> Callable[[Callable[Concatenate[Owner, P], R]], Callable[Concatenate[Owner, P], R]]:
    """Turn a ``sqlite3.Error`` raised by the method into a :class:`StateError`."""

    def decorate(method: Callable[Concatenate[Owner, P], R]) -> Callable[Concatenate[Owner, P], R]:
        @functools.wraps(method)
        def wrapper(owner: Owner, /, *args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return method(owner, *args, **kwargs)
            except sqlite3.Error as exc:
                raise from_sqlite(owner.path, exc, doing, busy_timeout=owner.busy_timeout) from exc

        return wrapper

    return decorate


# --- statements the transaction uses ---------------------------------------------------------

_UPSERT_SNAPSHOT = f"""
    INSERT INTO snapshots (integration, {SNAPSHOT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (integration, side, record_id) DO UPDATE SET
        seen = excluded.seen, synced = excluded.synced, match_key = excluded.match_key,
        hash = excluded.hash, updated_at = excluded.updated_at, deleted = excluded.deleted,
        dirty = excluded.dirty, generation = excluded.generation"""

# A snapshot whose match key is as stored: the rest of its row, in place.
# An upsert sets every column, and SQLite rewrites the index entries of
# every column a statement sets, even to the value it holds: one random page
# of the match-key index for each snapshot put (a read-only reset of
# 1,000,000 pairs wrote 9 GB of WAL). The match key is the one indexed
# column this leaves out; dirty, which a partial index holds, is set by both.
_UPDATE_SNAPSHOT_IN_PLACE = """
    UPDATE snapshots SET seen = ?, synced = ?, hash = ?, updated_at = ?, deleted = ?, dirty = ?,
        generation = ?
    WHERE integration = ? AND side = ? AND record_id = ?"""

_UPSERT_ERROR = """
    INSERT INTO errors (integration, side, record_id, operation, message, status, attempts, origin, at,
                        next_retry_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (integration, side, record_id, operation) WHERE resolved_at IS NULL DO UPDATE SET
        message = excluded.message, status = excluded.status, attempts = errors.attempts + 1,
        origin = excluded.origin, at = excluded.at, next_retry_at = excluded.next_retry_at"""

_RESET_TABLES = ("snapshots", "side_states", "links", "intents", "errors", "conflicts", "cycles",
                 "bulk_runs")
