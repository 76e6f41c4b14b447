"""What only the PostgreSQL store does: its schema migrations (one at a time
when several daemons start together), the messages of a server it cannot
reach (the password never shown), a connection the server dropped.

The contract every store keeps is tested in ``test_contract.py``, against
this store too. The server is a real throwaway cluster (``tests/pg_cluster.py``).
"""

from __future__ import annotations

import threading

import psycopg
import pytest
from pg_cluster import PASSWORD, PASSWORD_USER, Cluster, free_port

from syncd.state import (
    Intent,
    LeaseBook,
    SQLiteStore,
    StateError,
    StateStore,
    StateUnreachable,
    StateVersionError,
    open_state,
)
from syncd.state._pg_errors import cannot_connect
from syncd.state._pg_migrations import MIGRATIONS, SCHEMA_VERSION, migrate
from syncd.state._postgres import PostgresStore


def _version(url: str) -> list[tuple[int]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT version FROM syncd_schema_version").fetchall()


def test_open_state_chooses_the_store_by_its_target(pg_url: str, tmp_path) -> None:
    with open_state(pg_url) as store:
        assert isinstance(store, PostgresStore) and isinstance(store, StateStore)
    with open_state(tmp_path / "state.db") as local, open_state(str(tmp_path / "other.db")) as other:
        assert isinstance(local, SQLiteStore) and isinstance(other, SQLiteStore)


def open_together(url: str, daemons: int = 6) -> list[StateStore]:
    """Open the store at *url* from *daemons* threads at the same moment (as daemons started together
    would); the stores, all of them opened (else the first failure is raised)."""
    start = threading.Barrier(daemons)
    stores: list[StateStore] = []
    failures: list[BaseException] = []

    def open_one() -> None:
        start.wait()
        try:
            stores.append(open_state(url))
        except BaseException as exc:  # noqa: BLE001 - reported below, with the others
            failures.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(daemons)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        for store in stores:
            store.close()
        raise failures[0]
    assert len(stores) == daemons
    return stores


def test_an_empty_database_gets_the_schema_once_when_daemons_open_it_together(pg_cluster: Cluster) -> None:
    url = pg_cluster.new_database(template="template0")  # empty: no syncd tables yet
    stores = open_together(url)
    try:
        assert _version(url) == [(SCHEMA_VERSION,)]
        with stores[0].transaction("crm") as t:
            t.set_disabled(None)
        assert [s.integrations() for s in stores] == [["crm"]] * 6  # one schema, seen by all
    finally:
        for store in stores:
            store.close()
    with open_state(url) as again:  # up to date: opened without migrating
        assert again.integrations() == ["crm"]
    assert _version(url) == [(SCHEMA_VERSION,)]


def test_migration_2_on_a_version_1_database_applies_once_when_six_daemons_open_it(pg_cluster: Cluster) -> None:
    url = pg_cluster.new_database(template="template0")
    with psycopg.connect(url, autocommit=True) as conn:  # what the last release made: migration 1 only
        assert migrate(conn, "test", MIGRATIONS[:1]) == 1
        conn.execute("INSERT INTO integrations (name) VALUES ('crm')")
        conn.execute("INSERT INTO links (integration, left_id, right_id) VALUES ('crm', 'l1', 'r1')")
    stores = open_together(url)
    try:
        assert [s.linked("crm", "left", ["l1"]) for s in stores] == [{"l1": "r1"}] * 6  # the data kept
        assert [s.leases() for s in stores] == [{}] * 6  # the new tables, empty
    finally:
        for store in stores:
            store.close()
    assert _version(url) == [(SCHEMA_VERSION,)]  # 2 and every later step (3: the shared tables)
    with LeaseBook(url, daemon_id="a", host="h", pid=1, lease_seconds=10) as a:
        a.ensure(["crm"])
        assert [lease.token for lease in a.acquire(["crm"], 1)] == [1]


def test_a_schema_from_a_newer_syncd_is_refused(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE syncd_schema_version SET version = %s", (SCHEMA_VERSION + 1,))
    with pytest.raises(StateVersionError, match=f"newer syncd \\(schema {SCHEMA_VERSION + 1}, this syncd knows "
                                                 f"{SCHEMA_VERSION}\\): upgrade syncd"):
        open_state(pg_url)


def test_a_server_nobody_listens_on_is_named_with_the_password_masked() -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://syncd:{PASSWORD}@127.0.0.1:{port}/syncd"
    with pytest.raises(StateError) as caught:
        open_state(url)
    message = str(caught.value)
    assert message.startswith(f"state store postgresql://syncd:***@127.0.0.1:{port}/syncd: cannot connect: ")
    assert "Connection refused" in message and PASSWORD not in message
    assert caught.value.path == f"postgresql://syncd:***@127.0.0.1:{port}/syncd"
    assert isinstance(caught.value, StateUnreachable)  # worth waiting for: the daemon does


def test_a_server_that_refuses_syncd_is_not_unreachable_and_not_now_is(pg_cluster: Cluster) -> None:
    """What the daemon waits for at start (StateUnreachable) and what it exits on."""
    for url in (pg_cluster.url("no_such_database"), pg_cluster.url("postgres", user=PASSWORD_USER, password="no")):
        with pytest.raises(StateError) as caught:
            open_state(url)
        assert not isinstance(caught.value, StateUnreachable), caught.value
    for answer in ("FATAL:  the database system is starting up", "FATAL:  sorry, too many clients already",
                   "failed to resolve host 'db.example.com': [Errno -3] Temporary failure in name resolution"):
        error = cannot_connect("postgresql://syncd@db/syncd", psycopg.OperationalError(
            f'connection failed: connection to server at "10.0.0.5", port 5432 failed: {answer}'))
        assert isinstance(error, StateUnreachable), answer


def test_a_wrong_password_is_the_reason_and_is_never_shown(pg_cluster: Cluster) -> None:
    wrong = "not-" + PASSWORD
    url = pg_cluster.url("postgres", user=PASSWORD_USER, password=wrong)
    with pytest.raises(StateError, match=f'password authentication failed for user "{PASSWORD_USER}"') as caught:
        open_state(url)
    assert wrong not in str(caught.value) and PASSWORD not in str(caught.value)
    assert f"postgresql://{PASSWORD_USER}:***@127.0.0.1:{pg_cluster.port}/postgres" in str(caught.value)


def test_the_right_password_in_a_parameter_opens_the_store(pg_cluster: Cluster) -> None:
    with pg_cluster.admin() as conn:
        conn.execute(f'CREATE DATABASE guarded_db OWNER "{PASSWORD_USER}" TEMPLATE template0')
    url = f"postgresql://{PASSWORD_USER}@127.0.0.1:{pg_cluster.port}/guarded_db?password={PASSWORD}"
    with open_state(url) as store:  # the user owns the database: it may create syncd's tables
        assert store.integrations() == []
        assert PASSWORD not in store.path and store.path.endswith("guarded_db?password=***")


def test_a_connection_the_server_dropped_fails_one_call_then_the_store_reconnects(
        pg_url: str, pg_cluster: Cluster) -> None:
    database = pg_url.rsplit("/", 1)[1]
    with open_state(pg_url) as store:
        with store.transaction("crm") as t:
            t.set_disabled(None)
        assert store.integrations() == ["crm"]
        with pg_cluster.admin() as admin:  # what a server restart does to the store's connections
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,))
        with pytest.raises(StateError, match="state store postgresql://.*: (connection lost while )?listing"):
            store.integrations()
        assert store.integrations() == ["crm"]  # the pool dropped the dead connection and made a new one
        with store.transaction("crm") as t:
            t.set_disabled(None)


def test_an_intent_of_a_version_3_database_is_kept_and_a_new_one_keeps_its_source(pg_cluster: Cluster) -> None:
    url = pg_cluster.new_database(template="template0")
    with psycopg.connect(url, autocommit=True) as conn:
        assert migrate(conn, "test", MIGRATIONS[:3]) == 3
        conn.execute("INSERT INTO integrations (name) VALUES ('crm')")
        conn.execute("INSERT INTO intents (integration, side, kind, source_id, match_key, fields, created_at)"
                     " VALUES ('crm', 'left', 'create', 'R1', 'a@x.io', '{\"email\":\"a@x.io\"}', now())")
    with open_state(url) as store:
        [old] = store.open_intents("crm")
        assert (old.source_id, old.fields, old.source_seen) == ("R1", {"email": "a@x.io"}, None)
        with store.transaction("crm") as t:
            t.add_intents([Intent(side="left", kind="create", source_id="R2", fields={"email": "b@x.io"},
                                  source_seen={"email": "b@x.io", "name": "B"})])
            t.add_intent(Intent(side="left", kind="create", source_id="R3", fields={}, source_seen={"n": 1}))
        assert [i.source_seen for i in store.open_intents("crm")] == [None, {"email": "b@x.io", "name": "B"},
                                                                      {"n": 1}]
    assert _version(url) == [(SCHEMA_VERSION,)]
