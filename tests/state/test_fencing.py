"""Fencing: a store transaction commits only while its daemon still holds the integration's lease
with the token it acquired (``store.require_fences`` / ``store.fence``), on a real PostgreSQL.

Whether something was committed is checked by reading the rows back on
another connection, never by trusting the store.
"""

from __future__ import annotations

import threading

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from pg_cluster import PASSWORD, PASSWORD_USER, Cluster
from syncd.state import (
    Fence,
    Lease,
    LeaseBook,
    LeaseLost,
    SideState,
    StateError,
    StateStore,
    copy_state,
    open_state,
    open_store,
)
from syncd.state._postgres import PostgresStore


@pytest.fixture
def store(pg_url: str) -> Iterator[PostgresStore]:
    with open_state(pg_url) as store:
        assert isinstance(store, PostgresStore)
        yield store


def book(url: str, daemon_id: str, lease_seconds: float = 30.0) -> LeaseBook:
    return LeaseBook(url, daemon_id=daemon_id, host=f"host-{daemon_id}", pid=4000, lease_seconds=lease_seconds)


def take(store: StateStore, leases: LeaseBook, name: str) -> Lease:
    """*leases*' daemon acquires *name* and sets the fence on *store*."""
    leases.ensure([name])
    [lease] = leases.acquire([name], 1)
    assert lease.daemon_id is not None
    store.require_fences(lease.daemon_id)
    store.fence(name, Fence(lease.daemon_id, lease.token))
    return lease


def written(url: str, name: str) -> list[tuple[Any, ...]]:
    """The links of integration *name*, read on a connection of its own: what was committed."""
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT left_id, right_id FROM links WHERE integration = %s ORDER BY left_id",
                            (name,)).fetchall()


def expire(url: str, name: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE leases SET expires_at = clock_timestamp() - interval '1 second' WHERE integration = %s",
                     (name,))


def test_a_transaction_with_its_lease_held_commits(pg_url: str, store: PostgresStore) -> None:
    with book(pg_url, "a") as a:
        take(store, a, "crm")
        with store.transaction("crm") as t:
            t.link("l1", "r1")
    assert written(pg_url, "crm") == [("l1", "r1")]


def test_without_a_fence_a_transaction_is_refused_at_its_start(pg_url: str, store: PostgresStore) -> None:
    with book(pg_url, "a") as a, book(pg_url, "b") as b:
        take(store, a, "crm")
        b.ensure(["erp"])
        [held] = b.acquire(["erp"], 1)
        with pytest.raises(LeaseLost) as caught:
            with store.transaction("erp") as t:
                t.link("l1", "r1")
        message = str(caught.value)
        assert message.startswith("the lease of erp is not held by daemon a: no transaction was begun")
        assert f"daemon b (host host-b, pid 4000) holds it now with token {held.token}" in message
        assert written(pg_url, "erp") == []
        assert store._session.active is None  # nothing begun, nothing left open
        with store.transaction("crm") as t:  # the store goes on
            t.link("l2", "r2")
    assert written(pg_url, "crm") == [("l2", "r2")]


def test_a_transaction_whose_lease_was_taken_over_commits_nothing(pg_url: str, store: PostgresStore) -> None:
    with book(pg_url, "a") as a, book(pg_url, "b") as b:
        mine = take(store, a, "crm")
        with pytest.raises(LeaseLost) as caught:
            with store.transaction("crm") as t:
                t.link("l1", "r1")
                t.set_side_state("left", SideState(generation=3))
                expire(pg_url, "crm")  # a paused here; b takes over
                [theirs] = b.acquire(["crm"], 1)
        assert theirs.token == mine.token + 1
        message = str(caught.value)
        assert message.startswith(f"the lease of crm was lost (token {mine.token}): nothing of this transaction "
                                  "was committed (daemon b (host host-b, pid 4000) holds it now with token "
                                  f"{theirs.token}; state store postgresql://")
    assert written(pg_url, "crm") == []
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM side_states").fetchone() == (0,)


def test_a_transaction_whose_lease_only_expired_commits_nothing(pg_url: str, store: PostgresStore) -> None:
    with book(pg_url, "a") as a:
        mine = take(store, a, "crm")
        with pytest.raises(LeaseLost, match=f"lost \\(token {mine.token}\\).*daemon a \\(host host-a, pid 4000\\) "
                                            "held it until it expired"):
            with store.transaction("crm") as t:
                t.link("l1", "r1")
                expire(pg_url, "crm")  # nobody took it, but a's time is up
    assert written(pg_url, "crm") == []


def test_a_fence_cleared_or_replaced_during_the_block_commits_nothing(pg_url: str, store: PostgresStore) -> None:
    with book(pg_url, "a") as a:
        mine = take(store, a, "crm")
        with pytest.raises(LeaseLost, match="was lost"):
            with store.transaction("crm") as t:
                t.link("l1", "r1")
                store.fence("crm", None)  # the lease manager saw it lost
        a.release({"crm": mine.token})
        again = take(store, a, "crm")
        with pytest.raises(LeaseLost, match=f"token {again.token}\\)"):
            with store.transaction("crm") as t:
                t.link("l1", "r1")
                a.release({"crm": again.token})  # lost and taken again: the block began under the older token
                take(store, a, "crm")
    assert written(pg_url, "crm") == []


def test_an_exception_in_the_block_still_rolls_back_and_propagates(pg_url: str, store: PostgresStore) -> None:
    with book(pg_url, "a") as a:
        take(store, a, "crm")
        with pytest.raises(RuntimeError, match="boom"):
            with store.transaction("crm") as t:
                t.link("l1", "r1")
                raise RuntimeError("boom")
    assert written(pg_url, "crm") == []


def test_no_fences_required_no_check(pg_url: str, store: PostgresStore) -> None:
    assert store.leases() == {}
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP TABLE leases")  # a transaction that read it would fail
    with store.transaction("crm") as t:  # no fences required: not one statement more
        t.link("l1", "r1")
    assert written(pg_url, "crm") == [("l1", "r1")]


def test_the_store_reads_every_lease_for_status(pg_url: str, store: PostgresStore) -> None:
    with book(pg_url, "a") as a:
        lease = take(store, a, "crm")
        a.ensure(["erp"])
        assert store.leases() == {"crm": lease, "erp": Lease("erp", None, None, None, 0, None)}


def test_a_sqlite_store_accepts_fences_and_ignores_them(tmp_path: Any) -> None:
    with open_store(tmp_path / "state.db") as store:
        store.require_fences("a")
        store.fence("crm", Fence("a", 1))
        store.fence("crm", None)
        with store.transaction("erp") as t:  # no fence for erp: one daemon per file, nothing to check
            t.link("l1", "r1")
        assert store.linked("erp", "left", ["l1"]) == {"l1": "r1"}
        assert store.leases() == {}


def test_a_commit_in_flight_is_strictly_before_a_takeover(pg_url: str, store: PostgresStore) -> None:
    """The fence check locks the lease FOR SHARE until COMMIT: an acquire meanwhile skips the row
    (SKIP LOCKED) rather than take it, so the commit is never after a takeover."""
    with book(pg_url, "a") as a, book(pg_url, "b") as b:
        take(store, a, "crm")
        expire(pg_url, "crm")
        # a's fence check would now fail; instead show the ordering with a held lock: a second connection
        # takes the same FOR SHARE lock the check takes, and holds it as a commit in flight would.
        with psycopg.connect(pg_url) as conn:
            conn.execute("SELECT 1 FROM leases WHERE integration = 'crm' FOR SHARE")
            assert b.acquire(["crm"], 1) == []  # skipped, not taken: the commit goes first
            conn.rollback()
        [taken] = b.acquire(["crm"], 1)
        assert taken.daemon_id == "b"


def test_a_takeover_in_flight_leaves_the_commit_nothing(pg_url: str, store: PostgresStore) -> None:
    """The other order: b's acquire holds the row (its UPDATE not yet committed) when a's commit checks
    its fence. b could take the lease only because it had expired by the database's clock, which only
    runs on: a's check finds it expired too, without waiting for b, and a commits nothing."""
    with book(pg_url, "a") as a:
        mine = take(store, a, "crm")
        expire(pg_url, "crm")
        with psycopg.connect(pg_url) as taker:
            taker.execute("UPDATE leases SET daemon_id = 'b', host = 'host-b', pid = 4000, token = token + 1,"
                          " expires_at = clock_timestamp() + interval '30 seconds' WHERE integration = 'crm'")
            with pytest.raises(LeaseLost, match=f"lost \\(token {mine.token}\\)"):
                with store.transaction("crm") as t:
                    t.link("l1", "r1")
            taker.commit()
    assert written(pg_url, "crm") == []


def test_a_lost_connection_inside_the_block_is_a_state_error_not_a_commit(
        pg_url: str, store: PostgresStore, pg_cluster: Cluster) -> None:
    with book(pg_url, "a") as a:
        take(store, a, "crm")
        with pytest.raises(StateError):
            with store.transaction("crm") as t:
                t.link("l1", "r1")
                with pg_cluster.admin() as admin:
                    admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
                                  " AND application_name NOT LIKE 'syncd-leases%%'", (pg_url.rsplit("/", 1)[1],))
    assert written(pg_url, "crm") == []


def test_reset_leaves_the_lease_alone(pg_url: str, store: PostgresStore) -> None:
    with book(pg_url, "a") as a:
        lease = take(store, a, "crm")
        with store.transaction("crm") as t:
            t.link("l1", "r1")
        with store.transaction("crm") as t:
            t.reset()
        assert written(pg_url, "crm") == [] and store.leases() == {"crm": lease}


def test_state_copy_leaves_the_cluster_tables_out(pg_cluster: Cluster, pg_url: str, store: PostgresStore,
                                                  tmp_path: Any) -> None:
    with book(pg_url, "a") as a:
        a.heartbeat()
        take(store, a, "crm")
        with store.transaction("crm") as t:
            t.link("l1", "r1")
        target_url = pg_cluster.new_database()
        with open_state(target_url) as target:
            copied = copy_state(store, target)
            assert "leases" not in copied and "cluster_daemons" not in copied and copied["links"] == 1
            assert target.leases() == {} and target.linked("crm", "left", ["l1"]) == {"l1": "r1"}
        with open_store(tmp_path / "copy.db") as local:  # and to SQLite, which has no such tables
            copy_state(store, local)
            assert local.linked("crm", "left", ["l1"]) == {"l1": "r1"}
    with psycopg.connect(target_url, autocommit=True) as conn:
        assert conn.execute("SELECT (SELECT count(*) FROM leases) + (SELECT count(*) FROM cluster_daemons)"
                            ).fetchone() == (0,)


def test_a_lost_lease_message_masks_the_password(pg_cluster: Cluster) -> None:
    with pg_cluster.admin() as conn:
        conn.execute(f'CREATE DATABASE fenced_db OWNER "{PASSWORD_USER}" TEMPLATE template0')
    url = pg_cluster.url("fenced_db", user=PASSWORD_USER, password=PASSWORD)
    with open_state(url) as store, book(url, "a") as a:
        mine = take(store, a, "crm")
        with pytest.raises(LeaseLost) as caught:
            with store.transaction("crm") as t:
                t.link("l1", "r1")
                expire(url, "crm")
    message = str(caught.value)
    assert PASSWORD not in message and f"token {mine.token}" in message
    assert message.endswith(f"state store postgresql://{PASSWORD_USER}:***@127.0.0.1:{pg_cluster.port}/fenced_db)")


def test_fences_outlive_a_database_restart(pg_cluster: Cluster) -> None:
    url = pg_cluster.new_database()
    with open_state(url) as store, book(url, "a") as a:
        mine = take(store, a, "crm")
        pg_cluster.restart()
        with pytest.raises(StateError):  # the store's connection died with the server
            with store.transaction("crm") as t:
                t.link("l1", "r1")
        with pytest.raises(StateError):  # so did the book's
            a.renew({"crm": mine.token})
        assert a.renew({"crm": mine.token}).keys() == {"crm"}
        with store.transaction("crm") as t:
            t.link("l1", "r1")
        assert written(url, "crm") == [("l1", "r1")]


def test_a_commit_that_passed_its_check_ends_before_any_takeover(pg_url: str, store: PostgresStore) -> None:
    """A real commit held at COMMIT (a deferred trigger waits for a lock the test holds) after its
    fence check passed: the lease expires meanwhile, yet another book's acquire skips the row until
    the commit ended; only then is the lease taken over. The commit is strictly before the takeover."""
    with psycopg.connect(pg_url, autocommit=True) as gate:
        gate.execute("CREATE FUNCTION gate() RETURNS trigger LANGUAGE plpgsql AS"
                     " $$ BEGIN PERFORM pg_advisory_lock(7); PERFORM pg_advisory_unlock(7); RETURN NULL; END $$")
        gate.execute("CREATE CONSTRAINT TRIGGER gate AFTER INSERT ON links DEFERRABLE INITIALLY DEFERRED"
                     " FOR EACH ROW EXECUTE FUNCTION gate()")
        gate.execute("SELECT pg_advisory_lock(7)")
        with book(pg_url, "a", lease_seconds=4) as a, book(pg_url, "b") as b:
            mine = take(store, a, "crm")
            result: list[BaseException | None] = []

            def commit() -> None:
                try:
                    with store.transaction("crm") as t:
                        t.link("l1", "r1")
                    result.append(None)
                except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
                    result.append(exc)

            thread = threading.Thread(target=commit)
            thread.start()
            try:
                wait_until_blocked(pg_url)  # in COMMIT, the lease row locked FOR SHARE by the check
                gate.execute("SELECT pg_sleep(extract(epoch FROM expires_at - clock_timestamp()) + 0.1)"
                             " FROM leases WHERE integration = 'crm'")  # until expired, by the database's clock
                assert b.acquire(["crm"], 1) == []  # expired, but skipped: a's commit is not over
            finally:
                gate.execute("SELECT pg_advisory_unlock(7)")
                thread.join()
            assert result == [None]
            [taken] = b.acquire(["crm"], 1)
            assert (taken.daemon_id, taken.token) == ("b", mine.token + 1)
    assert written(pg_url, "crm") == [("l1", "r1")]


def wait_until_blocked(url: str) -> None:
    """Until a backend of the database waits for a lock, as PostgreSQL reports it."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """DO $$ BEGIN
                 FOR i IN 1..6000 LOOP
                   PERFORM pg_stat_clear_snapshot();  -- else the view is read once per transaction
                   EXIT WHEN EXISTS (SELECT 1 FROM pg_stat_activity
                                     WHERE datname = current_database() AND wait_event_type = 'Lock');
                   PERFORM pg_sleep(0.01);
                 END LOOP;
               END $$""")
        assert conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                            " AND wait_event_type = 'Lock'").fetchone() == (1,)
