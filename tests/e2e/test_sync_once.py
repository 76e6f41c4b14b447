"""A sysadmin joins two apps and runs ``syncd once``: the story of a sync.

Every test runs the real ``syncd`` process against two sample apps serving
real HTTP on 127.0.0.1, and checks what the apps hold afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from e2e_support import LEFT_TOKEN, REPO, RIGHT_TOKEN, by_email, emails

WRITES = ("POST", "PATCH", "PUT", "DELETE")


def write_requests(*apps) -> list:
    return [r for app in apps for r in app.requests.all() if r.method in WRITES and r.path != "/search/contacts"]


def test_initial_sync_creates_what_each_side_lacks(pair) -> None:
    p = pair(left_n=20, right_n=5)
    summary = p.once()
    assert summary["created"] == {"left": 5, "right": 20}
    assert summary["errors"] == 0 and summary["aborted"] is None
    assert emails(p.left) == emails(p.right) and len(emails(p.left)) == 25
    right = by_email(p.right)
    for email, contact in by_email(p.left).items():
        assert right[email]["first_name"] == contact["first_name"]
        assert right[email]["last_name"] == contact["last_name"]


def test_a_cycle_after_a_quiet_cycle_makes_zero_writes(pair) -> None:
    p = pair(left_n=20, right_n=5)
    p.once()
    p.left.requests.clear()
    p.right.requests.clear()
    summary = p.once()
    assert write_requests(p.left, p.right) == []
    assert summary["created"] == summary["updated"] == {"left": 0, "right": 0}


def test_a_change_on_either_side_reaches_the_other_and_is_not_echoed(pair) -> None:
    p = pair(left_n=10)
    p.once()
    left_contacts = p.left.store.all()
    changed_left = left_contacts[0]["email"].lower()
    changed_right = left_contacts[1]["email"].lower()
    p.left.store.update(left_contacts[0]["id"], first_name="Renamed")
    p.right.store.update(by_email(p.right)[changed_right]["id"], last_name="Married")
    summary = p.once()
    assert summary["updated"] == {"left": 1, "right": 1}
    assert by_email(p.right)[changed_left]["first_name"] == "Renamed"
    assert by_email(p.left)[changed_right]["last_name"] == "Married"
    p.left.requests.clear()
    p.right.requests.clear()
    assert p.once()["updated"] == {"left": 0, "right": 0}
    assert write_requests(p.left, p.right) == []  # each write's echo was recognised


def test_a_one_way_field_never_flows_back_and_its_source_stays_master(pair) -> None:
    p = pair(left_n=5)
    p.once()
    email = emails(p.left)[0]
    master = by_email(p.left)[email]["phone"]
    p.right.store.update(by_email(p.right)[email]["id"], phone="+1 555 000 0000")
    summary = p.once()
    assert summary["updated"] == {"left": 0, "right": 1}  # phone is left_to_right: the left is master
    assert by_email(p.left)[email]["phone"] == master
    assert by_email(p.right)[email]["phone"] == master.replace("-", "")  # written normalised (E.164)


def test_both_sides_changed_newest_wins_and_the_conflict_is_logged(pair) -> None:
    p = pair(left_n=5)
    p.once()
    email = emails(p.left)[0]
    left = p.left.store.update(by_email(p.left)[email]["id"], first_name="FromLeft")
    # The apps have clocks of their own; move the right's past the left's
    # change (each reading is a millisecond later than the last at least).
    while p.right.store.now() <= left["updated_at"]:
        pass
    right = p.right.store.update(by_email(p.right)[email]["id"], first_name="FromRight")
    assert right["updated_at"] > left["updated_at"]  # newer
    summary = p.once()
    assert summary["conflicts"] == 1
    assert by_email(p.left)[email]["first_name"] == "FromRight"
    assert by_email(p.right)[email]["first_name"] == "FromRight"


def test_a_rule_tags_the_contacts_it_matches(pair) -> None:
    rules = """\
rules:
  - if: "score > `50`"
    from: left
    then: [{add_tag: hot}]
"""
    fields = "  - {left: email, right: email}\n  - {left: score, right: score, direction: left_to_right}\n"
    p = pair(left_n=12, fields=fields, extra=rules)
    p.once()
    right = by_email(p.right)
    for email, contact in by_email(p.left).items():
        hot = "hot" in right[email]["tags"]
        assert hot == (contact["custom_fields"]["score"] > 50), (email, contact["custom_fields"])


def test_create_none_only_keeps_records_in_common(pair) -> None:
    p = pair(left_n=8, right_n=3, create="none")
    common = emails(p.left)[:2]
    for email in common:
        p.right.store.create({"email": email, "first_name": "Old", "last_name": "Name"})
    summary = p.once()
    assert summary["created"] == {"left": 0, "right": 0}
    assert len(emails(p.right)) == 5 and len(emails(p.left)) == 8
    for email in common:  # linked by email; names agree afterwards
        assert by_email(p.right)[email]["first_name"] == by_email(p.left)[email]["first_name"]


def test_crash_during_creates_leaves_no_duplicate_and_loses_nothing(pair) -> None:
    p = pair(left_n=12)
    env = {**os.environ, "LEFT_TOKEN": LEFT_TOKEN, "RIGHT_TOKEN": RIGHT_TOKEN}
    proc = subprocess.Popen([sys.executable, "-m", "syncd", "once", "-c", str(p.config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO)
    def kill_after_the_batch_is_stored(record) -> None:
        if record.method == "POST" and record.path == "/contacts/batch/create":
            os.kill(proc.pid, signal.SIGKILL)  # the app stored them; syncd never hears back

    p.right.requests.listener = kill_after_the_batch_is_stored
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    p.right.requests.listener = None
    assert len(emails(p.right)) == 12  # created, but syncd has not recorded it
    p.once()
    assert emails(p.right) == emails(p.left)  # every contact once: none lost, none twice
    assert len(p.right.store.all()) == 12
    assert p.once()["created"] == {"left": 0, "right": 0}


def test_dry_run_prints_the_writes_and_makes_none(pair) -> None:
    p = pair(left_n=4, right_n=1)
    result = p.syncd("once", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("would create right") == 4 and result.stdout.count("would create left") == 1
    assert write_requests(p.left, p.right) == []
    assert len(emails(p.right)) == 1
    summary = p.once()  # the real run still does all of it
    assert summary["created"] == {"left": 1, "right": 4}


def test_wrong_credentials_abort_with_exit_1(pair) -> None:
    p = pair(left_n=3)
    env = {**os.environ, "LEFT_TOKEN": "not-the-token", "RIGHT_TOKEN": RIGHT_TOKEN}
    result = subprocess.run([sys.executable, "-m", "syncd", "once", "-c", str(p.config), "--json"],
                            capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert result.returncode == 1
    [summary] = json.loads(result.stdout)
    assert "HTTP 401" in summary["aborted"] and "not-the-token" not in result.stdout


def test_a_cycle_whose_writes_all_fail_exits_3_until_they_arrive(pair) -> None:
    # The app refuses every create (422): the cycle completes, nothing is
    # created, and cron or monitoring must see it without parsing the summary.
    # No backoff: the next cycle writes them again (tests/e2e/test_errors.py has the backoff).
    p = pair(left_n=20, extra={"record_retries": {"backoff_initial": 0}})
    refusal = p.right.faults.add(status=422, method="POST", path_prefix="/contacts", times=None)
    run = p.run()
    assert run.returncode == 3, run.stdout + run.stderr
    assert run.summary is not None and run.summary["aborted"] is None
    assert run.summary["created"] == {"left": 0, "right": 0} and run.summary["errors"] == 20
    assert refusal.hits >= 1 and emails(p.right) == []
    p.right.faults.clear()  # the app accepts them now: the next cycle creates them all
    run = p.run()
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.summary is not None
    assert run.summary["created"] == {"left": 0, "right": 20} and run.summary["errors"] == 0
    assert emails(p.right) == emails(p.left)


def test_records_the_create_policy_leaves_out_are_not_counted_as_skipped_by_rules(pair) -> None:
    # left_to_right: the right's own contacts never go left. No rule is
    # declared, so nothing is "skipped by rules"; a contact without an
    # email is never created blind, and is counted apart as well.
    p = pair(left_n=0, right_n=6, create="left_to_right")
    p.left.store.create({"first_name": "No", "last_name": "Email"})
    result = p.syncd("once")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "skipped by rules 0;" in result.stdout
    assert "not created (create: left_to_right) 6;" in result.stdout
    assert "not created (no match key) 1;" in result.stdout
    p.right.store.create({"email": "new@example.com", "first_name": "New", "last_name": "One"})
    summary = p.once()
    assert summary["skipped"] == 0 and summary["not_created"] == 1 and summary["no_match_key"] == 0
    assert summary["created"] == {"left": 0, "right": 0} and len(emails(p.left)) == 0
