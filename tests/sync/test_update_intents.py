"""Update intents (syncd.sync._update_intents): an update whose commit never came loses no edit.

The cycles run over a real state store and real sample apps. ``conflict: right_wins`` makes the
loss certain without racing clocks: a contact edited on the left is written to the right, which
carries the update out and then answers 504 (a gateway that gave up waiting: syncd cannot know
it landed); the left is edited again. Before update intents, the next cycle took the right's new
value (syncd's own write) for an edit of the right: a conflict, which the right won, so the
left's second edit was overwritten. Now the written field the right holds is in step there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sync_support import write_pair

from syncd.config import Config, load_config
from syncd.sampleapp import AuthMode, SampleApp
from syncd.state import Intent, RecordErrorRow, Snapshot, open_store
from syncd.sync import Cycles
from syncd.sync._update_intents import base_with_writes, rebase_updates

LEFT_TOKEN, RIGHT_TOKEN = "left-token-0123", "right-token-4567"
Pair = tuple[Config, SampleApp, SampleApp]
NOTES = "pair/notes"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def pair(sample_app: Callable[..., SampleApp], tmp_path: Path) -> Callable[..., Pair]:
    """Two apps joined by ``pair`` (contacts and their notes), the right winning conflicts
        (the notes' too: a child entry takes its integration's ``conflict:``)."""
    def make() -> Pair:
        left = sample_app(n=1, auth=AuthMode.BEARER, token=LEFT_TOKEN, seed=1)
        right = sample_app(n=0, auth=AuthMode.BEARER, token=RIGHT_TOKEN, seed=2)
        directory = tmp_path / "config"
        write_pair(directory, left.url, right.url, """\
match: {left: email, right: email}
conflict: right_wins
record_retries: {backoff_initial: 0}
fields:
  - {left: email, right: email}
  - {left: first_name, right: first_name}
  - {left: last_name, right: last_name}
children:
  - left: notes
    right: notes
    fields:
      - {left: body, right: body}
""")
        # One attempt a request: a write whose answer was lost is not sent again within the cycle.
        spec = yaml.safe_load((REPO / "connectors.d" / "sampleapp.yaml").read_text()) | {"retry": {"max_attempts": 1}}
        (directory / "connectors.d").mkdir()
        (directory / "connectors.d" / "sampleapp.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
        return load_config(directory, environ={"LEFT_TOKEN": LEFT_TOKEN, "RIGHT_TOKEN": RIGHT_TOKEN}), left, right

    return make


def synced(left: SampleApp, right: SampleApp) -> tuple[str, str]:
    [a], [b] = left.store.ids(), right.store.ids()
    return a, b


@pytest.mark.anyio
async def test_an_update_answered_504_that_landed_loses_no_later_edit_of_its_source(pair: Any) -> None:
    config, left, right = pair()
    with Cycles.open(config) as cycles:
        await cycles.run("pair", origin="once")
        a, b = synced(left, right)
        left.store.update(a, first_name="Written")
        right.faults.add(status=504, after=True, method="PATCH", path_prefix="/contacts/")
        summary = await cycles.run("pair", origin="once")
        assert summary.errors == 1, summary
        assert right.store.get(b)["first_name"] == "Written"  # it landed all the same
        [intent] = cycles.store.open_intents("pair")
        assert (intent.kind, intent.side, intent.target_id, intent.source_id) == ("update", "right", b, a)
        assert intent.fields["first_name"] == "Written"
        left.store.update(a, first_name="Edited")

        summary = await cycles.run("pair", origin="once")

        assert summary.conflicts == 0, summary
        assert right.store.get(b)["first_name"] == left.store.get(a)["first_name"] == "Edited"
        assert cycles.store.open_intents("pair") == []
        assert cycles.store.errors("pair", unresolved=True) == []


@pytest.mark.anyio
async def test_a_written_field_edited_on_the_target_since_is_still_a_conflict(pair: Any) -> None:
    # The right's first name changed after syncd's write: that is an edit, and the right wins it.
    config, left, right = pair()
    with Cycles.open(config) as cycles:
        await cycles.run("pair", origin="once")
        a, b = synced(left, right)
        left.store.update(a, first_name="Written", last_name="Lovelace")
        right.faults.add(status=504, after=True, method="PATCH", path_prefix="/contacts/")
        await cycles.run("pair", origin="once")
        right.store.update(b, first_name="Right's own")
        left.store.update(a, first_name="Edited")

        summary = await cycles.run("pair", origin="once")

        assert summary.conflicts == 1, summary
        assert left.store.get(a)["first_name"] == right.store.get(b)["first_name"] == "Right's own"
        # The field written and held (last_name) is in step: no conflict, nothing lost.
        assert left.store.get(a)["last_name"] == right.store.get(b)["last_name"] == "Lovelace"


@pytest.mark.anyio
async def test_an_update_intent_is_resolved_by_its_commit_and_by_a_refusal_and_kept_by_a_5xx(pair: Any) -> None:
    config, left, right = pair()
    with Cycles.open(config) as cycles:
        await cycles.run("pair", origin="once")
        a, b = synced(left, right)
        left.store.update(a, first_name="One")
        await cycles.run("pair", origin="once")
        assert right.store.get(b)["first_name"] == "One"
        assert cycles.store.open_intents("pair") == []  # committed with its pair

        left.store.update(a, first_name="Two")
        right.faults.add(status=422, method="PATCH", path_prefix="/contacts/")
        summary = await cycles.run("pair", origin="once")
        assert summary.errors == 1
        assert cycles.store.open_intents("pair") == []  # refused: nothing was written

        right.faults.add(status=503, method="PATCH", path_prefix="/contacts/", times=None)
        summary = await cycles.run("pair", origin="once")
        assert summary.errors == 1
        [kept] = cycles.store.open_intents("pair")  # a 5xx may have written it
        assert kept.fields["first_name"] == "Two"
        right.faults.clear()

        summary = await cycles.run("pair", origin="once")
        assert right.store.get(b)["first_name"] == "Two"
        assert summary.updated == {"left": 0, "right": 1}, summary
        assert cycles.store.open_intents("pair") == []


@pytest.mark.anyio
async def test_a_notes_update_whose_answer_was_unusable_loses_no_later_edit_of_it(pair: Any) -> None:
    config, left, right = pair()
    with Cycles.open(config) as cycles:
        await cycles.run("pair", origin="once")
        a, b = synced(left, right)
        note = left.children.create("notes", a, {"body": "call back"})
        await cycles.run("pair", origin="once")
        assert len(right.children.all("notes", b)) == 1
        left.children.update("notes", a, note["id"], {"body": "call back on Monday"})
        right.faults.add(status=504, after=True, method="PATCH", path_prefix=f"/contacts/{b}/notes")
        summary = await cycles.run("pair", origin="once")
        assert summary.children["notes"]["errors"] == 1, summary.children
        assert [n["body"] for n in right.children.all("notes", b)] == ["call back on Monday"]
        [intent] = cycles.store.open_intents(NOTES)
        assert intent.kind == "update"
        left.children.update("notes", a, note["id"], {"body": "call back on Tuesday"})

        summary = await cycles.run("pair", origin="once")

        assert summary.children["notes"]["conflicts"] == 0, summary.children
        assert [n["body"] for n in right.children.all("notes", b)] == ["call back on Tuesday"]
        assert cycles.store.open_intents(NOTES) == []


def snapshot(seen: dict[str, Any], synced: dict[str, Any] | None, *, deleted: bool = False) -> Snapshot:
    return Snapshot(side="right", record_id="r1", seen=seen, synced=synced, match_key=None, hash="h",
                    updated_at=None, deleted=deleted, dirty=seen != synced)


def update(**fields: Any) -> Intent:
    return Intent(side="right", kind="update", source_id="l1", target_id="r1", fields=fields)


def test_the_written_fields_a_target_holds_join_its_base_and_no_other() -> None:
    target = snapshot({"first": "Written", "last": "Edited", "phone": "1"},
                      {"first": "Old", "last": "Old", "phone": "1"})
    moved = base_with_writes([update(first="Written", last="Written")], target)
    assert moved is not None
    # first: held, in step now; last: edited since syncd's write, still a change
    assert moved.synced == {"first": "Written", "last": "Old", "phone": "1"}
    assert moved.dirty


def test_a_target_holding_every_written_field_and_nothing_else_changed_is_clean() -> None:
    target = snapshot({"first": "Written", "phone": "1"}, {"first": "Old", "phone": "1"})
    moved = base_with_writes([update(first="Written")], target)
    assert moved is not None and moved.synced == target.seen and not moved.dirty


def test_nothing_moves_without_a_base_for_a_deleted_target_or_when_nothing_is_held() -> None:
    assert base_with_writes([update(first="Written")], snapshot({"first": "Written"}, None)) is None
    assert base_with_writes([update(first="Written")], snapshot({"first": "Written"}, {"first": "Old"}, deleted=True)) is None
    assert base_with_writes([update(first="Written")], snapshot({"first": "Other"}, {"first": "Old"})) is None
    assert base_with_writes([update(first="Old")], snapshot({"first": "Old"}, {"first": "Old"})) is None
    assert base_with_writes([update(unread="x")], snapshot({"first": "Old"}, {"first": "Old"})) is None


def test_an_update_that_may_still_land_is_kept_open_until_its_target_holds_it(tmp_path: Path) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=30)
    with open_store(tmp_path / "state.db") as store:
        with store.transaction("crm") as t:
            t.put_snapshots([Snapshot("right", "r1", {"first": "Old"}, {"first": "Old"}),
                             Snapshot("left", "l1", {"first": "Written"}, {"first": "Old"}, dirty=True)])
            t.add_intents([update(first="Written")])
            t.add_error(RecordErrorRow("right", "l1", "update", "update cut short", attempts=0))
        intents = store.open_intents("crm")
        # Not there yet: left open, and its target's pair waits.
        assert rebase_updates(store, "crm", intents, {("right", "l1"): soon}).landing == {("right", "r1")}
        assert store.open_intents("crm") == intents
        # Read holding it: it landed. The target's base has it, the intent and its error are over.
        with store.transaction("crm") as t:
            t.put_snapshots([Snapshot("right", "r1", {"first": "Written"}, {"first": "Old"}, dirty=True)])
        assert rebase_updates(store, "crm", intents, {("right", "l1"): soon}).landing == set()
        assert store.open_intents("crm") == [] and store.errors("crm") == []
        target = store.snapshots("crm", "right", ["r1"])["r1"]
        assert target.synced == {"first": "Written"} and not target.dirty


@pytest.mark.anyio
async def test_a_landed_update_of_an_unconfirmed_creates_source_moves_the_base_the_create_gives(pair: Any) -> None:
    # The left contact's create on the right was cut short, and it did land (made here by hand);
    # its lookup waits. Meanwhile the right contact is edited ("Written"), paired with the left by
    # its match key and written there; the app applies the update and answers 504. Then the right
    # is edited again ("Edited"), and the left's first name (the left becomes the newer record).
    # Before the fix the next cycle ended the update's intent (the left had no base to move) and
    # paired the two from the create's base: the left's "Written" looked like its own edit, a
    # conflict with "Edited", and newest_wins took the left's.
    config, left, right = pair()
    config = replace(config, connectors={name: replace(spec, timeout=30) for name, spec in config.connectors.items()})
    [a] = left.store.ids()
    contact = left.store.get(a)
    made = right.store.create({k: contact[k] for k in ("email", "first_name", "last_name")})
    with Cycles.open(config) as cycles:
        with cycles.store.transaction("pair") as t:
            t.add_intents([Intent(side="right", kind="create", source_id=a, match_key=contact["email"].lower(),
                                  fields={k: contact[k] for k in ("email", "first_name", "last_name")},
                                  source_seen={k: contact[k] for k in ("email", "first_name", "last_name")})])
        right.store.update(made["id"], last_name="Written")
        left.faults.add(status=504, after=True, method="PATCH", path_prefix="/contacts/")
        first = await cycles.run("pair", origin="once")  # the create's lookup waits: cut short now
        assert first.errors == 1 and left.store.get(a)["last_name"] == "Written", first
        right.store.update(made["id"], last_name="Edited")
        left.store.update(a, first_name="Newer")

        second = await cycles.run("pair", origin="once")  # the create's lookup still waits

        assert second.conflicts == 0, second
        assert left.store.get(a)["last_name"] == right.store.get(made["id"])["last_name"] == "Edited"
        assert right.store.get(made["id"])["first_name"] == "Newer"
        assert len(right.store.all()) == 1
        assert cycles.store.open_intents("pair") == []


@pytest.mark.anyio
async def test_an_update_a_crash_cut_short_after_an_earlier_failure_still_waits(pair: Any) -> None:
    # The pair's last update failed (504, an open error); the retry's update was in flight when
    # syncd was killed: its intent, recorded after that error, is open with no error of its own.
    # Before, the earlier error passed for its outcome (a status: no wait), and the next cycle
    # wrote the pair at once, which the late update could undo.
    config, left, right = pair()
    with Cycles.open(config) as cycles:
        await cycles.run("pair", origin="once")
        a, b = synced(left, right)
        left.store.update(a, first_name="First")
        right.faults.add(status=504, method="PATCH", path_prefix="/contacts/")  # refused before applying
        assert (await cycles.run("pair", origin="once")).errors == 1
        with cycles.store.transaction("pair") as t:  # the retry's intent, as a kill -9 leaves it
            t.add_intents([Intent(side="right", kind="update", source_id=a, target_id=b,
                                  fields={"first_name": "First"})])
        right.requests.clear()

        summary = await cycles.run("pair", origin="once")

        assert summary.retry_later == 1 and summary.updated == {"left": 0, "right": 0}, summary
        assert [r for r in right.requests.all() if r.method == "PATCH"] == []
        [error] = cycles.store.errors("pair")
        assert error.message.startswith("update cut short") and error.status is None
        assert error.attempts == 2  # the failed attempt and the retry the crash cut short
