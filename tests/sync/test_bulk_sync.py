"""A bulk sync over a real state store and real sample apps on 127.0.0.1.

Each test joins two sample apps (the sample fields: email, first and last
name both ways, the phone left to right), syncs them once, then makes them
drift behind syncd's back: a contact edited on the app with its
``updated_at`` kept, so the change feed never reports it and a normal
cycle never repairs it. A bulk sync does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from syncd.config import load_config
from syncd.sampleapp import AuthMode, SampleApp, sample_integration, write_sample_config
from syncd.state import BulkRun
from syncd.sync import BulkSync, Cycles, bulk_progress

LEFT_TOKEN, RIGHT_TOKEN = "left-token-0123", "right-token-4567"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


Opener = Callable[[], Any]


@pytest.fixture
def apps(sample_app: Callable[..., SampleApp], tmp_path: Path) -> Callable[..., tuple[SampleApp, SampleApp, Opener]]:
    """``apps(n, conflict=...)``: n contacts on the left, none on the right,
    and ``open()``: the Cycles of their integration ``pair`` over its store."""
    def make(n: int = 12, conflict: str = "newest_wins") -> tuple[SampleApp, SampleApp, Opener]:
        left = sample_app(n=n, auth=AuthMode.BEARER, token=LEFT_TOKEN, seed=1)
        right = sample_app(n=0, auth=AuthMode.BEARER, token=RIGHT_TOKEN, seed=2)
        directory = write_sample_config(
            tmp_path / "config", sample_integration(left.url, right.url, name="pair", conflict=conflict))

        @contextmanager
        def open_cycles() -> Iterator[Cycles]:
            config = load_config(directory, environ={"LEFT_TOKEN": LEFT_TOKEN, "RIGHT_TOKEN": RIGHT_TOKEN})
            with Cycles.open(config) as cycles:
                yield cycles

        return left, right, open_cycles

    return make


def drift(app: SampleApp, email: str, **changes: Any) -> None:
    """Edit a contact behind syncd's back, as an import that keeps old
    timestamps does: its updated_at an hour back, so no change feed shows it."""
    [contact] = [c for c in app.store.all() if c["email"] == email]
    old = datetime.fromisoformat(contact["updated_at"]) - timedelta(hours=1)
    app.store.update(contact["id"], **changes, updated_at=old.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


def in_link_order(app: SampleApp) -> list[str]:
    """The left app's emails in the order of their ids: the order a bulk goes in."""
    return [c["email"] for c in sorted(app.store.all(), key=lambda c: c["id"])]


def right_of(right: SampleApp, email: str) -> dict[str, Any]:
    [contact] = [c for c in right.store.all() if c["email"] == email]
    return contact


def update_inputs(app: SampleApp) -> list[dict[str, Any]]:
    return [item for r in app.requests.all() if r.path == "/contacts/batch/update" for item in r.body["inputs"]]


@pytest.mark.anyio
async def test_bulk_repairs_drift_that_a_cycle_never_sees_and_writes_only_differences(apps) -> None:
    left, right, open_cycles = apps(12, conflict="left_wins")
    with open_cycles() as cycles:
        await cycles.run("pair", origin="once")
        await cycles.run("pair", origin="once")  # reads the right's echo: both sides have a cursor now
        people = sorted(c["email"] for c in left.store.all())
        originals = {e: right_of(right, e) for e in people}
        drift(right, people[0], phone="+1 555 0000")  # a one-way field: the left owns it
        drift(right, people[1], first_name="Drifted")  # both ways: left_wins decides
        drift(right, people[2], first_name="Drifted", phone="+1 555 0001")
        # a normal cycle does not see any of it
        summary = await cycles.run("pair", origin="once")
        assert summary.write_count == 0
        assert right_of(right, people[0])["phone"] == "+1 555 0000"
        right.requests.clear()
        left.requests.clear()

        run = await BulkSync(cycles, "pair").run()

        assert (run.state, run.done, run.total, run.failed, run.message) == ("done", 12, 12, 0, None)
        assert run.ended_at is not None
        for email in people[:3]:
            assert right_of(right, email)["phone"] == originals[email]["phone"]
            assert right_of(right, email)["first_name"] == originals[email]["first_name"]
        # only the three drifted contacts were written, and nothing to the left
        assert sorted(i["id"] for i in update_inputs(right)) == sorted(right_of(right, e)["id"] for e in people[:3])
        assert [r for r in left.requests.all() if r.method != "GET"] == []
        assert cycles.store.bulk_run("pair") == run
        assert cycles.store.conflicts("pair") == []  # a bulk's policy decisions are no conflicts
        # in step: the next cycle writes nothing
        assert (await cycles.run("pair", origin="once")).write_count == 0


@pytest.mark.anyio
async def test_newest_wins_lets_the_newer_side_win_a_both_mapping(apps) -> None:
    left, right, open_cycles = apps(3)
    with open_cycles() as cycles:
        await cycles.run("pair", origin="once")
        email = sorted(c["email"] for c in left.store.all())[0]
        [contact] = [c for c in left.store.all() if c["email"] == email]
        newer = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        left.store.update(contact["id"], last_name="Newer")
        drift(right, email, last_name="Older")
        # the left edit, with a later updated_at than the right's record
        left.store.update(contact["id"], updated_at=newer)
        run = await BulkSync(cycles, "pair").run()
        assert run.state == "done"
        assert right_of(right, email)["last_name"] == "Newer"


@pytest.mark.anyio
async def test_bulk_never_creates_and_counts_only_linked_pairs(apps) -> None:
    left, right, open_cycles = apps(4)
    with open_cycles() as cycles:
        await cycles.run("pair", origin="once")
        left.store.create({"email": "new@example.com", "first_name": "New"})
        run = await BulkSync(cycles, "pair").run()
        assert (run.state, run.total, run.done) == ("done", 4, 4)
        assert len(right.store.all()) == 4  # the new contact is the scheduled cycle's to create
        assert (await cycles.run("pair", origin="once")).created["right"] == 1


@pytest.mark.anyio
async def test_a_failed_write_is_a_bulk_record_error_and_the_bulk_goes_on(apps) -> None:
    left, right, open_cycles = apps(6)
    with open_cycles() as cycles:
        await cycles.run("pair", origin="once")
        await cycles.run("pair", origin="once")
        people = in_link_order(left)
        drift(right, people[0], phone="+1 555 0000")
        drift(right, people[5], phone="+1 555 0005")
        right.faults.add(status=422, method="PATCH", times=1)  # the first batch: one record, sent alone
        run = await BulkSync(cycles, "pair", batch=3).run()
        assert (run.state, run.done, run.total, run.failed) == ("done", 6, 6, 1)
        [error] = cycles.store.errors("pair")
        assert (error.origin, error.operation, error.status, error.side) == ("bulk", "update", 422, "right")
        assert right_of(right, people[0])["phone"] == "+1 555 0000"  # refused
        assert right_of(right, people[5])["phone"] != "+1 555 0005"  # the second batch went on


@pytest.mark.anyio
async def test_a_stop_ends_it_at_the_next_checkpoint(apps) -> None:
    left, right, open_cycles = apps(10)
    with open_cycles() as cycles:
        await cycles.run("pair", origin="once")
        seen: list[BulkRun] = []

        def on_progress(run: BulkRun) -> None:
            seen.append(run)
            if run.done == 3:
                bulk.stop("stopped by the test")

        bulk = BulkSync(cycles, "pair", batch=3, on_progress=on_progress)
        run = await bulk.run()
        assert (run.state, run.done, run.total, run.message) == ("stopped", 3, 10, "stopped by the test")
        assert [r.done for r in seen if r.state == "running"] == [0, 0, 3]
        assert cycles.store.bulk_run("pair") == run
        # not resumable: a new one starts over
        again = await BulkSync(cycles, "pair", batch=3).run()
        assert (again.state, again.done, again.total) == ("done", 10, 10)


@pytest.mark.anyio
async def test_a_cycle_waiting_for_the_lock_runs_between_two_batches(apps) -> None:
    left, right, open_cycles = apps(6)
    with open_cycles() as cycles:
        await cycles.run("pair", origin="once")
        await cycles.run("pair", origin="once")
        for email in in_link_order(left):
            drift(right, email, phone="+1 555 0000")  # every batch writes
        hang = right.faults.add(delay=0.5, path_prefix="/contacts/batch/update", times=1)  # the first batch
        lock = anyio.Lock()
        bulk = BulkSync(cycles, "pair", batch=3, lock=lambda: lock)
        seen_by_the_cycle: list[tuple[str, int]] = []

        async def scheduled_cycle() -> None:
            await anyio.to_thread.run_sync(right.faults.wait_hit, hang)  # the bulk holds the lock now
            async with lock:
                await cycles.run("pair", origin="scheduled")
                seen_by_the_cycle.append((bulk.progress.state, bulk.progress.done))

        async with anyio.create_task_group() as tg:
            tg.start_soon(scheduled_cycle)
            run = await bulk.run()
        assert seen_by_the_cycle == [("running", 3)]  # after the first batch, before the second
        assert (run.state, run.done) == ("done", 6)


@pytest.mark.anyio
async def test_the_budget_check_point_holds_a_batch_back_until_it_may_go_on(apps, monkeypatch) -> None:
    monkeypatch.setattr("syncd.sync._bulk.HELD_BACK_POLL", 0.01)
    left, right, open_cycles = apps(4)
    with open_cycles() as cycles:
        await cycles.run("pair", origin="once")
        answers = iter(["API budget at 45 % (bulk runs below 40 %)", "API budget at 45 % (bulk runs below 40 %)"])
        messages: list[str | None] = []
        bulk = BulkSync(cycles, "pair", batch=2, held_back_by=lambda: next(answers, None),
                        on_progress=lambda run: messages.append(run.message))
        run = await bulk.run()
        assert (run.state, run.done, run.message) == ("done", 4, None)
        assert "API budget at 45 % (bulk runs below 40 %)" in messages  # shown while held back


@pytest.mark.anyio
async def test_an_app_refusing_the_credentials_fails_the_bulk_with_the_reason(apps, sample_app) -> None:
    left, right, open_cycles = apps(3)
    with open_cycles() as cycles:
        await cycles.run("pair", origin="once")
        right.faults.add(status=401, times=None)
        run = await BulkSync(cycles, "pair").run()
        assert run.state == "failed" and run.message and "401" in run.message
        assert cycles.store.bulk_run("pair") == run


def test_progress_shows_rate_and_eta_while_running() -> None:
    t0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
    run = BulkRun("running", t0, t0 + timedelta(seconds=10), done=50, total=200)
    shown = bulk_progress(run, now=t0.timestamp() + 10)
    assert shown == {"state": "running", "done": 50, "total": 200, "failed": 0, "rate": 5.0,
                     "eta_seconds": 30.0, "started_at": t0.timestamp(), "ended_at": None, "message": None}
    ended = bulk_progress(BulkRun("done", t0, t0, done=200, total=200, ended_at=t0 + timedelta(seconds=40)))
    assert ended is not None and ended["rate"] == 5.0 and ended["eta_seconds"] is None
    assert bulk_progress(None) is None
