"""One cycle of one integration: read, diff, map, plan, write, checkpoint.

:class:`Cycles` is the one way to start a cycle: ``await
Cycles(config, store, accounts).run(name, origin=...)``, or ``with
Cycles.open(config) as cycles`` for a command that has no store open;
:class:`CycleSummary` says what the cycle did. :func:`retry_errors` (an
operator's retry) and :func:`sync_records` sync chosen records now, the
way a cycle would. :class:`BulkSync` is a bulk sync (every linked pair,
every mapped field), built on the same cycles.
"""

from syncd.sync._bulk import BulkSync, bulk_progress
from syncd.sync._children import child_keys, child_states
from syncd.sync._cycle import Cycle
from syncd.sync._factory import Cycles
from syncd.sync._listing import (
    conflict_count,
    conflict_entries,
    error_entries,
    errors_status,
    open_errors,
    retry_entries,
)
from syncd.sync._plan import IntegrationPlan
from syncd.sync._records import RecordOutcome, RetryOutcome, UnknownErrors, retry_errors, source_of, sync_records
from syncd.sync._retries import next_retry_at
from syncd.sync._summary import CycleStopped, CycleSummary, PlannedWrite

__all__ = [
    "BulkSync",
    "Cycle",
    "CycleStopped",
    "CycleSummary",
    "Cycles",
    "IntegrationPlan",
    "PlannedWrite",
    "RecordOutcome",
    "RetryOutcome",
    "UnknownErrors",
    "bulk_progress",
    "child_keys",
    "child_states",
    "conflict_count",
    "conflict_entries",
    "error_entries",
    "errors_status",
    "next_retry_at",
    "open_errors",
    "retry_entries",
    "retry_errors",
    "source_of",
    "sync_records",
]
