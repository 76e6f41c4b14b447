"""Deletions: a contact deleted on the left is trashed (or deleted) on the right.

The integration declares ``deletions: {from: left, then: …}`` and
``full_every: 1 second``, so that a cycle a little more than a second after
the last one reads both sides in full, which is how a deletion is seen.
A guard refuses to carry over a sudden mass deletion.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import yaml

from e2e_support import Pair, by_email, emails, write_requests, written

from syncd.config import load_daemon_settings
from syncd.state import open_store

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


def test_the_guard_refuses_a_mass_deletion_and_touches_nothing(pair) -> None:
    p = pair(left_n=20, extra=TRASH)
    synced(p)
    for contact in p.left.store.all()[:5]:  # 25 % of the left
        p.left.store.delete(contact["id"])
    right_before = p.right.store.all()
    p.clear_requests()
    run = p.run()
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.summary is not None and run.summary["aborted"] is not None
    message = run.summary["aborted"]
    assert "left" in message and "25 %" in message and "max_delete_percent" in message, message
    assert write_requests(p.left, p.right) == [] and p.right.store.all() == right_before
    # Told that it is wanted, syncd carries the deletions over.
    p.write(extra=deletions("{add_tag: syncd-trash}", max_delete_percent=50))
    summary = p.once()
    assert summary["updated"] == {"left": 0, "right": 5} and summary["aborted"] is None
    trashed = sorted(e for e, c in by_email(p.right).items() if "syncd-trash" in c["tags"])
    assert trashed == sorted(set(emails(p.right)) - set(emails(p.left)))
    assert len(trashed) == 5


def test_a_side_that_suddenly_reads_empty_aborts_the_cycle(pair) -> None:
    p = pair(left_n=20, extra=deletions("delete", max_delete_percent=100))
    synced(p)
    for contact in p.left.store.all():
        p.left.store.delete(contact["id"])
    p.clear_requests()
    run = p.run()
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.summary is not None
    assert "left" in run.summary["aborted"] and "no records" in run.summary["aborted"]
    assert write_requests(p.left, p.right) == [] and len(emails(p.right)) == 20


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
