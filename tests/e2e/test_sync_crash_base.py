"""A create a kill -9 left unconfirmed, then edits on both records of the pair: none is lost.

syncd is killed right after the right app created a contact (before syncd heard back): the next run
finds it by its match key and links it. Meanwhile the created contact's last name was edited on the
right, and later its source's first name on the left. Both edits reach the other side: the pair's
base is what the create wrote, so only those two fields changed, each on one side, and there is no
conflict. (Before, the recovered pair had no base: every field that differed was a conflict, and
``newest_wins``, comparing whole records, gave the newer left record the last name back: the right's
edit was lost.)
"""

from __future__ import annotations

import time

from e2e_support import WRITE_MODES, by_email, kill_at, write_requests

from syncd.sampleapp import RequestRecord


def is_create(record: RequestRecord) -> bool:
    return record.method == "POST" and record.path == "/contacts"


def test_edits_after_an_unconfirmed_create_reach_the_other_side(pair) -> None:
    p = pair(left_n=3)
    p.connector(drop=WRITE_MODES["one_by_one"])
    kill_at(p, 1, is_create)
    [created] = p.right.store.all()
    email = created["email"].lower()
    p.right.store.update(created["id"], last_name="EditedOnTheRight")
    time.sleep(0.01)  # the left record is the newer one
    source = by_email(p.left)[email]
    p.left.store.update(source["id"], first_name="EditedOnTheLeft")
    summary = p.once()
    assert summary["conflicts"] == 0, summary
    left, right = by_email(p.left)[email], by_email(p.right)[email]
    assert (left["first_name"], left["last_name"]) == ("EditedOnTheLeft", "EditedOnTheRight")
    assert (right["first_name"], right["last_name"]) == ("EditedOnTheLeft", "EditedOnTheRight")
    assert len(p.right.store.all()) == 3
    p.clear_requests()
    p.once()
    assert write_requests(p.left, p.right) == []
