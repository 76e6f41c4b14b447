"""How long the conflict log and the resolved record errors are kept.

Both hold contacts' values (a conflict both sides' values of a field, an
error the app's message, which often quotes the record), and both grew
for ever: the state store without bound, and ``syncd status``'s count of
the conflicts with it. Each store deletes an integration's rows older than
:data:`KEPT_DAYS`, its child objects' keys (``NAME/notes``) with it, in the
transaction that records a cycle of it (:meth:`Transaction.add_cycle`), at
most once per :data:`PRUNE_EVERY_SECONDS` in a process: nothing at rest in
between. An error still open is kept whatever its age: it is work to do.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta

from syncd.state._store import utc_now

KEPT_DAYS = 90
PRUNE_EVERY_SECONDS = 3600.0


def prune_due(due_at: dict[str, float], integration: str) -> bool:
    """Whether *integration*'s history is due for pruning now (then it is not for the next hour)."""
    now = time.monotonic()
    if now < due_at.get(integration, -math.inf):
        return False
    due_at[integration] = now + PRUNE_EVERY_SECONDS
    return True


def cutoff() -> datetime:
    """Rows from before this are deleted."""
    return utc_now() - timedelta(days=KEPT_DAYS)


def child_keys_range(integration: str) -> tuple[str, str]:
    """Bounds (exclusive) of the keys ``INTEGRATION/…`` of its child objects: "0" is the
    character after "/", so a sibling such as ``INTEGRATION-2`` is outside."""
    return integration + "/", integration + "0"


def prune_statements(p: str) -> tuple[tuple[str, str], ...]:
    """The deletes, with *p* as the placeholder (``?`` for SQLite, ``%s`` for PostgreSQL): per
    table, an integration's rows (integration, cutoff), then its child objects' keys' (the two
    bounds, cutoff); each over the table's (integration, at) index."""
    return tuple(
        (f"DELETE FROM {table} WHERE integration = {p} AND at < {p}{only}",
         f"DELETE FROM {table} WHERE integration > {p} AND integration < {p} AND at < {p}{only}")
        for table, only in (("conflicts", ""), ("errors", " AND resolved_at IS NOT NULL")))


__all__ = ["KEPT_DAYS", "PRUNE_EVERY_SECONDS", "child_keys_range", "cutoff", "prune_due", "prune_statements"]
