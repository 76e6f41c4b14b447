"""A create a kill -9 left unconfirmed, then edits on both records of the pair: none is lost.

syncd is killed right after the right app created a contact (before syncd heard back): the next run
reads it and pairs it by its match key, with the base the create's intent holds (the lookup of a
create a kill cut short waits the connector's timeout; the two creates not sent yet are made then). Meanwhile the created contact's last name was edited on the
right, and later its source's first name on the left. Both edits reach the other side: the pair's
base is what the create wrote, so only those two fields changed, each on one side, and there is no
conflict. (Before, the recovered pair had no base: every field that differed was a conflict, and
``newest_wins``, comparing whole records, gave the newer left record the last name back: the right's
edit was lost.)

The created contact is found three ways: by ``find``; by a full read of the right (a spec without
``find``), after which the left's edit was read already, so the left's base is its snapshot from
before that read; and by a full read after ``find`` failed (before, a failed ``find`` aborted every
cycle until the app answered it).
"""

from __future__ import annotations

import time

import pytest

from e2e_support import CUT_SHORT_TIMEOUT, WRITE_MODES, after_a_kill, by_email, kill_at, write_requests

from syncd.sampleapp import RequestRecord


def is_create(record: RequestRecord) -> bool:
    return record.method == "POST" and record.path == "/contacts"


@pytest.mark.parametrize("found_by", ["find", "full read", "full read after find failed"])
def test_edits_after_an_unconfirmed_create_reach_the_other_side(pair, found_by: str) -> None:
    p = pair(left_n=3)
    p.connector(drop=(*WRITE_MODES["one_by_one"], *(("find",) if found_by == "full read" else ())),
                retry={"max_attempts": 3, "backoff_initial": 0.05, "backoff_max": 0.2},
                timeout=CUT_SHORT_TIMEOUT)
    kill_at(p, 1, is_create)  # the three creates' intents are written; the first create is sent
    [created] = p.right.store.all()
    email = created["email"].lower()
    p.right.store.update(created["id"], last_name="EditedOnTheRight")
    time.sleep(0.01)  # the left record is the newer one
    source = by_email(p.left)[email]
    p.left.store.update(source["id"], first_name="EditedOnTheLeft")
    failing_find = p.right.faults.add(status=500, method="GET", path_prefix="/contacts/search", times=None)
    if found_by != "full read after find failed":
        p.right.faults.clear()
    # The three lookups wait; the created contact, read, is paired by its match key from the
    # create's base, and the edits cross.
    summary = after_a_kill(p)
    assert summary["aborted"] is None and summary["conflicts"] == 0, summary
    assert summary["retry_later"] == 2, summary
    left, right = by_email(p.left)[email], by_email(p.right)[email]
    assert (left["first_name"], left["last_name"]) == ("EditedOnTheLeft", "EditedOnTheRight")
    assert (right["first_name"], right["last_name"]) == ("EditedOnTheLeft", "EditedOnTheRight")
    # The lookups are due: the two creates the kill stopped before they were sent are not found
    # (by find, or by a full read of the right), and are sent now.
    summary = p.once()
    assert summary["aborted"] is None and summary["created"] == {"left": 0, "right": 2}, summary
    assert (failing_find.hits > 0) == (found_by == "full read after find failed"), failing_find.hits
    p.right.faults.clear()
    assert len(p.right.store.all()) == 3
    assert p.syncd("errors", p.name, "--json").stdout.strip() == "[]"
    p.clear_requests()
    p.once()
    assert write_requests(p.left, p.right) == []


def test_a_kill_after_a_create_is_stored_but_before_its_batch_is_committed_loses_no_edit(pair) -> None:
    # A batch of the left's changes: a new contact (created on the right) and an edited one (updated
    # on the right). The create's result is committed with its link right after the call; syncd is
    # killed at the update that follows, before the batch's commit. The new pair's base must already
    # be in step then, on both sides (before, only the created side's was: its source, never synced,
    # "changed" every field, so an edit of the created record was a conflict, and newest_wins gave
    # it the newer left record's old last name back).
    p = pair(left_n=2)
    p.connector(drop=WRITE_MODES["one_by_one"])
    p.once()
    new = p.left.store.create({"email": "new@example.com", "first_name": "New", "last_name": "Person"})
    edited = p.left.store.ids()[0]
    p.left.store.update(edited, first_name="Changed")
    kill_at(p, 1, lambda r: r.method == "PATCH" and r.path.startswith("/contacts/"))
    created = by_email(p.right)["new@example.com"]
    p.right.store.update(created["id"], last_name="EditedOnTheRight")
    time.sleep(0.01)  # the left record is the newer one
    p.left.store.update(new["id"], first_name="EditedOnTheLeft")
    summary = p.once()
    assert summary["conflicts"] == 0, summary
    left, right = by_email(p.left)["new@example.com"], by_email(p.right)["new@example.com"]
    assert (left["first_name"], left["last_name"]) == ("EditedOnTheLeft", "EditedOnTheRight")
    assert (right["first_name"], right["last_name"]) == ("EditedOnTheLeft", "EditedOnTheRight")
    assert len(p.right.store.all()) == 3
