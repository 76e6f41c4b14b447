"""The backoff of failed records: when each is due again, and when it waits for an operator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from syncd.config import RecordRetries
from syncd.state import RecordErrorRow, Side, Snapshot
from syncd.sync._retries import RetryGate, late_lookups, next_retry_at

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
DEFAULT = RecordRetries()


def minutes(n: float) -> datetime:
    return NOW + timedelta(minutes=n)


def test_the_default_waits_grow_five_fold_then_the_record_waits_for_an_operator() -> None:
    assert [next_retry_at(DEFAULT, attempts, NOW) for attempts in range(1, 6)] == [
        minutes(1), minutes(5), minutes(25), minutes(125), None]


def test_the_wait_is_capped_and_a_factor_of_one_keeps_it_constant() -> None:
    capped = RecordRetries(attempts=10, backoff_initial_seconds=60, backoff_factor=10, backoff_max_seconds=3600)
    assert [next_retry_at(capped, a, NOW) for a in (1, 2, 3, 9)] == [minutes(1), minutes(10), minutes(60), minutes(60)]
    flat = RecordRetries(attempts=3, backoff_initial_seconds=0, backoff_factor=1, backoff_max_seconds=60)
    assert [next_retry_at(flat, a, NOW) for a in (1, 2, 3)] == [NOW, NOW, None]
    assert next_retry_at(RecordRetries(attempts=1), 1, NOW) is None  # one attempt: no automatic retry


def snap(side: Side, record_id: str) -> Snapshot:
    return Snapshot(side=side, record_id=record_id, seen={}, dirty=True)


def test_the_gate_holds_a_pair_by_the_errors_of_either_record_as_a_source() -> None:
    errors = [
        RecordErrorRow("right", "L1", "create", "422", next_retry_at=minutes(5)),  # L1 -> right: later
        RecordErrorRow("right", "L2", "update", "422", next_retry_at=None),  # L2 -> right: waiting
        RecordErrorRow("left", "R3", "update", "500", next_retry_at=minutes(-1)),  # R3 -> left: due
        RecordErrorRow("left", "L4", "list", "unreadable", next_retry_at=None),  # a read: never holds
        RecordErrorRow("right", "L5", "update", "500", next_retry_at=minutes(5)),  # L5 -> right: later
    ]
    gate = RetryGate(DEFAULT, errors, NOW)
    assert gate.held("left", snap("left", "L1"), None) == "retry_later"
    assert gate.held("left", snap("left", "L2"), snap("right", "R2")) == "waiting_for_operator"
    assert gate.held("right", snap("right", "R3"), None) is None
    assert gate.held("left", snap("left", "L4"), None) is None
    # the partner's failed write holds the pair too
    assert gate.held("right", snap("right", "R9"), snap("left", "L5")) == "retry_later"
    # a failed create holds nothing once the pair has both records: no create is left to make
    assert gate.held("right", snap("right", "R9"), snap("left", "L1")) is None
    assert gate.held("left", snap("left", "L1"), snap("right", "R9")) is None
    assert RetryGate(DEFAULT, errors, NOW, enforce=False).held("left", snap("left", "L2"), None) is None


def test_a_failure_counts_on_from_the_open_error_and_a_shared_one_is_due_at_once() -> None:
    gate = RetryGate(DEFAULT, [RecordErrorRow("right", "L1", "create", "x", attempts=2)], NOW)
    assert gate.failed("right", "L1", "create", shared=False) == (3, minutes(25))
    assert gate.failed("right", "L1", "update", shared=False) == (1, minutes(1))  # another operation
    assert gate.failed("right", "L1", "create", shared=True) == (3, NOW)
    last = RetryGate(DEFAULT, [RecordErrorRow("right", "L1", "create", "x", attempts=4)], NOW)
    assert last.failed("right", "L1", "create", shared=True) == (5, None)  # bounded all the same


def test_a_create_or_update_without_an_answer_waits_the_timeout_from_its_failure() -> None:
    at = datetime(2026, 12, 7, 12, tzinfo=UTC)
    errors = [RecordErrorRow("right", "c1", "create", "timed out", at=at),
              RecordErrorRow("right", "u1", "update", "cut short", attempts=0, at=at),
              RecordErrorRow("right", "u2", "update", "refused", status=504, at=at),  # answered: not in flight
              RecordErrorRow("right", "d1", "delete", "timed out", at=at),
              RecordErrorRow("left", "u3", "update", "timed out", at=at, resolved_at=at)]
    assert late_lookups(errors, {"left": 5.0, "right": 30.0}) == {
        ("right", "c1"): at + timedelta(seconds=30), ("right", "u1"): at + timedelta(seconds=30)}
