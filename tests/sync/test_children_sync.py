"""The child pass of a cycle (syncd.sync._children), over a real state store and real sample apps.

Each test joins two sample apps with an integration that syncs the
contacts' notes, and runs cycles through :class:`syncd.sync.Cycles`, as
the daemon and the commands do. A crash's leftovers (an open create
intent, the note the app stored before syncd heard back) are made the way
a crash leaves them: the intent recorded through a store transaction, the
note created in the app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from sync_support import write_pair

from syncd.config import Config, load_config
from syncd.sampleapp import AuthMode, SampleApp
from syncd.state import Intent
from syncd.sync import Cycles, error_entries, errors_status, sync_records
from syncd.sync._children import PARENT

LEFT_TOKEN, RIGHT_TOKEN = "left-token-0123", "right-token-4567"
Pair = tuple[Config, SampleApp, SampleApp]
NOTES = "pair/notes"  # the child object's state key
REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 1.0  # the connector's


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def pair(sample_app: Callable[..., SampleApp], tmp_path: Path) -> Callable[..., Pair]:
    """``pair(left_n, extra)``: two apps joined by ``pair`` (contacts and their notes), its config loaded."""
    def make(left_n: int = 2, extra: str = "") -> Pair:
        left = sample_app(n=left_n, auth=AuthMode.BEARER, token=LEFT_TOKEN, seed=1)
        right = sample_app(n=0, auth=AuthMode.BEARER, token=RIGHT_TOKEN, seed=2)
        directory = tmp_path / "config"
        write_pair(directory, left.url, right.url, """\
match: {left: email, right: email}
fields:
  - {left: email, right: email}
children:
  - left: notes
    right: notes
    fields:
      - {left: body, right: body}
""" + extra)
        # The connector's timeout short: a create a crash cut short waits that long for its lookup.
        spec = yaml.safe_load((REPO / "connectors.d" / "sampleapp.yaml").read_text()) | {"timeout": TIMEOUT}
        (directory / "connectors.d").mkdir()
        (directory / "connectors.d" / "sampleapp.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
        return load_config(directory, environ={"LEFT_TOKEN": LEFT_TOKEN, "RIGHT_TOKEN": RIGHT_TOKEN}), left, right

    return make


def partner(left: SampleApp, right: SampleApp, left_id: str) -> str:
    email = left.store.get(left_id)["email"]  # type: ignore[index]
    return next(c["id"] for c in right.store.all() if c["email"] == email)


def note_posts(app: SampleApp) -> int:
    return sum(1 for r in app.requests.all() if r.method == "POST" and r.path.endswith("/notes"))


@pytest.mark.anyio
async def test_an_open_create_intent_waits_while_its_parent_cannot_be_read_then_adopts_the_note(pair: Any) -> None:
    config, left, right = pair()
    with Cycles.open(config) as cycles:
        await cycles.run("pair", origin="once")  # contacts linked, no notes yet
        a = left.store.ids()[0]
        b = partner(left, right, a)
        note = left.children.create("notes", a, {"body": "call back"})
        # What a kill -9 between the POST and its commit leaves: the note on
        # the right, and the intent that says it may be there.
        right.children.create("notes", b, {"body": "call back"})
        with cycles.store.transaction(NOTES) as t:
            t.add_intent(Intent(side="right", kind="create", source_id=note["id"],
                                fields={"body": "call back", PARENT: b}))
        right.faults.add(status=404, method="GET", path_prefix=f"/contacts/{b}/notes")
        right.requests.clear()

        summary = await cycles.run("pair", origin="once")

        # The right contact's notes could not be read: nothing is created blind.
        assert summary.children["notes"]["errors"] == 1
        assert note_posts(right) == 0
        assert len(cycles.store.open_intents(NOTES)) == 1
        # A create a crash cut short: it is looked up once the app has had the connector's timeout.
        [cut_short] = [e for e in cycles.store.errors(NOTES) if e.operation == "create"]
        assert cut_short.attempts == 0 and cut_short.status is None
        await anyio.sleep(TIMEOUT + 0.1)

        summary = await cycles.run("pair", origin="once")

        assert note_posts(right) == 0 and summary.children["notes"]["created"] == {"left": 0, "right": 0}
        [adopted] = right.children.all("notes", b)
        assert cycles.store.linked(NOTES, "left", [note["id"]]) == {note["id"]: adopted["id"]}
        assert cycles.store.open_intents(NOTES) == []
        assert error_entries(cycles.store, "pair") == []  # the notes read again: the read error is over


@pytest.mark.anyio
async def test_a_note_adopted_after_a_crash_has_its_create_as_base_so_a_later_edit_is_no_conflict(
        pair: Any) -> None:
    # The note is read and its create sent, but the answer is lost (a 500 here; a kill -9 alike):
    # the intent stays open. The right app did store it. Then the left note is edited: the next
    # pass adopts the right note, and the edit is a change of the left's alone (its base is what it
    # held when the create was planned), not a conflict of two never-synced records.
    config, left, right = pair(extra="record_retries: {backoff_initial: 0}\n")
    with Cycles.open(config) as cycles:
        await cycles.run("pair", origin="once")
        a = left.store.ids()[0]
        b = partner(left, right, a)
        note = left.children.create("notes", a, {"body": "call back"})
        right.faults.add(status=500, method="POST", path_prefix=f"/contacts/{b}/notes", times=None)
        await cycles.run("pair", origin="once")
        [intent] = cycles.store.open_intents(NOTES)
        right.faults.clear()
        right.children.create("notes", b, {"body": "call back"})  # what the lost answer was about
        left.children.update("notes", a, note["id"], {"body": "call back on Monday"})

        summary = await cycles.run("pair", origin="once")

        assert summary.children["notes"]["conflicts"] == 0, summary.children
        assert summary.children["notes"]["created"] == {"left": 0, "right": 0}
        assert [n["body"] for n in right.children.all("notes", b)] == ["call back on Monday"]
        assert cycles.store.open_intents(NOTES) == []


@pytest.mark.anyio
async def test_a_pass_stopped_after_a_note_is_created_but_before_its_commit_loses_no_edit_of_it(
        pair: Any) -> None:
    # The pass creates a note, then an update is refused (401: the cycle stops there, as a kill -9
    # would). The created note's pair must be in step on both sides already: before, its source was
    # left never synced, so an edit of the created note was a conflict, lost to a newer left note.
    config, left, right = pair()
    with Cycles.open(config) as cycles:
        await cycles.run("pair", origin="once")
        a = left.store.ids()[0]
        b = partner(left, right, a)
        old = left.children.create("notes", a, {"body": "old"})
        await cycles.run("pair", origin="once")
        new = left.children.create("notes", a, {"body": "call back"})
        left.children.update("notes", a, old["id"], {"body": "old, edited"})
        right.faults.add(status=401, method="PATCH", path_prefix=f"/contacts/{b}/notes", times=None)
        summary = await cycles.run("pair", origin="once")
        assert summary.aborted is not None and "401" in summary.aborted, summary
        right.faults.clear()
        [created] = [n for n in right.children.all("notes", b) if n["body"] == "call back"]
        right.children.update("notes", b, created["id"], {"body": "call back, edited on the right"})
        left.children.update("notes", a, new["id"], {"body": "call back"})  # touched, not changed: the newer

        summary = await cycles.run("pair", origin="once")

        assert summary.children["notes"]["conflicts"] == 0, summary.children
        assert {n["body"] for n in left.children.all("notes", a)} == {"old, edited", "call back, edited on the right"}
        assert {n["body"] for n in right.children.all("notes", b)} == {"old, edited", "call back, edited on the right"}


@pytest.mark.anyio
async def test_a_note_that_cannot_be_written_is_an_open_error_of_the_integration_naming_its_object(
        pair: Any) -> None:
    config, left, right = pair()
    with Cycles.open(config) as cycles:
        await cycles.run("pair", origin="once")
        a = left.store.ids()[0]
        left.children.create("notes", a, {"body": "refused"})
        right.faults.add(status=422, method="POST", path_prefix="/contacts/", times=None)

        summary = await cycles.run("pair", origin="once")

        assert summary.errors == 1 and summary.outcome == "errors"
        [entry] = error_entries(cycles.store, "pair")
        assert (entry["object"], entry["operation"], entry["side"], entry["record_side"]) == (
            "notes", "create", "right", "left")
        status = errors_status(cycles.store, "pair")
        assert status["open_errors"] == 1 and status["errors_preview"][0]["object"] == "notes"

        right.faults.clear()
        await cycles.run("pair", origin="once")
        assert error_entries(cycles.store, "pair") == []
        assert [n["body"] for n in right.children.all("notes")] == ["refused"]


@pytest.mark.anyio
@pytest.mark.parametrize(("extra", "kept"), [("deletions: {from: both, then: delete}\n", []),
                                             ("", ["goes"])])
async def test_a_note_deleted_on_one_side_is_deleted_on_the_other_only_when_deletions_say_delete(
        pair: Any, extra: str, kept: list[str]) -> None:
    config, left, right = pair(extra=extra)
    with Cycles.open(config) as cycles:
        a = left.store.ids()[0]
        note = left.children.create("notes", a, {"body": "goes"})
        await cycles.run("pair", origin="once")
        assert [n["body"] for n in right.children.all("notes")] == ["goes"]
        left.children.delete("notes", a, note["id"])

        await cycles.run("pair", origin="once")

        assert [n["body"] for n in right.children.all("notes")] == kept
        assert cycles.store.linked(NOTES, "left", [note["id"]]) == {}
        # and nothing comes back: a kept note is not created again on the left
        await cycles.run("pair", origin="once")
        assert left.children.all("notes") == []


@pytest.mark.anyio
async def test_a_notes_delete_that_failed_once_is_no_open_error_once_it_is_done(pair: Any) -> None:
    # The failed delete is the right side's error of the left note's id: before the fix, the
    # delete done at the next cycle resolved the left note's own errors only, and the failure
    # stayed listed by `syncd errors` for good.
    config, left, right = pair(extra="deletions: {from: both, then: delete}\n")
    with Cycles.open(config) as cycles:
        a = left.store.ids()[0]
        note = left.children.create("notes", a, {"body": "goes"})
        await cycles.run("pair", origin="once")
        left.children.delete("notes", a, note["id"])
        right.faults.add(status=422, method="DELETE", path_prefix="/contacts")
        failed = await cycles.run("pair", origin="once")
        assert failed.errors == 1 and [e.operation for e in cycles.store.errors(NOTES)] == ["delete"]
        right.faults.clear()

        await cycles.run("pair", origin="once")

        assert right.children.all("notes") == []
        assert cycles.store.errors(NOTES) == []


@pytest.mark.anyio
async def test_a_contact_gone_from_its_app_is_not_asked_for_its_notes(pair: Any) -> None:
    config, left, right = pair(left_n=20)  # one gone of 20: within the deletion guard's limit
    with Cycles.open(config) as cycles:
        a = left.store.ids()[0]
        left.children.create("notes", a, {"body": "stays on the right"})
        await cycles.run("pair", origin="once")
        b = partner(left, right, a)
        left.store.delete(a)  # no deletions: in the config, so its partner stays
        left.requests.clear()

        full = await cycles.run("pair", origin="once", full=True)  # the full read finds it gone
        right.store.update(b, first_name="Changed")
        changed = await cycles.run("pair", origin="once")  # its partner changed

        assert full.errors == changed.errors == 0
        assert not [r for r in left.requests.all() if r.path == f"/contacts/{a}/notes"]
        assert [n["body"] for n in right.children.all("notes", b)] == ["stays on the right"]


@pytest.mark.anyio
async def test_reset_forgets_the_state_of_child_objects_even_of_one_no_longer_configured(pair: Any) -> None:
    config, left, _ = pair()
    left.children.create("notes", left.store.ids()[0], {"body": "kept in the state"})
    with Cycles.open(config) as cycles:
        await cycles.run("pair", origin="once")
        assert cycles.store.integrations() == ["pair", NOTES]
        without = replace(config, integrations={"pair": replace(config.integrations["pair"], children=())})

        Cycles(without, cycles.store).forget("pair")

        assert cycles.store.integrations() == []


@pytest.mark.anyio
async def test_a_round_of_chosen_records_syncs_their_notes_and_leaves_the_child_cursors_alone(pair: Any) -> None:
    # A webhook's or a retry's round reads a few contacts' notes; the child
    # pass's cursor (where a cycle's read of the parents must reach back to,
    # after a crash between the passes) is a cycle's to move, never a round's.
    config, left, right = pair()
    with Cycles.open(config) as cycles:
        await cycles.run("pair", origin="once")
        a = left.store.ids()[0]
        left.children.create("notes", a, {"body": "called"})
        behind = {side: replace(cycles.store.side_state(NOTES, side), cursor=datetime(2020, 1, 1, tzinfo=UTC))
                  for side in ("left", "right")}
        with cycles.store.transaction(NOTES) as t:
            for side, state in behind.items():
                t.set_side_state(side, state)
        async with cycles.cycle("pair", origin="webhook") as cycle:
            [outcome] = await sync_records(cycle, [("left", a)])
        assert outcome.ok, outcome
        assert [n["body"] for n in right.children.all("notes", partner(left, right, a))] == ["called"]
        assert {side: cycles.store.side_state(NOTES, side) for side in ("left", "right")} == behind


@pytest.mark.anyio
async def test_notes_that_leave_their_contact_alone_are_found_by_the_full_pass_full_every_asks_for(pair: Any) -> None:
    config, left, right = pair(extra="full_every: 1 hour\n")
    with Cycles.open(config) as cycles:
        await cycles.run("pair", origin="once")
        await cycles.run("pair", origin="once")  # reads back its own writes (their notes too): settled
        a = left.store.ids()[0]
        b = partner(left, right, a)
        left.children.create("notes", a, {"body": "quiet"}, touch=False)  # its contact not bumped
        await cycles.run("pair", origin="once")
        assert right.children.all("notes", b) == []  # an incremental cycle cannot see it
        with cycles.store.transaction(NOTES) as t:  # the last full pass, over an hour ago
            for side in ("left", "right"):
                state = cycles.store.side_state(NOTES, side)
                t.set_side_state(side, replace(state, last_full_read=cycles.store.now() - timedelta(hours=2)))
        await cycles.run("pair", origin="once")
        assert [n["body"] for n in right.children.all("notes", b)] == ["quiet"]
        assert cycles.store.now() - cycles.store.side_state(NOTES, "left").last_full_read < timedelta(minutes=5)


@pytest.mark.anyio
async def test_a_note_whose_create_got_no_answer_is_looked_up_after_the_app_had_its_time_not_made_twice(
        pair: Any) -> None:
    # The right app holds the note's create past the connector's timeout (a slow app goes on with
    # it). The next pass comes at once: the note is not there yet. Before, the intent was resolved
    # as never created and the note sent again; the late one then made it twice.
    config, left, right = pair(extra="record_retries: {backoff_initial: 0}\n")
    timeout = 1.5
    config = replace(config, connectors={
        name: replace(spec, timeout=timeout) for name, spec in config.connectors.items()})
    with Cycles.open(config) as cycles:
        await cycles.run("pair", origin="once")
        a = left.store.ids()[0]
        b = partner(left, right, a)
        left.children.create("notes", a, {"body": "call back"})
        held = right.faults.add(hold=True, method="POST", path_prefix=f"/contacts/{b}/notes")
        summary = await cycles.run("pair", origin="once")
        assert summary.children["notes"]["errors"] == 1, summary.children
        failed = datetime.now(UTC)

        summary = await cycles.run("pair", origin="once")  # the app is still making it
        assert summary.children["notes"]["created"] == {"left": 0, "right": 0}, summary.children
        assert summary.children["notes"]["waiting"] == 1, summary.children
        assert len(cycles.store.open_intents(NOTES)) == 1
        held.release()
        right.faults.clear()
        await anyio_sleep_until(failed + timedelta(seconds=timeout + 0.2))

        summary = await cycles.run("pair", origin="once")
        assert summary.children["notes"]["created"] == {"left": 0, "right": 0}, summary.children
        assert [n["body"] for n in right.children.all("notes", b)] == ["call back"]
        assert cycles.store.open_intents(NOTES) == []
        assert error_entries(cycles.store, "pair") == []


async def anyio_sleep_until(when: datetime) -> None:
    await anyio.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()))


@pytest.mark.anyio
async def test_a_notes_update_a_crash_cut_short_holds_its_pair_until_it_may_have_landed(pair: Any) -> None:
    # What a kill -9 while the right app was still carrying out a note's update leaves: its intent
    # open, with no error. Meanwhile the left note is edited again. Before, the next pass wrote the
    # new body at once; the late update then landed over it, and the pass after took it for an edit
    # of the right note and wrote it back over the left's newer edit.
    config, left, right = pair()
    with Cycles.open(config) as cycles:
        await cycles.run("pair", origin="once")
        a = left.store.ids()[0]
        b = partner(left, right, a)
        note = left.children.create("notes", a, {"body": "call back"})
        await cycles.run("pair", origin="once")
        [copy] = right.children.all("notes", b)
        with cycles.store.transaction(NOTES) as t:
            t.add_intent(Intent(side="right", kind="update", source_id=note["id"], target_id=copy["id"],
                                fields={"body": "call back on Monday"}))
        left.children.update("notes", a, note["id"], {"body": "call back on Tuesday"})

        summary = await cycles.run("pair", origin="once")
        cut = datetime.now(UTC)

        assert summary.children["notes"]["updated"] == {"left": 0, "right": 0}, summary.children
        assert summary.children["notes"]["waiting"] == 1, summary.children
        [error] = [e for e in cycles.store.errors(NOTES) if e.operation == "update"]
        assert error.attempts == 0 and "update cut short" in error.message
        right.children.update("notes", b, copy["id"], {"body": "call back on Monday"})  # it lands, late
        await anyio_sleep_until(cut + timedelta(seconds=TIMEOUT + 0.2))
        for _ in range(2):
            await cycles.run("pair", origin="once")

        assert [n["body"] for n in right.children.all("notes", b)] == ["call back on Tuesday"]
        assert [n["body"] for n in left.children.all("notes", a)] == ["call back on Tuesday"]
        assert cycles.store.open_intents(NOTES) == []
        assert error_entries(cycles.store, "pair") == []
