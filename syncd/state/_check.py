"""syncd's own invariants of a state store, as queries both stores run (``syncd state check``).

What the schema's constraints do not say, but the sync layer relies on:

- a record is linked at most once per side (the primary key and the unique
  index ``links_right`` say so too, but a damaged index would not);
- a link joins two records syncd has a snapshot of: each side of each link
  has its snapshot (deleted ones count: a tombstone keeps its link until
  the deletion is handled);
- a pending write intent has its source record's snapshot (on the other
  side), and an update or a delete its target's too: a crash recovery
  resolves intents by looking at those records;
- an open record error counts at least one attempt.

Each query returns rows that :data:`INVARIANTS`' formatter turns into one
line naming the table and the key. The SQL is plain enough for both
SQLite and PostgreSQL (``false`` is a keyword of both). The store-specific
checks (SQLite's ``integrity_check``, PostgreSQL's leases) are with each
store; the schema version is checked by both (:func:`version_problem`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Rows = Callable[[str], list[Any]]

_OTHER = "CASE i.side WHEN 'left' THEN 'right' ELSE 'left' END"


def _missing_snapshot(alias: str, side: str, column: str) -> str:
    return (f"NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.integration = {alias}.integration"
            f" AND s.side = {side} AND s.record_id = {alias}.{column})")


_NO_LEFT = _missing_snapshot("l", "'left'", "left_id")
_NO_RIGHT = _missing_snapshot("l", "'right'", "right_id")

INVARIANTS: tuple[tuple[str, Callable[[Sequence[Any]], str]], ...] = (
    ("SELECT integration, left_id, count(*) FROM links GROUP BY integration, left_id HAVING count(*) > 1",
     lambda r: f"links ({r[0]}, left {r[1]}): linked {r[2]} times"),
    ("SELECT integration, right_id, count(*) FROM links GROUP BY integration, right_id HAVING count(*) > 1",
     lambda r: f"links ({r[0]}, right {r[1]}): linked {r[2]} times"),
    (f"SELECT l.integration, l.left_id, l.right_id FROM links l WHERE {_NO_LEFT}",
     lambda r: f"links ({r[0]}, left {r[1]}): linked to right {r[2]}, but no snapshot of left {r[1]}"),
    (f"SELECT l.integration, l.right_id, l.left_id FROM links l WHERE {_NO_RIGHT}",
     lambda r: f"links ({r[0]}, right {r[1]}): linked to left {r[2]}, but no snapshot of right {r[1]}"),
    (f"SELECT i.integration, i.id, i.kind, i.side, i.source_id FROM intents i"
     f" WHERE {_missing_snapshot('i', _OTHER, 'source_id')}",
     lambda r: f"intents ({r[0]}, id {r[1]}): pending {r[2]} of {r[3]} from a source record {r[4]} "
               "that has no snapshot"),
    (f"SELECT i.integration, i.id, i.kind, i.side, i.target_id FROM intents i WHERE i.kind <> 'create'"
     f" AND (i.target_id IS NULL OR {_missing_snapshot('i', 'i.side', 'target_id')})",
     lambda r: f"intents ({r[0]}, id {r[1]}): pending {r[2]} of {r[3]} record {r[4]}, which has no snapshot"),
    # Only a create or an update a crash cut short counts none (no answer, so no status: see
    # syncd.sync._context.cut_short_message): it has not failed yet.
    ("SELECT integration, id, side, record_id, attempts FROM errors WHERE resolved_at IS NULL AND (attempts < 0"
     " OR (attempts = 0 AND (operation NOT IN ('create', 'update') OR status IS NOT NULL)))",
     lambda r: f"errors ({r[0]}, id {r[1]}): open error of {r[2]} {r[3]} counts {r[4]} attempts"),
)


def invariant_problems(rows: Rows) -> list[str]:
    """The lines of every invariant broken, in :data:`INVARIANTS`' order."""
    return [explain(row) for sql, explain in INVARIANTS for row in rows(sql)]


def version_problem(found: int, current: int) -> list[str]:
    if found == current:
        return []
    return [f"schema version is {found}, this syncd's is {current}: the migrations did not complete"]
