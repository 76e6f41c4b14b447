"""add_api_usage: an account's request count, kept by the store so that every
process on it (daemons on one PostgreSQL database) counts into one window.
The same tests run against both stores."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from syncd.state import AccountUsage, StateError, StateStore, open_state, open_store

Opener = Callable[[], StateStore]
DAY = (0.0, 86400.0)
ACCOUNT = "app@http://a#1"


@pytest.fixture(params=["sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens the test's store again at each call: another connection, as a second syncd process."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        return lambda: open_state(url)
    return lambda: open_store(tmp_path / "state.db")


@pytest.fixture
def store(opener: Opener) -> Iterator[StateStore]:
    with opener() as store:
        yield store


def test_each_request_adds_one_and_the_row_comes_back(store: StateStore) -> None:
    assert store.add_api_usage(ACCOUNT, "app", DAY, 10.0) == AccountUsage(ACCOUNT, "app", 0.0, 86400.0, 1)
    assert store.add_api_usage(ACCOUNT, "app", DAY, 11.0).used == 2
    other = store.add_api_usage("crm@http://b#2", "crm", DAY, 12.0)
    assert other.used == 1
    assert store.api_usage() == [AccountUsage(ACCOUNT, "app", 0.0, 86400.0, 2), other]


def test_a_window_that_ended_starts_again_from_one_and_keeps_the_apis_limit(store: StateStore) -> None:
    store.add_api_usage(ACCOUNT, "app", DAY, 10.0, api_used=500, api_limit=1000)
    store.add_api_usage(ACCOUNT, "app", DAY, 20.0)
    later = store.add_api_usage(ACCOUNT, "app", (86400.0, 172800.0), 86400.0)  # the end itself is past it
    assert later == AccountUsage(ACCOUNT, "app", 86400.0, 172800.0, 1, None, 1000)


def test_what_the_api_said_replaces_what_was_kept_and_its_reset_moves_the_end(store: StateStore) -> None:
    store.add_api_usage(ACCOUNT, "app", DAY, 10.0, api_used=40, api_limit=100, resets_at=3600.0)
    kept = store.add_api_usage(ACCOUNT, "app", DAY, 11.0)  # no headers: the reading stays
    assert kept == AccountUsage(ACCOUNT, "app", 0.0, 3600.0, 2, 40, 100)
    past = store.add_api_usage(ACCOUNT, "app", DAY, 12.0, api_used=41, resets_at=5.0)  # a reset behind us
    assert past == AccountUsage(ACCOUNT, "app", 0.0, 3600.0, 3, 41, 100)
    rolled = store.add_api_usage(ACCOUNT, "app", (3600.0, 7200.0), 3600.0, resets_at=4000.0)
    assert rolled == AccountUsage(ACCOUNT, "app", 3600.0, 4000.0, 1, None, 100)


def test_two_connections_counting_at_once_lose_no_request(opener: Opener) -> None:
    per_thread, threads = 50, 2
    failures: list[BaseException] = []

    def count() -> None:
        try:
            # Each its own store: its own connection, like another daemon.
            with opener() as store:
                for i in range(per_thread):
                    store.add_api_usage(ACCOUNT, "app", DAY, 10.0 + i)
        except BaseException as e:  # noqa: BLE001 - reported by the assert below
            failures.append(e)

    workers = [threading.Thread(target=count) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not failures
    with opener() as store:
        [usage] = store.api_usage()
    assert usage.used == per_thread * threads


def test_counting_is_refused_inside_a_transaction(store: StateStore) -> None:
    with pytest.raises(StateError, match="outside transactions"):
        with store.transaction("crm") as t:
            t.set_disabled(None)
            store.add_api_usage(ACCOUNT, "app", DAY, 10.0)
    assert store.api_usage() == []
