"""When the writer may skip the retry gate: only when it can hold nothing back.

The writer asks :meth:`RetryGate.held` for each record only while the gate is
``open`` (enforced, with an open write error); an initial sync has none, and
its 100,000 records are not looked up one by one.
"""

from __future__ import annotations

from datetime import UTC, datetime

from syncd.config import RecordRetries
from syncd.state import RecordErrorRow, Snapshot
from syncd.sync._retries import RetryGate

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
LATER = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def test_a_gate_is_open_only_when_an_enforced_write_error_could_hold_a_record() -> None:
    pending = RecordErrorRow("right", "L1", "create", "422", next_retry_at=LATER)
    read_only = RecordErrorRow("left", "L4", "list", "unreadable", next_retry_at=None)
    resolved = RecordErrorRow("right", "L5", "update", "422", next_retry_at=None, resolved_at=NOW)
    assert RetryGate(RecordRetries(), [pending], NOW).open
    assert not RetryGate(RecordRetries(), [], NOW).open
    assert not RetryGate(RecordRetries(), [read_only, resolved], NOW).open  # no open write error
    assert not RetryGate(RecordRetries(), [pending], NOW, enforce=False).open  # an operator's retry
    # What an open gate holds back, a closed one cannot: every record is due.
    l1 = Snapshot(side="left", record_id="L1", seen={}, dirty=True)
    assert RetryGate(RecordRetries(), [pending], NOW).held("left", l1, None) == "retry_later"
    assert RetryGate(RecordRetries(), [read_only, resolved], NOW).held("left", l1, None) is None
