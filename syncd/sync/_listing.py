"""Open record errors and the conflict log as plain values, the one shape
``syncd errors``, ``syncd conflicts``, the control API and ``syncd status``
all show (a daemon's answer and a read of the state store are alike).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from syncd.state import ConflictRow, RecordErrorRow, StateStore
from syncd.sync._children import child_states
from syncd.sync._records import RetryOutcome, source_of
from syncd.sync._retries import WRITE_OPERATIONS

__all__ = ["conflict_count", "conflict_entries", "error_entries", "error_entry", "errors_status", "open_errors",
           "retry_entries"]


def _when(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat(timespec="seconds")


def error_entry(e: RecordErrorRow, match_key: str | None) -> dict[str, Any]:
    """One open error. ``record_id`` is the source record (whose values were
    being written; for a read, the record read), ``side`` the side written
    to (for a read, the side read). ``state``: ``retrying`` (a cycle writes
    it again at ``next_retry_at``; a read error: at every cycle) or
    ``waiting`` (its automatic retries are used up: ``--retry``)."""
    waiting = e.operation in WRITE_OPERATIONS and e.next_retry_at is None
    source = source_of(e)
    return {
        "id": e.id, "record_id": e.record_id, "record_side": source[0] if source else None,
        "match_key": match_key, "side": e.side, "operation": e.operation, "http_status": e.status,
        "message": e.message, "origin": e.origin, "at": _when(e.at), "attempts": e.attempts,
        "next_retry_at": _when(e.next_retry_at), "state": "waiting" if waiting else "retrying",
    }


def open_errors(store: StateStore, name: str) -> int:
    """How many errors of integration *name* are open, its child objects' included."""
    return store.count_errors(name) + sum(store.count_errors(key) for key, _ in child_states(store, name))


def conflict_count(store: StateStore, name: str) -> int:
    """How many conflicts the log of integration *name* holds, its child objects' included."""
    return store.count_conflicts(name) + sum(store.count_conflicts(key) for key, _ in child_states(store, name))


def _child_errors(store: StateStore, name: str, limit: int) -> list[dict[str, Any]]:
    """The open errors of *name*'s child objects, each naming its object."""
    out = []
    for key, child in child_states(store, name):
        out += [{**error_entry(e, None), "object": child} for e in store.errors(key, limit=limit)]
    return out


def _newest(entries: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    return sorted(entries, key=lambda e: e["at"] or "", reverse=True)[:limit]


def error_entries(store: StateStore, name: str, *, limit: int = 1000) -> list[dict[str, Any]]:
    """The open errors of integration *name*, newest first, with each source
    record's match key; its child objects' errors too, with ``object``."""
    children = _child_errors(store, name, limit)
    entries = _parent_errors(store, name, limit)
    return _newest(entries + children, limit) if children else entries


def _parent_errors(store: StateStore, name: str, limit: int) -> list[dict[str, Any]]:
    errors = store.errors(name, limit=limit)
    keys: dict[tuple[str, str], str | None] = {}
    for side in ("left", "right"):
        ids = [s[1] for e in errors if (s := source_of(e)) is not None and s[0] == side]
        if ids:
            for record_id, snap in store.snapshots(name, side, ids).items():
                keys[(side, record_id)] = snap.match_key
    entries = []
    for e in errors:
        source = source_of(e)
        entries.append(error_entry(e, keys.get(source) if source is not None else None))
    return entries


def conflict_entry(c: ConflictRow) -> dict[str, Any]:
    return {"id": c.id, "at": _when(c.at), "left_id": c.left_id, "right_id": c.right_id, "field": c.field,
            "left_value": c.left_value, "right_value": c.right_value, "winner": c.winner, "rule": c.rule}


def conflict_entries(store: StateStore, name: str, *, limit: int = 50) -> list[dict[str, Any]]:
    """The conflict log of integration *name*, newest first; its child
    objects' conflicts too, with ``object``."""
    entries = [conflict_entry(c) for c in store.conflicts(name, limit=limit)]
    children = [{**conflict_entry(c), "object": child}
                for key, child in child_states(store, name) for c in store.conflicts(key, limit=limit)]
    return _newest(entries + children, limit) if children else entries


def retry_entries(store: StateStore, name: str, outcomes: list[RetryOutcome]) -> list[dict[str, Any]]:
    """What became of each error retried: ``ok`` (its record syncs now and the
    error left the list), ``message``, and ``error``: the error as it is now
    when it is still open (failed again: the new message and count)."""
    keys: dict[tuple[str, str], str | None] = {}
    for side in ("left", "right"):
        ids = [s[1] for o in outcomes if (s := source_of(o.error)) is not None and s[0] == side]
        if ids:
            for record_id, snap in store.snapshots(name, side, ids).items():
                keys[(side, record_id)] = snap.match_key
    out = []
    for o in outcomes:
        source = source_of(o.error)
        key = keys.get(source) if source is not None else None
        out.append({"id": o.error.id, "record_id": o.error.record_id, "match_key": key, "side": o.error.side,
                    "operation": o.error.operation, "ok": o.ok, "message": o.message,
                    "error": error_entry(o.after, key) if o.after is not None else None})
    return out


def errors_status(store: StateStore, name: str) -> dict[str, Any]:
    """What ``syncd status`` shows of an integration's errors and conflicts:
    ``open_errors``, ``errors_preview`` (the newest three) and ``conflicts``
    (how many the log holds). :class:`~syncd.state.StateError` when the store fails."""
    preview = [{"id": e.id, "record_id": e.record_id, "operation": e.operation,
                "http_status": e.status, "message": e.message} for e in store.errors(name, limit=3)]
    children = child_states(store, name)
    if children:  # newest three of all, each child's naming its object
        dated = [(e.at, p) for e, p in zip(store.errors(name, limit=3), preview)]
        for key, child in children:
            dated += [(e.at, {"id": e.id, "record_id": e.record_id, "object": child, "operation": e.operation,
                              "http_status": e.status, "message": e.message}) for e in store.errors(key, limit=3)]
        dated.sort(key=lambda d: _when(d[0]) or "", reverse=True)
        preview = [p for _, p in dated[:3]]
    return {
        "open_errors": open_errors(store, name),
        "errors_preview": preview,
        "conflicts": conflict_count(store, name),
    }
