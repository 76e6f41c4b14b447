"""Child objects end to end: notes and tasks follow their contacts, real syncd against two sample apps."""

from __future__ import annotations

import json

from collections.abc import Callable
from typing import Any

import pytest
from e2e_support import CUT_SHORT_TIMEOUT, Pair, after_a_kill, by_email, kill_at, write_requests

from syncd.sampleapp import RequestRecord, SampleApp

NOTES = {"left": "notes", "right": "notes", "fields": [{"left": "body", "right": "body"}]}
TASKS = {"left": "tasks", "right": "tasks",
         "fields": [{"left": "title", "right": "title"}, {"left": "done", "right": "done"}]}


def children(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"children": list(entries)}


def contact_id(app: SampleApp, email: str) -> str:
    return str(by_email(app)[email]["id"])


def bodies(app: SampleApp, email: str, kind: str = "notes", field: str = "body") -> list[Any]:
    return sorted(n[field] for n in app.children.all(kind, contact_id(app, email)))


def add(app: SampleApp, email: str, kind: str = "notes", **fields: Any) -> dict[str, Any]:
    return app.children.create(kind, contact_id(app, email), fields or {"body": "a note"})


def child_reads(*apps: SampleApp) -> set[tuple[str, str]]:
    """(app, path) of every child list request."""
    return {("left" if i == 0 else "right", r.path) for i, app in enumerate(apps) for r in app.requests.all()
            if r.method == "GET" and r.path.endswith(("/notes", "/tasks"))}


def no_duplicates(app: SampleApp, kind: str = "notes", field: str = "body") -> None:
    for contact in app.store.all():
        values = [n[field] for n in app.children.all(kind, contact["id"])]
        assert len(values) == len(set(values)), (contact["email"], values)


def test_notes_follow_their_contacts_both_ways_and_updates_follow(pair: Callable[..., Pair]) -> None:
    p = pair(left_n=3, extra=children(NOTES))
    a, b, c = sorted(by_email(p.left))
    add(p.left, a, body="call back on Monday")
    add(p.left, a, body="prefers email")
    summary = p.once()
    assert summary["children"]["notes"]["created"] == {"left": 0, "right": 2}
    assert bodies(p.right, a) == ["call back on Monday", "prefers email"]
    assert bodies(p.right, b) == bodies(p.right, c) == []
    status = p.syncd("status")
    assert "created 0/3, notes created 0/2 (left/right)" in status.stdout, status.stdout

    add(p.right, b, body="met at the fair")
    [note] = p.left.children.all("notes", contact_id(p.left, a))[:1]
    p.left.children.update("notes", contact_id(p.left, a), note["id"], {"body": "call back on Tuesday"})
    p.once()
    assert bodies(p.left, b) == ["met at the fair"]
    assert bodies(p.right, a) == ["call back on Tuesday", "prefers email"]

    p.clear_requests()
    summary = p.once()
    assert write_requests(p.left, p.right) == []
    assert summary["children"]["notes"]["created"] == {"left": 0, "right": 0}
    for app in (p.left, p.right):
        no_duplicates(app)


def test_a_note_waits_for_its_contact_to_be_linked_then_follows(pair: Callable[..., Pair]) -> None:
    p = pair(left_n=2, create="none", extra=children(NOTES))
    a = sorted(by_email(p.left))[0]
    add(p.left, a, body="waiting for its contact")
    summary = p.once()
    assert summary["children"]["notes"]["waiting"] == 1
    assert p.right.children.all("notes") == []
    result = p.syncd("once")  # the contact unchanged and still unlinked: its notes are not read again
    assert "\n  notes: read 0 left, 0 right; created 0 left, 0 right;" in result.stdout, result.stdout
    assert "waiting for their parent 1" in result.stdout, result.stdout
    p.right.store.create({"email": a, "first_name": "Someone"})
    p.once()
    assert bodies(p.right, a) == ["waiting for its contact"]


def test_an_incremental_cycle_reads_the_children_of_changed_contacts_only(pair: Callable[..., Pair]) -> None:
    p = pair(left_n=5, extra=children(NOTES))
    p.once()
    p.once()  # the first sync's echo: the contacts it created are read back once
    a = sorted(by_email(p.left))[2]
    add(p.left, a, body="only this contact changed")
    p.clear_requests()
    p.once()
    assert child_reads(p.left, p.right) == {
        ("left", f"/contacts/{contact_id(p.left, a)}/notes"),
        ("right", f"/contacts/{contact_id(p.right, a)}/notes")}
    assert bodies(p.right, a) == ["only this contact changed"]


def test_reset_reads_every_linked_contacts_children_and_creates_no_duplicate(pair: Callable[..., Pair]) -> None:
    p = pair(left_n=3, extra=children(NOTES))
    for email in by_email(p.left):
        add(p.left, email, body=f"note of {email}")
    p.once()
    p.clear_requests()
    result = p.syncd("reset", "pair", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(child_reads(p.left, p.right)) == 6  # every contact, both sides
    assert write_requests(p.left, p.right) == []
    for email in by_email(p.left):
        assert bodies(p.right, email) == [f"note of {email}"]


def test_tasks_follow_both_ways_with_their_done_flag(pair: Callable[..., Pair]) -> None:
    p = pair(left_n=2, extra=children(NOTES, TASKS))
    a, b = sorted(by_email(p.left))
    add(p.left, a, "tasks", title="send the quote")
    p.once()
    [task] = p.right.children.all("tasks", contact_id(p.right, a))
    assert (task["title"], task["done"]) == ("send the quote", False)
    p.right.children.update("tasks", contact_id(p.right, a), task["id"], {"done": True})
    add(p.right, b, "tasks", title="book a demo", done=True)
    p.once()
    [left_task] = p.left.children.all("tasks", contact_id(p.left, a))
    assert left_task["done"] is True
    assert [(t["title"], t["done"]) for t in p.left.children.all("tasks", contact_id(p.left, b))] == [
        ("book a demo", True)]


def _note_posts(record: RequestRecord) -> bool:
    return record.method == "POST" and record.path.endswith("/notes")


@pytest.mark.parametrize("n", [1, 3, 7])  # 7 note creates in all: 6 to the right, 1 to the left
def test_kill_9_during_note_creates_then_the_next_runs_create_no_duplicate(pair: Callable[..., Pair], n: int) -> None:
    p = pair(left_n=3, right_n=0, extra=children(NOTES))
    p.connector(timeout=CUT_SHORT_TIMEOUT)
    right_first = sorted(by_email(p.left))[1]
    p.once()  # contacts linked; notes come next
    for email in by_email(p.left):
        for i in range(2):
            add(p.left, email, body=f"{email} note {i}")
    add(p.right, right_first, body="from the right")
    kill_at(p, n, _note_posts)  # the app stored the nth note; syncd never heard back
    after_a_kill(p)  # the notes' creates the kill cut short are looked up after the timeout
    p.once()
    for email in by_email(p.left):
        expected = [f"{email} note 0", f"{email} note 1"] + (["from the right"] if email == right_first else [])
        assert bodies(p.left, email) == bodies(p.right, email) == sorted(expected), email
    p.clear_requests()
    p.once()
    assert write_requests(p.left, p.right) == []


def test_syncd_errors_lists_a_note_that_could_not_be_written_naming_its_object(pair: Callable[..., Pair]) -> None:
    p = pair(left_n=1, extra=children(NOTES))
    p.once()
    add(p.left, sorted(by_email(p.left))[0], body="refused")
    p.right.faults.add(status=422, method="POST", path_prefix="/contacts/", times=None)
    run = p.run()
    assert run.returncode == 3 and run.summary is not None and run.summary["children"]["notes"]["errors"] == 1
    result = p.syncd("errors", "pair")
    assert result.returncode == 0, result.stderr
    assert "pair: 1 open error, newest first" in result.stdout
    assert "create on the right side, from left notes record 1: " in result.stdout, result.stdout
    assert "answered HTTP 422" in result.stdout
    [error] = json.loads(p.syncd("errors", "pair", "--json").stdout)
    assert error["object"] == "notes"
    # not retried one by one: the message says what does retry it
    retried = p.syncd("errors", "pair", "--retry", str(error["id"]))
    assert retried.returncode == 2, retried.stdout + retried.stderr
    assert (f"error {error['id']} is about notes (a child object): it is retried by the next cycle that "
            "reads its contact, not one by one: `syncd sync pair` runs one now") in retried.stderr


def test_a_note_changed_on_both_sides_is_a_conflict_that_syncd_conflicts_lists(pair: Callable[..., Pair]) -> None:
    p = pair(left_n=1, conflict="right_wins", extra=children(NOTES))  # the integration's conflict: applies
    email = sorted(by_email(p.left))[0]
    note = add(p.left, email, body="first")
    p.once()
    [copy] = p.right.children.all("notes")
    p.left.children.update("notes", note["contact_id"], note["id"], {"body": "from the left"})
    p.right.children.update("notes", copy["contact_id"], copy["id"], {"body": "from the right, later"})
    summary = p.once()
    assert summary["children"]["notes"]["conflicts"] == 1
    assert bodies(p.left, email) == bodies(p.right, email) == ["from the right, later"]
    result = p.syncd("conflicts", "pair")
    assert result.returncode == 0, result.stderr
    assert "pair: 1 conflict settled, newest first" in result.stdout
    assert (f'notes: left {note["id"]} / right {copy["id"]}  body -> body: left "from the left", '
            f'right "from the right, later"; right won (right_wins)') in result.stdout, result.stdout


def test_notes_added_before_a_kill_9_in_the_contacts_writes_still_follow(pair: Callable[..., Pair]) -> None:
    # The killed run reads the contacts (its cursor committed: the contact
    # whose note was added is behind it) and dies at its first contact
    # write, before any child pass: the next run must still read its notes.
    p = pair(left_n=3, extra=children(NOTES))
    p.once()
    a, b, _ = sorted(by_email(p.left))
    p.left.store.update(contact_id(p.left, a), first_name="Renamed")
    add(p.left, b, body="added before the kill")
    kill_at(p, 1, lambda r: r.method in ("POST", "PATCH") and "/notes" not in r.path)
    p.once()
    assert by_email(p.right)[a]["first_name"] == "Renamed"
    assert bodies(p.right, b) == ["added before the kill"]


def test_a_dry_run_says_it_does_not_preview_the_notes_and_writes_none(pair: Callable[..., Pair]) -> None:
    p = pair(left_n=2, extra=children(NOTES, TASKS))
    add(p.left, sorted(by_email(p.left))[0], body="not yet")
    dry = p.syncd("once", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert ("  notes, tasks: not previewed: a dry run plans the parents only (their children's writes "
            "depend on the parents' links, which it does not make)") in dry.stdout, dry.stdout
    assert p.once("--dry-run")["children_not_previewed"] == ["notes", "tasks"]
    assert write_requests(p.right) == [] and p.right.children.all("notes") == []
    assert "children_not_previewed" not in p.once()  # a real cycle writes them
    assert p.right.children.all("notes")[0]["body"] == "not yet"
