"""A create whose answer never came may still land after the client gave up.

An app can go on with a request its client stopped waiting for: the
sample app holds the left's create (as a slow app would) past the
connector's ``timeout``, so syncd counts it failed with its outcome
unknown. The next cycle comes at once. Looking the contact up then finds
nothing (the app has not made it yet), and before the fix syncd took that
as "never created": it resolved the create's intent and sent the create
again, so the late one made a second contact (the sample app refuses it
with 409, which is how the test sees it). Now a create that failed with no
answer is looked up only once the app has had the connector's timeout
again to finish it; until then its source waits (``retry_later``).

And a record whose create gave up (waiting for an operator) is no longer
held back once the contact turns up on the other side anyway (made by
hand, or by a late create): it is paired by its match key, like any other,
and its error is over.
"""

from __future__ import annotations

import json
import signal
import time
from typing import Any

from e2e_support import Pair

TIMEOUT = 2.0  # the connector's: the held create fails after this


def open_errors(p: Pair) -> list[dict[str, Any]]:
    result = p.syncd("errors", p.name, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    errors: list[dict[str, Any]] = json.loads(result.stdout)
    return errors


def once(p: Pair) -> dict[str, Any]:
    """``syncd once``'s summary, whatever its exit code (1 when a write failed)."""
    run = p.run()
    assert run.summary is not None, run.stdout + run.stderr
    return run.summary


def refused_as_duplicates(p: Pair) -> list[Any]:
    return [r for r in p.left.requests.all() if r.method == "POST" and r.status == 409]


def test_a_create_that_lands_after_its_timeout_is_found_not_made_twice(pair) -> None:
    p: Pair = pair(left_n=0, right_n=1, extra={
        "record_retries": {"attempts": 3, "backoff_initial": 0, "backoff_factor": 1}})
    p.connector(timeout=TIMEOUT, retry={"max_attempts": 1})
    held = p.left.faults.add(hold=True, method="POST", path_prefix="/contacts")

    first = once(p)
    assert first["errors"] == 1 and first["created"]["left"] == 0, first
    failed_at = time.monotonic()

    # The app is still making the contact: it is not there to be found yet.
    second = once(p)
    assert second["created"]["left"] == 0, second
    assert second["retry_later"] == 1, second
    held.release()
    p.left.faults.clear()

    # Once the app has had the timeout again, the lookup finds the late contact.
    time.sleep(max(0.0, failed_at + TIMEOUT + 0.2 - time.monotonic()))
    third = once(p)
    assert third["created"] == {"left": 0, "right": 0}, third
    assert refused_as_duplicates(p) == []
    assert len(p.left.store.all()) == 1
    assert open_errors(p) == []
    p.clear_requests()
    last = once(p)
    assert last["created"] == last["updated"] == {"left": 0, "right": 0}, last
    assert last["retry_later"] == 0 and last["errors"] == 0, last


def test_a_create_that_gave_up_is_paired_when_its_contact_turns_up(pair) -> None:
    p: Pair = pair(left_n=0, right_n=1, extra={"record_retries": {"attempts": 1}})
    p.left.faults.add(status=422, method="POST", path_prefix="/contacts")
    first = once(p)
    assert first["errors"] == 1, first
    [error] = open_errors(p)
    assert error["state"] == "waiting", error

    # Someone makes the contact on the left by hand.
    [contact] = p.right.store.all()
    p.left.store.create({k: contact[k] for k in ("email", "first_name", "last_name")})
    second = once(p)
    assert second["waiting_for_operator"] == 0, second
    assert second["created"] == {"left": 0, "right": 0}, second
    assert open_errors(p) == []
    assert len(p.left.store.all()) == len(p.right.store.all()) == 1


def edited_while_held(p: Pair) -> tuple[Any, float, Any]:
    """A held create that failed on its timeout, and its source edited after:
    the right contact, when the create failed, and the hold (to release)."""
    held = p.left.faults.add(hold=True, method="POST", path_prefix="/contacts")
    first = once(p)
    assert first["errors"] == 1 and first["created"]["left"] == 0, first
    failed_at = time.monotonic()
    [contact] = p.right.store.all()
    p.right.store.update(contact["id"], last_name="Edited")
    return contact, failed_at, held


def settled_left(p: Pair) -> dict[str, Any]:
    for _ in range(3):
        once(p)
    [left] = p.left.store.all()
    return left


def test_an_edit_made_while_a_late_create_is_looked_up_is_not_lost(pair) -> None:
    # The edit is read while the lookup waits; the lookup then finds the late contact. Before
    # the fix the pair's base on the source side was the edited record (what the source held
    # when the lookup came, not when the create was sent): the edit looked in step, and the
    # left kept the old name for good, quietly.
    p: Pair = pair(left_n=0, right_n=1, extra={
        "record_retries": {"attempts": 3, "backoff_initial": 0, "backoff_factor": 1}})
    p.connector(timeout=TIMEOUT, retry={"max_attempts": 1})
    contact, failed_at, held = edited_while_held(p)
    second = once(p)  # reads the edit; the app is still making the contact
    assert second["retry_later"] == 1, second
    held.release()  # the create lands now, with the values it was sent
    p.left.faults.clear()
    time.sleep(max(0.0, failed_at + TIMEOUT + 0.2 - time.monotonic()))
    left = settled_left(p)
    assert left["last_name"] == "Edited"
    assert p.right.store.get(contact["id"])["last_name"] == "Edited"
    assert refused_as_duplicates(p) == [] and open_errors(p) == []


def test_an_edit_made_before_a_late_create_is_read_is_not_lost(pair) -> None:
    # The late contact is read (and paired by its match key) before its lookup is due. Before
    # the fix the pair had no base: two records never synced, so newest_wins took the whole
    # late contact (made after the edit) and wrote the old name back over the edit.
    p: Pair = pair(left_n=0, right_n=1, extra={
        "record_retries": {"attempts": 3, "backoff_initial": 0, "backoff_factor": 1}})
    p.connector(timeout=TIMEOUT, retry={"max_attempts": 1})
    contact, _, held = edited_while_held(p)
    held.release()  # the create lands now, after the edit, with the values it was sent
    p.left.faults.clear()
    time.sleep(0.3)
    left = settled_left(p)
    assert left["last_name"] == "Edited"
    assert p.right.store.get(contact["id"])["last_name"] == "Edited"
    assert refused_as_duplicates(p) == [] and open_errors(p) == []


def test_a_late_creates_error_stays_open_when_the_other_apps_record_of_that_id_syncs(pair) -> None:
    # Both sample apps number their contacts from 1000000, as two apps of one kind would: the
    # left contact 1000000 and the right contact 1000000 are different people. An error is
    # keyed by side and id: the left contact's create on the right is (right, 1000000), and so
    # are the right contact's own read errors. Before the fix the right contact's pair, synced
    # in the same cycle, resolved every error of (right, 1000000): the create's too, so the
    # next cycle looked it up at once, found nothing yet and made the contact a second time.
    p: Pair = pair(left_n=1, right_n=1, extra={
        "record_retries": {"attempts": 3, "backoff_initial": 0, "backoff_factor": 1}})
    p.connector(timeout=TIMEOUT, retry={"max_attempts": 1})
    [left], [right] = p.left.store.all(), p.right.store.all()
    assert left["id"] == right["id"] and left["email"] != right["email"]
    held = p.right.faults.add(hold=True, method="POST", path_prefix="/contacts")

    first = once(p)
    assert first["errors"] == 1 and first["created"] == {"left": 1, "right": 0}, first
    failed_at = time.monotonic()
    # At once (the lookup waits the timeout from the failure: a loaded machine must not spend it
    # before the second run starts, so the errors are asked after it).
    second = once(p)  # the app is still making it: its lookup waits
    assert second["retry_later"] == 1 and second["created"]["right"] == 0, second
    [error] = open_errors(p)
    assert (error["side"], error["operation"]) == ("right", "create"), error
    held.release()
    p.right.faults.clear()
    time.sleep(max(0.0, failed_at + TIMEOUT + 0.2 - time.monotonic()))
    once(p)
    assert [r for r in p.right.requests.all() if r.method == "POST" and r.status == 409] == []
    assert sorted(c["email"] for c in p.right.store.all()) == sorted([left["email"], right["email"]])
    assert open_errors(p) == []


def test_a_create_a_kill_cut_short_is_looked_up_only_after_the_app_had_its_timeout(pair) -> None:
    # syncd is killed (-9) while the app is still making the contact: the create's intent is open
    # with no error. Before the fix the next run looked it up at once (a crash was taken to have
    # left nothing in flight), found nothing yet, and made the contact a second time; the first
    # then landed and the sample app refused it as a duplicate (409). Now a create a crash cut
    # short is an unknown outcome like a timeout: an error from the first run that finds it, and
    # the lookup waits the connector's timeout from then.
    p: Pair = pair(left_n=0, right_n=1, extra={
        "record_retries": {"attempts": 1, "backoff_initial": 0, "backoff_factor": 1}})
    p.connector(timeout=TIMEOUT, retry={"max_attempts": 1})
    held = p.left.faults.add(hold=True, method="POST", path_prefix="/contacts")
    run = p.spawn()
    try:
        p.left.faults.wait_hit(held, timeout=30)  # the create is inside the app
    finally:
        run.kill()
        run.communicate(timeout=30)
    assert run.returncode == -signal.SIGKILL

    second = once(p)
    found_at = time.monotonic()
    assert second["created"]["left"] == 0, second
    assert second["retry_later"] == 1, second
    [error] = open_errors(p)
    assert (error["side"], error["operation"], error["http_status"]) == ("left", "create", None), error
    assert "cut short" in error["message"] and error["attempts"] == 0, error
    assert error["state"] == "retrying", error
    human = p.syncd("errors", p.name).stdout
    assert "create cut short: its outcome was never recorded: syncd stopped while it was being sent" in human, human
    assert f"no attempt failed; looked up after {error['next_retry_at']}" in human, human
    held.release()  # the first create lands now
    p.left.faults.clear()

    time.sleep(max(0.0, found_at + TIMEOUT + 0.2 - time.monotonic()))
    third = once(p)
    assert third["created"] == {"left": 0, "right": 0}, third
    assert refused_as_duplicates(p) == []
    assert len(p.left.store.all()) == 1
    assert open_errors(p) == []
    # The crash is not the record's failure: with one attempt allowed, nothing waits for an operator.
    assert third["waiting_for_operator"] == 0, third
    p.clear_requests()
    last = once(p)
    assert last["created"] == last["updated"] == {"left": 0, "right": 0}, last
