"""``syncd reset pair``: forget the state and sync again from a full read.

Without ``--read-only`` records are matched again by email, so nothing is
created twice. With it, the state is rebuilt from what both apps hold and
nothing is written: only changes made afterwards are synced.
"""

from __future__ import annotations

from e2e_support import Pair, by_email, duplicates, emails, write_requests, written


def reset(p: Pair, *args: str) -> dict:
    run = p.run("reset", "pair", *args)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.summary is not None and run.summary["aborted"] is None
    return run.summary


def test_reset_after_a_sync_rebuilds_the_state_and_creates_nothing_twice(pair) -> None:
    p = pair(left_n=20, right_n=5)
    p.once()
    assert len(emails(p.left)) == len(emails(p.right)) == 25
    p.clear_requests()
    summary = reset(p)
    assert summary["created"] == {"left": 0, "right": 0} and summary["errors"] == 0
    assert summary["read"] == {"left": 25, "right": 25}  # a full read of both sides
    assert duplicates(p.left) == duplicates(p.right) == []
    assert len(emails(p.left)) == len(emails(p.right)) == 25
    assert write_requests(p.left, p.right) == []  # everything was already in step
    # The rebuilt state works: a change afterwards is synced, once.
    email = emails(p.left)[2]
    p.left.store.update(by_email(p.left)[email]["id"], first_name="AfterReset")
    assert p.once()["updated"] == {"left": 0, "right": 1}
    assert by_email(p.right)[email]["first_name"] == "AfterReset"


NAMES = """\
  - {left: email, right: email}
  - {left: first_name, right: first_name}
  - {left: last_name, right: last_name}
"""


def test_reset_read_only_writes_nothing_and_only_later_changes_are_synced(pair) -> None:
    p = pair(left_n=6, right_n=3, fields=NAMES)
    common = emails(p.left)[:2]
    for email in common:  # on both sides, with other names
        p.right.store.create({"email": email, "first_name": "Other", "last_name": "Name"})
    left_only = sorted(set(emails(p.left)) - set(common))
    right_only = sorted(set(emails(p.right)) - set(common))
    left_before, right_before = p.left.store.all(), p.right.store.all()

    summary = reset(p, "--read-only")
    assert write_requests(p.left, p.right) == [] and summary["read"] == {"left": 6, "right": 5}
    assert summary["created"] == summary["updated"] == summary["deleted"] == {"left": 0, "right": 0}
    assert p.left.store.all() == left_before and p.right.store.all() == right_before

    p.clear_requests()
    assert p.once()["updated"] == {"left": 0, "right": 0}  # the old differences stay
    assert write_requests(p.left, p.right) == []

    # Changes made after the reset are synced, and only they.
    changed = by_email(p.left)[common[0]]
    p.left.store.update(changed["id"], last_name="Newer")
    newcomer = p.right.store.create({"email": "new@example.com", "first_name": "New", "last_name": "Comer"})
    p.clear_requests()
    summary = p.once()
    assert summary["updated"] == {"left": 0, "right": 1} and summary["created"] == {"left": 1, "right": 0}
    right = by_email(p.right)
    assert right[common[0]]["last_name"] == "Newer"
    assert by_email(p.left)["new@example.com"]["first_name"] == newcomer["first_name"]
    assert right[common[1]]["first_name"] == "Other"
    assert set(left_only).isdisjoint(emails(p.right)) and set(right_only).isdisjoint(emails(p.left))
    # The first name differed before the reset and nobody changed it since:
    # the pair's new last name must not carry the old difference along.
    assert written(p.right) == [{"last_name": "Newer"}]
    assert right[common[0]]["first_name"] == "Other"


def test_a_reset_whose_writes_fail_exits_3_and_0_once_they_arrive(pair) -> None:
    p = pair(left_n=5, right_n=3)
    p.once()
    new = p.left.store.create({"email": "late@example.com", "first_name": "Late", "last_name": "Comer"})
    p.right.faults.add(status=422, method="POST", path_prefix="/contacts", times=None)
    run = p.run("reset", "pair")
    assert run.returncode == 3, run.stdout + run.stderr  # completed, one record refused
    assert run.summary is not None and run.summary["aborted"] is None and run.summary["errors"] == 1
    assert new["email"] not in emails(p.right)
    p.right.faults.clear()
    summary = reset(p)
    assert summary["created"] == {"left": 0, "right": 1} and summary["errors"] == 0
    assert emails(p.left) == emails(p.right)
