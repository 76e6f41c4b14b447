"""Deletions: a contact deleted on the left is trashed (or deleted) on the right.

The integration declares ``deletions: {from: left, then: …}`` and
``full_every: 1 second``, so that a cycle a little more than a second after
the last one reads both sides in full, which is how a deletion is seen.
A guard holds back a sudden mass deletion, and only the deletions: the
rest of the cycle goes on.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from e2e_support import Pair, Run, by_email, emails, write_requests, written

from syncd.config import load_daemon_settings
from syncd.state import RecordErrorRow, open_store

FULL_EVERY = 1.0  # seconds, as written in the YAML below


def deletions(then: str, max_delete_percent: float | None = None) -> str:
    limit = "" if max_delete_percent is None else f", max_delete_percent: {max_delete_percent:g}"
    return f"full_every: 1 second\ndeletions: {{from: left, then: {then}{limit}}}\n"


TRASH = deletions("{add_tag: syncd-trash}")


def wait_for_full_read(p: Pair) -> None:
    """Wait until the last full read of each side, as the state records it,
    is more than full_every ago: the next cycle reads both sides in full again.

    Not synchronisation: full_every counts time, so time must pass; only
    what the cycles since then have not already taken of it.
    """
    with open_store(load_daemon_settings(p.config, environ=p.env()).state_path, quick_check=False) as store:
        reads = [store.side_state(p.name, side).last_full_read for side in ("left", "right")]
    assert None not in reads, reads
    due = max(r for r in reads if r is not None) + timedelta(seconds=FULL_EVERY + 0.01)
    time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))


def synced(p: Pair, *, kept_off: int = 0) -> None:
    """A first cycle: every contact (but ``kept_off`` ones) on both sides."""
    summary = p.once()
    assert summary["errors"] == 0 and summary["aborted"] is None, summary
    assert len(emails(p.right)) == len(emails(p.left)) - kept_off
    assert set(emails(p.right)) <= set(emails(p.left))
    wait_for_full_read(p)


def test_a_contact_deleted_on_the_left_is_tagged_on_the_right(pair) -> None:
    p = pair(left_n=20, extra=TRASH)
    synced(p)
    gone = p.left.store.all()[4]
    p.left.store.delete(gone["id"])
    p.clear_requests()
    summary = p.once()
    assert summary["updated"] == {"left": 0, "right": 1} and summary["deleted"] == {"left": 0, "right": 0}
    right = by_email(p.right)
    assert len(right) == 20  # tagged, not deleted
    trashed = right[gone["email"].lower()]
    assert "syncd-trash" in trashed["tags"]
    assert [c for c in right.values() if "syncd-trash" in c["tags"]] == [trashed]
    assert written(p.right) == [{"tags": trashed["tags"]}]  # the tag, and nothing else
    assert write_requests(p.left) == []
    p.clear_requests()
    again = p.once()  # the tag is not added twice, nothing is recreated
    assert write_requests(p.left, p.right) == [] and again["created"] == {"left": 0, "right": 0}


def test_with_then_delete_the_right_contact_is_deleted(pair) -> None:
    p = pair(left_n=20, extra=deletions("delete"))
    synced(p)
    gone = p.left.store.all()[7]
    p.left.store.delete(gone["id"])
    summary = p.once()
    assert summary["deleted"] == {"left": 0, "right": 1} and summary["errors"] == 0
    assert gone["email"].lower() not in emails(p.right)
    assert emails(p.right) == emails(p.left) and len(emails(p.right)) == 19
    p.clear_requests()
    wait_for_full_read(p)
    p.once()  # a later full read does not delete it again, nor recreate it
    assert write_requests(p.left, p.right) == []


def test_a_contact_never_linked_is_never_touched(pair) -> None:
    p = pair(left_n=20)
    loner = p.left.store.all()[5]
    # A rule keeps one left contact off the right, so it is never linked.
    p.write(extra=deletions("delete") + f"""\
rules:
  - if: "email == '{loner['email']}'"
    from: left
    then: skip
""")
    synced(p, kept_off=1)
    assert loner["email"].lower() not in emails(p.right)
    # It disappears from the left while someone adds the same address on the right.
    p.left.store.delete(loner["id"])
    newcomer = p.right.store.create({"email": loner["email"], "first_name": "Someone", "last_name": "Else"})
    p.clear_requests()
    summary = p.once()
    assert summary["deleted"] == {"left": 0, "right": 0} and summary["errors"] == 0
    assert p.right.store.get(newcomer["id"]) == newcomer  # neither deleted nor changed
    assert write_requests(p.right) == []
    assert by_email(p.left)[loner["email"].lower()]["first_name"] == "Someone"  # a new right contact: created


def deletion_errors(p: Pair, *, unresolved: bool = True) -> list[RecordErrorRow]:
    """The guard's rows in the state store's error table (operation "deletions")."""
    with open_store(load_daemon_settings(p.config, environ=p.env()).state_path, quick_check=False) as store:
        return [e for e in store.errors(p.name, unresolved=unresolved) if e.operation == "deletions"]


def held_back(p: Pair, run: Run) -> str:
    """The guard's message for a cycle that held deletions back and went on:
    one error in the summary, the same message in the state and in the log."""
    assert run.summary is not None, run.stdout + run.stderr
    assert run.summary["aborted"] is None and run.summary["errors"] == 1, run.summary
    [row] = deletion_errors(p)
    assert row.record_id == "*" and row.message.startswith("deletions held back on the left"), row
    assert "deletions held back" in run.stderr, run.stderr  # the warning, for the operator's log
    return row.message


def test_the_guard_holds_back_a_mass_deletion_and_the_rest_of_the_cycle_goes_on(pair) -> None:
    p = pair(left_n=20, extra=TRASH)
    synced(p)
    contacts = p.left.store.all()
    for contact in contacts[:5]:  # 25 % of the left
        p.left.store.delete(contact["id"])
    renamed = p.left.store.update(contacts[10]["id"], first_name="Renamed")
    p.clear_requests()
    message = held_back(p, p.run())
    assert "lost 5 of its 20 records (25 %)" in message and "deletions.max_delete_percent (10 %)" in message
    assert "set deletions.max_delete_percent to 25 or more" in message, message
    # The deletions are held back, the other change is written.
    assert written(p.right) == [{"first_name": "Renamed"}]
    assert by_email(p.right)[renamed["email"].lower()]["first_name"] == "Renamed"
    assert all("syncd-trash" not in c["tags"] for c in p.right.store.all())
    # Nothing decided: the next cycle reads the left in full again, holds
    # them back again, and writes nothing (a quiet cycle stays quiet).
    p.clear_requests()
    again = p.run()
    assert held_back(p, again) == message and write_requests(p.left, p.right) == []
    # Told that it is wanted (the value the message gave), syncd carries
    # the deletions over on the next cycle.
    p.write(extra=deletions("{add_tag: syncd-trash}", max_delete_percent=25))
    summary = p.once()
    assert summary["updated"] == {"left": 0, "right": 5} and summary["errors"] == 0, summary
    trashed = sorted(e for e, c in by_email(p.right).items() if "syncd-trash" in c["tags"])
    assert trashed == sorted(c["email"].lower() for c in contacts[:5])
    assert deletion_errors(p) == [] and len(deletion_errors(p, unresolved=False)) == 1  # resolved


def test_the_guard_s_numbers_agree_with_its_limit(pair) -> None:
    # 1 of 3 is 33.3 %: rounded to "33 %", it would read "33 % > 33 %".
    p = pair(left_n=3, extra=deletions("delete", max_delete_percent=33))
    synced(p)
    gone = p.left.store.all()[1]
    p.left.store.delete(gone["id"])
    message = held_back(p, p.run())
    assert "lost 1 of its 3 records (33.3 %)" in message and "(33 %)" in message, message
    assert "to 34 or more" in message, message
    assert len(emails(p.right)) == 3
    p.write(extra=deletions("delete", max_delete_percent=34))
    summary = p.once()
    assert summary["deleted"] == {"left": 0, "right": 1} and summary["errors"] == 0, summary
    assert gone["email"].lower() not in emails(p.right)


def test_without_deletions_a_mass_disappearance_holds_back_only_deletions(pair) -> None:
    # No `deletions:`: nothing is carried over, yet the vanished records must
    # not be taken as deleted on a doubtful read (a change made to their
    # partners meanwhile would be skipped, then lost when they come back).
    p = pair(left_n=20, extra="full_every: 1 second\n")
    synced(p)
    contacts = p.left.store.all()
    for contact in contacts[:5]:
        p.left.store.delete(contact["id"])
    p.left.store.update(contacts[12]["id"], last_name="Changed")
    p.clear_requests()
    message = held_back(p, p.run())
    assert "lost 5 of its 20 records (25 %)" in message, message
    # The limit cannot be raised without declaring `deletions:` (which
    # carries deletions over): the advice is the one that does what it says.
    assert "max_delete_percent" not in message and "`syncd reset pair --read-only`" in message, message
    assert written(p.right) == [{"last_name": "Changed"}]
    assert len(emails(p.right)) == 20


def reading_empty(p: Pair) -> dict[str, Any]:
    """A ``left:`` whose list answers an empty list: a filter that matches
    nothing (an outage answering [] or a wrong `records:` path look alike)."""
    spec = p.connector("filtered")
    spec["objects"]["contacts"]["list"]["params"]["updated_after"] = "2999-01-01T00:00:00Z"
    (p.config / "connectors.d" / "filtered.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    settings = {"url": p.left.url, "token": "${env:LEFT_TOKEN}"}
    return {"connector": "filtered", "object": "contacts", "settings": settings}


def test_a_side_that_suddenly_reads_empty_is_never_taken_as_emptied(pair) -> None:
    # max_delete_percent: 100 allows losing every record, but not to a read
    # that found none: the message must not say "raise the limit".
    p = pair(left_n=20, extra=deletions("delete", max_delete_percent=100))
    synced(p)
    p.write(extra={**yaml.safe_load(deletions("delete", max_delete_percent=100)), "left": reading_empty(p)})
    newcomer = p.right.store.create({"email": "new@example.com", "first_name": "New", "last_name": "Comer"})
    p.clear_requests()
    message = held_back(p, p.run())
    assert "read no records at all, though it had 20" in message, message
    assert "raise" not in message and "to 100" not in message, message
    assert "`syncd reset pair --read-only`" in message, message
    assert len(emails(p.right)) == 21 and write_requests(p.right) == []  # nothing deleted
    assert "new@example.com" in emails(p.left)  # the rest of the cycle went on: created on the left
    assert p.right.store.get(newcomer["id"]) is not None
    # The read is fixed: every record is back, nothing was deleted, nothing is written.
    p.write(extra=deletions("delete", max_delete_percent=100))
    p.clear_requests()
    summary = p.once()
    assert summary["errors"] == 0 and summary["deleted"] == {"left": 0, "right": 0}, summary
    assert write_requests(p.left, p.right) == [] and len(emails(p.right)) == 21
    assert deletion_errors(p) == []


def test_deletions_from_the_left_ignore_deletions_on_the_right(pair) -> None:
    p = pair(left_n=20, extra=deletions("delete"))
    synced(p)
    left_before = p.left.store.all()
    gone = p.right.store.all()[3]
    p.right.store.delete(gone["id"])
    p.clear_requests()
    summary = p.once()
    assert summary["deleted"] == {"left": 0, "right": 0} and summary["errors"] == 0
    assert p.left.store.all() == left_before  # not deleted, not tagged, not changed
    assert write_requests(p.left) == []
    assert gone["email"].lower() not in emails(p.right)  # nor brought back to the right


def test_a_contact_that_cannot_be_read_is_not_taken_for_deleted(pair) -> None:
    p = pair(left_n=10, extra=TRASH)
    synced(p)
    broken = p.left.store.all()[3]
    p.left.store.update(broken["id"], phone={"not": "a phone"})  # a mapped field: unreadable
    p.left.store.update(p.left.store.all()[5]["id"], custom_fields={"score": "lots"})  # unmapped: ignored
    p.clear_requests()
    run = p.run()
    assert run.returncode == 3, run.stdout + run.stderr  # an unreadable record is a record error
    summary = run.summary
    assert summary is not None
    assert summary["errors"] == 1 and summary["aborted"] is None  # the phone, and nothing else
    assert write_requests(p.left, p.right) == []
    assert all("syncd-trash" not in c["tags"] for c in p.right.store.all())
    assert len(emails(p.right)) == 10


def test_a_contact_the_spec_marks_deleted_is_trashed_without_a_full_read(pair) -> None:
    # An unsubscribe-like flag: the spec's `deleted:` expression marks the
    # record deleted while it is still listed, so an incremental read sees it.
    p = pair(left_n=8, extra="deletions: {from: left, then: {add_tag: syncd-trash}}\n")
    spec = p.connector()
    spec["objects"]["contacts"]["deleted"] = "contains(tags, 'archived')"
    (p.config / "connectors.d" / "sampleapp.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    summary = p.once()
    assert summary["created"] == {"left": 0, "right": 8}
    archived = p.left.store.all()[2]
    p.left.store.update(archived["id"], tags=["archived"])
    p.clear_requests()
    summary = p.once()  # full_every is a day: this cycle reads changes only
    assert summary["read"]["left"] < 8
    trashed = by_email(p.right)[archived["email"].lower()]
    assert "syncd-trash" in trashed["tags"]
    assert [c["email"] for c in p.right.store.all() if "syncd-trash" in c["tags"]] == [trashed["email"]]
    p.clear_requests()
    assert p.once()["updated"] == {"left": 0, "right": 0}  # once


def _delete_on_the_right_and_rename_its_partner(p: Pair) -> tuple[dict[str, Any], dict[str, Any]]:
    """After a first sync, one change on each side of the same pair in one
    cycle: the right contact deleted, its left partner renamed."""
    synced(p)
    gone = p.right.store.all()[2]
    partner = by_email(p.left)[gone["email"].lower()]
    p.right.store.delete(gone["id"])
    p.left.store.update(partner["id"], first_name="Renamed")
    p.clear_requests()
    return gone, partner


def test_a_deletion_is_carried_over_even_when_its_partner_changed_in_the_same_cycle(pair) -> None:
    # The left side is planned first: a changed left contact whose right
    # partner was deleted in the same cycle must still get what deletions:
    # says (here a tag), not be taken as in step with a deleted partner.
    p = pair(left_n=12, extra="full_every: 1 second\ndeletions: {from: right, then: {add_tag: syncd-trash}}\n")
    gone, partner = _delete_on_the_right_and_rename_its_partner(p)
    summary = p.once()
    assert summary["errors"] == 0 and summary["aborted"] is None, summary
    tagged = p.left.store.get(partner["id"])
    assert tagged is not None and "syncd-trash" in tagged["tags"]
    assert [c["id"] for c in p.left.store.all() if "syncd-trash" in c["tags"]] == [partner["id"]]
    assert gone["email"].lower() not in emails(p.right)  # not brought back to the right
    p.clear_requests()
    wait_for_full_read(p)
    p.once()  # settled: the tag is not written again, the renamed contact not recreated on the right
    assert write_requests(p.left, p.right) == []


def test_a_deletion_not_carried_over_leaves_its_changed_partner_alone(pair) -> None:
    p = pair(left_n=12, extra=deletions("delete"))  # from: left; a deletion on the right is not carried
    _, partner = _delete_on_the_right_and_rename_its_partner(p)
    summary = p.once()
    assert summary["errors"] == 0 and summary["deleted"] == {"left": 0, "right": 0}, summary
    assert write_requests(p.left, p.right) == []  # nothing deleted, tagged, recreated or updated
    for _ in range(2):  # and it stays settled
        wait_for_full_read(p)
        p.once()
        assert write_requests(p.left, p.right) == []
    assert p.left.store.get(partner["id"]) is not None
