"""The apps misbehave: 429s, 500s, slow answers, dropped connections.

syncd retries what is safe to retry and keeps what is not for the next
cycle: whatever the faults, every change arrives and nothing is created
twice. The sample app's spec is overridden in the config dir with a short
timeout and fast retries, so that the stories take seconds; the stories
about writes run twice, with the spec's batch operations and without them.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from e2e_support import WRITE_MODES, Pair, by_email, duplicates, emails, write_requests

from syncd.sampleapp import SampleApp

TIMEOUT = 1.0
SLOW = TIMEOUT + 0.5  # an answer that comes after the client gave up
write_modes = pytest.mark.parametrize("mode", list(WRITE_MODES))


def impatient(p: Pair, mode: str = "in_batches") -> dict[str, Any]:
    """The sample app's spec with a 1 s timeout and quick retries; returns it.
    A record that failed is written again by the very next cycle (no
    backoff): these stories heal the app and sync again at once."""
    p.write(extra={"record_retries": {"backoff_initial": 0}})
    return p.connector(timeout=TIMEOUT, drop=WRITE_MODES[mode],
                       retry={"max_attempts": 5, "backoff_initial": 0.05, "backoff_max": 0.2})


def updates_go_to(spec: dict[str, Any]) -> tuple[str, str]:
    """(method, path prefix) of the requests that update several contacts."""
    batch = spec["objects"]["contacts"].get("update_batch")
    if batch is not None:
        return batch.get("method", "POST"), batch["path"]
    return spec["objects"]["contacts"]["update"]["method"], "/contacts/"


def in_step(p: Pair, n: int) -> None:
    """Both apps hold the same ``n`` contacts, each once, with the same names."""
    assert duplicates(p.left) == [] and duplicates(p.right) == []
    assert emails(p.left) == emails(p.right) and len(emails(p.left)) == n
    right = by_email(p.right)
    for email, contact in by_email(p.left).items():
        assert (right[email]["first_name"], right[email]["last_name"]) == \
            (contact["first_name"], contact["last_name"]), email


def answered_late(app: SampleApp, method: str) -> None:
    """Wait until the app has answered the request it was slow on (the
    client gave up on it long ago)."""
    app.requests.wait_for(method=method, where=lambda r: r.duration >= SLOW, timeout=5 * SLOW)


def test_reads_through_500s_timeouts_and_dropped_connections_and_a_429_lose_nothing(pair) -> None:
    p = pair(left_n=20, right_n=5)
    impatient(p)
    faults = [
        p.right.faults.add(status=429, retry_after="1", method="POST", path_prefix="/contacts"),
        p.left.faults.add(status=500, method="GET", path_prefix="/cursor/contacts", times=2),
        p.right.faults.add(delay=SLOW, method="GET", path_prefix="/cursor/contacts"),
        p.right.faults.add(close=True, method="GET", path_prefix="/cursor/contacts"),
    ]
    run = p.run()
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.summary is not None
    assert run.summary["created"] == {"left": 5, "right": 20} and run.summary["errors"] == 0
    in_step(p, 25)
    assert [f.hits for f in faults] == [1, 2, 1, 1]
    first, retried = sorted(p.right.requests.matching("POST", "/contacts"), key=lambda r: r.time)[:2]
    assert (first.status, retried.status) == (429, 201)
    assert retried.time - first.time >= 0.9  # Retry-After: 1 was honoured
    answered_late(p.right, "GET")
    p.clear_requests()
    assert p.once()["updated"] == {"left": 0, "right": 0}
    assert write_requests(p.left, p.right) == []


@write_modes
def test_updates_through_500s_timeouts_and_dropped_connections_all_arrive(pair, mode) -> None:
    p = pair(left_n=20)
    spec = impatient(p, mode)
    p.once()
    left, right = p.left.store.all(), p.right.store.all()
    for contact in left[:3]:
        p.left.store.update(contact["id"], first_name=f"L{contact['first_name']}")
    for contact in right[10:12]:
        p.right.store.update(contact["id"], last_name=f"R{contact['last_name']}")
    method, path = updates_go_to(spec)
    faults = [  # an update is safe to send again, whatever its shape
        p.right.faults.add(delay=SLOW, method=method, path_prefix=path),
        p.right.faults.add(close=True, method=method, path_prefix=path),
        p.left.faults.add(status=500, method=method, path_prefix=path, times=2),
        p.left.faults.add(close=True, method="GET", path_prefix="/cursor/contacts"),
    ]
    p.clear_requests()
    run = p.run()
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.summary is not None
    assert run.summary["updated"] == {"left": 2, "right": 3} and run.summary["errors"] == 0
    in_step(p, 20)
    assert [f.hits for f in faults] == [1, 1, 2, 1]
    answered_late(p.right, method)  # the app applies the slow update too: the same values
    p.clear_requests()
    assert p.once()["updated"] == {"left": 0, "right": 0}  # a write retried is not echoed back
    assert write_requests(p.left, p.right) == []


def fail_creates_of(app: SampleApp, email: str, *, after_storing: bool = False) -> list[str]:
    """Make the app answer 500 to every request that creates a contact with
    this email, alone or in a batch.

    ``after_storing``: the app stores what it was sent first, then fails (a
    gateway that gave up, say); otherwise it fails before storing anything.
    Returns the list of emails it refused, one per failed request.
    """
    from syncd.sampleapp._http import ApiError  # the app's own "answer with an error"

    store = app.store
    create, create_many = store.create, getattr(store, "create_many", None)
    refused: list[str] = []

    def hit(records: list[dict[str, Any]]) -> bool:
        return any(str(r.get("email", "")).lower() == email.lower() for r in records)

    def failing_create(record: dict[str, Any]) -> dict[str, Any]:
        if not hit([record]):
            return create(record)
        refused.append(email)
        if after_storing:
            create(record)
        raise ApiError(500, "internal server error")

    def failing_create_many(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        assert create_many is not None
        if not hit(records):
            return create_many(records)  # type: ignore[no-any-return]
        refused.append(email)
        if after_storing:  # every record of the batch, as the real method stores them
            for record in records:
                create(record)
        raise ApiError(500, "internal server error")

    store.create = failing_create  # type: ignore[method-assign]
    if create_many is not None:
        store.create_many = failing_create_many  # type: ignore[method-assign]
    return refused


def heal(app: SampleApp) -> None:
    for name in ("create", "create_many"):
        app.store.__dict__.pop(name, None)  # back to the class's methods


@write_modes
def test_a_create_that_fails_is_reported_the_others_arrive_and_it_is_made_once_later(pair, mode) -> None:
    p = pair(left_n=10)
    impatient(p, mode)
    victim = emails(p.left)[3]
    refused = fail_creates_of(p.right, victim)
    # Record by record, the nine others arrive at once; a batch that failed
    # with a 500 may take one more cycle to be sent one by one.
    for _ in range(1 if mode == "one_by_one" else 2):
        run = p.run()
        assert run.returncode == 3, run.stdout + run.stderr  # one record failed, not the cycle
        assert run.summary is not None and run.summary["errors"] >= 1
        assert victim not in emails(p.right)
        if len(emails(p.right)) == 9:
            break
    assert len(emails(p.right)) == 9 and duplicates(p.right) == [], mode
    assert refused
    heal(p.right)
    p.clear_requests()
    summary = p.once()
    assert summary["created"] == {"left": 0, "right": 1} and summary["errors"] == 0
    in_step(p, 10)
    assert len(write_requests(p.right)) == 1


@write_modes
def test_a_create_stored_but_answered_500_is_linked_not_made_twice(pair, mode) -> None:
    p = pair(left_n=10)
    impatient(p, mode)
    victim = emails(p.left)[6]
    fail_creates_of(p.right, victim, after_storing=True)
    run = p.run()
    assert run.returncode == 3, run.stdout + run.stderr
    assert run.summary is not None and run.summary["errors"] >= 1
    heal(p.right)
    p.clear_requests()
    summary = p.once()
    assert summary["errors"] == 0
    in_step(p, 10)  # what the app stored was found and linked
    p.clear_requests()
    p.once()
    assert write_requests(p.left, p.right) == []


@write_modes
def test_a_create_that_times_out_after_the_app_stored_it_is_not_made_twice(pair, mode) -> None:
    p = pair(left_n=10)
    impatient(p, mode)
    p.right.faults.add(delay=SLOW, method="POST", path_prefix="/contacts")
    first = p.run()
    ended = time.monotonic()
    assert first.summary is not None
    # The create timed out: it is not sent again (the app may have stored
    # it); that record waits for the next cycle, the cycle goes on.
    assert first.returncode == 3, first.stdout + first.stderr
    assert first.summary["errors"] >= 1
    answered_late(p.right, "POST")  # the app did store it, after the client gave up
    # A create that timed out is looked up once the app has had the timeout again
    # (tests/e2e/test_late_create.py): every failure was before the run ended.
    time.sleep(max(0.0, ended + TIMEOUT + 0.2 - time.monotonic()))
    p.clear_requests()
    summary = p.once()
    assert summary["errors"] == 0
    in_step(p, 10)  # found and linked, not created again
    p.clear_requests()
    p.once()
    assert write_requests(p.left, p.right) == []


@pytest.mark.parametrize("status", [503, 404])
def test_a_side_that_keeps_failing_its_reads_aborts_the_cycle_with_the_reason(pair, status: int) -> None:
    p = pair(left_n=5)
    impatient(p)
    p.right.faults.add(status=status, method="GET", path_prefix="/cursor/contacts", times=None)
    run = p.run()
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.summary is not None and "Traceback" not in run.stderr
    assert f"answered HTTP {status}" in run.summary["aborted"]
    assert run.summary["created"] == {"left": 0, "right": 0}
    p.right.faults.clear()
    assert p.once()["created"]["right"] == 5  # the app back: nothing was lost
