"""Leases and cluster membership (``LeaseBook``), against a real PostgreSQL.

Every test has a database of its own (``pg_url``) and books of daemons
that share it; expiry is made by the database's clock (a short lease and a
wait in the database, ``pg_sleep``), never by a daemon's.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import psycopg
import pytest

from pg_cluster import Cluster
from syncd.state import Lease, LeaseBook, Member, StateError

NAMES = [f"i{n:02d}" for n in range(12)]


@pytest.fixture
def books(pg_url: str) -> Iterator[Any]:
    """``book(id, lease_seconds=30)``: a LeaseBook of daemon *id* on the test's database; all closed at the end."""
    made: list[LeaseBook] = []

    def book(daemon_id: str, lease_seconds: float = 30.0) -> LeaseBook:
        made.append(LeaseBook(pg_url, daemon_id=daemon_id, host=f"host-{daemon_id}", pid=100 + len(made),
                              lease_seconds=lease_seconds))
        return made[-1]

    yield book
    for each in made:
        each.close()


def expire(url: str, *names: str) -> None:
    """Make these leases expired by the database's clock (as a paused holder would find them)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE leases SET expires_at = clock_timestamp() - interval '1 second'"
                     " WHERE integration = ANY(%s)", (list(names),))


def test_ensure_adds_free_leases_once_and_leases_reads_them(books: Any) -> None:
    a = books("a")
    a.ensure(["crm", "erp"])
    a.ensure(["crm", "hr", "hr"])
    assert a.leases() == {name: Lease(name, None, None, None, 0, None) for name in ("crm", "erp", "hr")}


def test_acquire_takes_free_ones_up_to_the_limit_in_the_order_given_with_token_plus_one(books: Any) -> None:
    a, b = books("a"), books("b")
    a.ensure(NAMES[:4])
    got = a.acquire(["i03", "i01", "i02"], 2)
    assert [lease.integration for lease in got] == ["i03", "i01"]
    assert all(lease.daemon_id == "a" and lease.host == "host-a" and lease.token == 1 for lease in got)
    assert all(lease.expires_at is not None and lease.expires_at.tzinfo is UTC for lease in got)
    assert [lease.integration for lease in b.acquire(NAMES[:4], 10)] == ["i00", "i02"]  # the held ones stay
    assert a.acquire(NAMES[:4], 0) == [] and a.acquire([], 3) == []
    assert a.acquire(["unknown"], 1) == []  # no row: nothing to take (ensure makes rows)


def test_an_expired_lease_is_taken_over_with_the_next_token(pg_url: str, books: Any) -> None:
    a, b = books("a"), books("b")
    a.ensure(["crm"])
    [first] = a.acquire(["crm"], 1)
    assert b.acquire(["crm"], 1) == []  # held and live
    expire(pg_url, "crm")
    [taken] = b.acquire(["crm"], 1)
    assert (taken.daemon_id, taken.host, taken.token) == ("b", "host-b", first.token + 1)
    assert a.renew({"crm": first.token}) == {}  # a lost it
    assert b.leases()["crm"] == taken


def test_renew_returns_only_the_leases_still_held_with_their_token(pg_url: str, books: Any) -> None:
    a, b = books("a"), books("b")
    a.ensure(NAMES[:4])
    held = {lease.integration: lease.token for lease in a.acquire(NAMES[:4], 4)}
    before = a.leases()
    expire(pg_url, "i01")  # expired: lost, even though nobody took it yet
    b.acquire(["i01"], 1)
    stale = dict(held, i02=held["i02"] + 5)  # a token that is not the lease's
    renewed = a.renew(stale)
    assert sorted(renewed) == ["i00", "i03"]
    for name in ("i00", "i03"):
        old, new = before[name].expires_at, renewed[name].expires_at
        assert old is not None and new is not None and new >= old and renewed[name].token == held[name]
    assert a.renew({}) == {}


def test_release_frees_only_what_is_held_with_that_token_and_the_token_counts_on(books: Any) -> None:
    a, b = books("a"), books("b")
    a.ensure(["crm", "erp"])
    held = {lease.integration: lease.token for lease in a.acquire(["crm", "erp"], 2)}
    b.release(held)  # not b's: nothing happens
    a.release({"erp": held["erp"] + 1})  # a wrong token: nothing happens
    assert {lease.daemon_id for lease in a.leases().values()} == {"a"}
    a.release({"crm": held["crm"]})
    assert a.leases()["crm"] == Lease("crm", None, None, None, held["crm"], None)
    [again] = b.acquire(["crm"], 1)
    assert again.token == held["crm"] + 1  # a token is never reused


def test_leave_frees_every_lease_of_the_daemon_and_its_member_row(books: Any) -> None:
    a, b = books("a"), books("b")
    a.heartbeat()
    b.heartbeat()
    a.ensure(NAMES[:3])
    a.acquire(NAMES[:2], 2)
    b.acquire(NAMES, 5)
    a.leave()
    leases = b.leases()
    assert [leases[name].daemon_id for name in NAMES[:3]] == [None, None, "b"]
    assert [member.daemon_id for member in b.heartbeat()] == ["b"]


def test_heartbeat_lists_live_members_oldest_first_and_forgets_long_dead_ones(pg_url: str, books: Any) -> None:
    a, b, c = books("a"), books("b"), books("c")
    assert [m.daemon_id for m in b.heartbeat()] == ["b"]
    a.heartbeat()
    members = c.heartbeat()
    assert [m.daemon_id for m in members] == ["b", "a", "c"]  # by started_at: a heartbeat keeps it
    assert [m.daemon_id for m in a.heartbeat()] == ["b", "a", "c"]
    first = members[0]
    assert isinstance(first, Member) and (first.host, first.pid) == ("host-b", b.pid)
    assert first.started_at.tzinfo is UTC and first.expires_at > first.started_at
    with psycopg.connect(pg_url, autocommit=True) as conn:
        # b expired just now: not live, its row kept; c expired two leases ago: forgotten
        conn.execute("UPDATE cluster_daemons SET expires_at = clock_timestamp() - interval '1 second'"
                     " WHERE daemon_id = 'b'")
        conn.execute("UPDATE cluster_daemons SET expires_at = clock_timestamp() - interval '61 seconds'"
                     " WHERE daemon_id = 'c'")
        assert [m.daemon_id for m in a.heartbeat()] == ["a"]
        rows = conn.execute("SELECT daemon_id FROM cluster_daemons ORDER BY daemon_id").fetchall()
    assert rows == [("a",), ("b",)]


def race(*books: LeaseBook, rounds: int = 6, limit: int = 2) -> dict[str, list[Lease]]:
    """Each book acquires from NAMES, *limit* at a time, *rounds* times, all books in threads of their
    own started together; what each took."""
    taken: dict[str, list[Lease]] = {book.daemon_id: [] for book in books}
    start = threading.Barrier(len(books))

    def run(book: LeaseBook) -> None:
        start.wait()
        for _ in range(rounds):
            taken[book.daemon_id] += book.acquire(NAMES, limit)

    threads = [threading.Thread(target=run, args=(book,)) for book in books]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return taken


def test_two_books_racing_from_two_threads_each_hold_a_lease_alone(pg_url: str, books: Any) -> None:
    a, b = books("a"), books("b")
    a.ensure(NAMES)
    taken = race(a, b)
    assert sorted(lease.integration for leases in taken.values() for lease in leases) == NAMES  # each once
    final = a.leases()
    for daemon_id, leases in taken.items():
        assert all(final[lease.integration].daemon_id == daemon_id for lease in leases)
    # Then the leases expire and each is taken over, again by exactly one book, with the next token.
    expire(pg_url, *NAMES)
    again = race(b, a)
    assert sorted(lease.integration for leases in again.values() for lease in leases) == NAMES
    assert all(lease.token == 2 for leases in again.values() for lease in leases)


def test_a_book_names_the_server_it_cannot_reach_with_the_password_masked() -> None:
    from pg_cluster import free_port

    url = f"postgresql://syncd:hunter2-secret@127.0.0.1:{free_port()}/nowhere"
    book = LeaseBook(url, daemon_id="a", host="h", pid=1, lease_seconds=10, timeout=1)
    with pytest.raises(StateError, match="cannot connect") as caught:
        book.heartbeat()
    assert "hunter2-secret" not in str(caught.value) and "syncd:***@127.0.0.1" in str(caught.value)
    book.close()
    with pytest.raises(StateError, match="closed"):
        book.leases()
    with pytest.raises(ValueError, match="lease_seconds"):
        LeaseBook(url, daemon_id="a", host="h", pid=1, lease_seconds=0)


def test_a_book_outlives_a_database_restart(pg_cluster: Cluster) -> None:
    url = pg_cluster.new_database()
    with LeaseBook(url, daemon_id="a", host="h", pid=1, lease_seconds=30, timeout=2) as a:
        a.heartbeat()
        a.ensure(["crm"])
        [held] = a.acquire(["crm"], 1)
        failures: list[StateError] = []

        def while_down() -> None:
            for _ in range(2):  # the connection the server closed, then one that cannot be made
                with pytest.raises(StateError) as caught:
                    a.renew({"crm": held.token})
                failures.append(caught.value)

        pg_cluster.restart(while_down)
        assert "connection lost while renewing leases" in str(failures[0]) or "cannot connect" in str(failures[0])
        assert "cannot connect" in str(failures[1]) and "check that the server runs" in str(failures[1])
        assert a.renew({"crm": held.token}).keys() == {"crm"}  # connected again, the lease still held
        assert [m.daemon_id for m in a.heartbeat()] == ["a"]


def test_a_server_that_stops_answering_is_a_state_error_not_a_hang(pg_url: str) -> None:
    """The server process of the book's connection is frozen (SIGSTOP: the kernel still acknowledges
    every packet, so neither TCP nor the statement timeout notices): the call gives up after its
    timeout, and once the server answers again the next call reconnects."""
    with LeaseBook(pg_url, daemon_id="a", host="h", pid=1, lease_seconds=30, timeout=1) as a:
        a.ensure(["crm"])
        [held] = a.acquire(["crm"], 1)
        with psycopg.connect(pg_url, autocommit=True) as conn:
            row = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = 'syncd-leases a'"
                               " AND datname = current_database()").fetchone()
        assert row is not None
        os.kill(row[0], signal.SIGSTOP)
        try:
            with pytest.raises(StateError, match="renewing leases: no answer within 1 s.*the next call reconnects"):
                a.renew({"crm": held.token})
        finally:
            os.kill(row[0], signal.SIGCONT)
        assert a.renew({"crm": held.token}).keys() == {"crm"}
