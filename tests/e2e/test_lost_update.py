"""An edit made while an update was being written is not lost when the update's commit never came.

A contact edited on the right ("Written") is written to the left; the sample app holds that
update inside it while the right is edited again ("Edited"), then lets it land. The update's
result is never committed: syncd is killed -9 while it waits (a crash), or the app's answer is
unusable (an unknown outcome). The left record, written last, is the newer one.

Before the fix the next run still had the pair's base from before the update: it saw the left
changed to "Written" and the right to "Edited", a conflict, and ``newest_wins`` took the left
(syncd's own write) and wrote "Written" over the edit. An update now records an intent before
it is sent; once the next run has read the left holding what the intent wrote, the pair's base
moves to it, and only the edit is a change.
"""

from __future__ import annotations

import json
import signal
import time
from typing import Any

from e2e_support import CUT_SHORT_TIMEOUT, Pair

# One update: sent alone (PATCH /contacts/{id}), not as a batch of one


def synced_pair(pair: Any) -> tuple[Pair, str, str]:
    """A pair in step on one contact: the pair, the left's id and the right's."""
    p: Pair = pair(left_n=0, right_n=1, extra={
        "record_retries": {"attempts": 3, "backoff_initial": 0, "backoff_factor": 1}})
    # One attempt: a write the app answered badly is not sent again in the same run.
    p.connector(retry={"max_attempts": 1})
    first = p.once()
    assert first["created"] == {"left": 1, "right": 0}, first
    [left], [right] = p.left.store.all(), p.right.store.all()
    return p, left["id"], right["id"]


def edit_while_held(p: Pair, held: Any, right_id: str) -> None:
    """Edit the right contact while the left's update is held inside the app, then let it land
    (after the edit: the left is then the newer record)."""
    p.left.faults.wait_hit(held, timeout=30)  # the update is inside the app, not applied yet
    p.right.store.update(right_id, last_name="Edited")
    time.sleep(0.05)  # a later updated_at on the left, whatever the clock's resolution


def settled(p: Pair, left_id: str, right_id: str) -> tuple[str, str]:
    for _ in range(2):
        run = p.run()
        assert run.returncode == 0, run.stdout + run.stderr
    return p.left.store.get(left_id)["last_name"], p.right.store.get(right_id)["last_name"]


def test_an_edit_made_while_an_update_was_written_survives_a_kill_before_its_commit(pair) -> None:
    p, left_id, right_id = synced_pair(pair)
    p.right.store.update(right_id, last_name="Written")
    held = p.left.faults.add(hold=True, method="PATCH", path_prefix="/contacts/")
    run = p.spawn()
    try:
        edit_while_held(p, held, right_id)
    finally:
        run.kill()
        run.communicate(timeout=30)
    assert run.returncode == -signal.SIGKILL
    held.release()  # the app goes on with the request its client died in
    deadline = time.monotonic() + 10
    while p.left.store.get(left_id)["last_name"] != "Written" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert p.left.store.get(left_id)["last_name"] == "Written"
    p.left.faults.clear()

    assert settled(p, left_id, right_id) == ("Edited", "Edited")
    p.clear_requests()
    last = p.once()
    assert last["updated"] == {"left": 0, "right": 0} and last["conflicts"] == 0, last


def test_an_edit_made_while_an_update_was_written_survives_an_answer_syncd_could_not_read(pair) -> None:
    p, left_id, right_id = synced_pair(pair)
    p.right.store.update(right_id, last_name="Written")
    # Applied, then answered with half its body: the update landed, and syncd cannot know it.
    held = p.left.faults.add(hold=True, malformed=True, method="PATCH", path_prefix="/contacts/")
    run = p.spawn("once", "--json")
    try:
        edit_while_held(p, held, right_id)
    finally:
        held.release()
        out, err = run.communicate(timeout=60)
    assert run.returncode == 3, (out, err)  # a record failed, as far as syncd knows
    [summary] = json.loads(out)
    assert summary["errors"] == 1, summary
    assert p.left.store.get(left_id)["last_name"] == "Written"
    p.left.faults.clear()

    assert settled(p, left_id, right_id) == ("Edited", "Edited")
    errors = p.syncd("errors", p.name, "--json")
    assert json.loads(errors.stdout) == [], errors.stdout  # the write landed: its error is over


def test_an_update_a_kill_cut_short_that_lands_late_does_not_undo_a_later_edit(pair) -> None:
    # syncd is killed while the app still holds its update ("Written") inside; the right is edited
    # again ("Edited") and the next run comes at once. Before the fix it wrote "Edited" to the left
    # at once; the held update then landed after it, and the run after took "Written" for an edit
    # of the left and wrote it over the right's edit. Now the pair of an update a crash cut short
    # waits the connector's timeout, as a create's lookup does.
    p, left_id, right_id = synced_pair(pair)
    p.connector(timeout=CUT_SHORT_TIMEOUT, retry={"max_attempts": 1})
    p.right.store.update(right_id, last_name="Written")
    held = p.left.faults.add(hold=True, method="PATCH", path_prefix="/contacts/")
    run = p.spawn()
    try:
        p.left.faults.wait_hit(held, timeout=30)
    finally:
        run.kill()
        run.communicate(timeout=30)
    assert run.returncode == -signal.SIGKILL
    p.right.store.update(right_id, last_name="Edited")

    second = p.run()
    assert second.summary is not None, second.stdout + second.stderr
    cut_at = time.monotonic()
    assert second.summary["retry_later"] == 1 and second.summary["updated"]["left"] == 0, second.summary
    [error] = json.loads(p.syncd("errors", p.name, "--json").stdout)
    assert (error["operation"], error["attempts"], error["http_status"]) == ("update", 0, None), error
    assert "update cut short" in error["message"], error
    human = p.syncd("errors", p.name).stdout
    assert f"no attempt failed; written again after {error['next_retry_at']}" in human, human
    held.release()  # the killed run's update lands now, late
    p.left.faults.clear()
    deadline = time.monotonic() + 10
    while p.left.store.get(left_id)["last_name"] != "Written" and time.monotonic() < deadline:
        time.sleep(0.02)

    time.sleep(max(0.0, cut_at + CUT_SHORT_TIMEOUT + 0.2 - time.monotonic()))
    assert settled(p, left_id, right_id) == ("Edited", "Edited")
    assert json.loads(p.syncd("errors", p.name, "--json").stdout) == []
