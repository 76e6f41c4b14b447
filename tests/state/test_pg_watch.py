"""A daemon's PostgreSQL store (``open_state(url, answer_within=S)``, the
daemon's ``state.timeout``) against a server that hangs: the call gives up
after S seconds, the store asks nothing more (each call fails at once with
the reason) until a fresh connection answers, and then it works again by
itself. The server is the test process's throwaway cluster
(``tests/pg_cluster.py``), frozen whole with SIGSTOP: the kernel still
accepts connections and acknowledges packets, so neither TCP nor the
server's own timeouts notice; only the client's watch does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import psycopg
import pytest
import structlog
from pg_cluster import Cluster

from syncd.state import Snapshot, StateError, StateStore, open_state

T = TypeVar("T")

SILENT = r"state store postgresql://\S+: not asked: no answer within 2 s at \d\d:\d\d:\d\d UTC: the server or the " \
         r"network is stuck; not asked again until a fresh connection answers \(tried each second\)"


def _snap(record_id: str) -> Snapshot:
    return Snapshot("left", record_id, {"email": f"{record_id}@example.com"}, match_key=f"{record_id}@example.com")


def _answers_again(call: Callable[[], T], within: float = 15.0) -> tuple[T, float]:
    """*call*'s result once it stops failing with a StateError, and the seconds that took."""
    start = time.monotonic()
    while True:
        try:
            return call(), time.monotonic() - start
        except StateError:
            if time.monotonic() - start > within:
                raise
            time.sleep(0.1)


def _stored(store: StateStore, *ids: str) -> set[str]:
    return set(store.snapshots("crm", "left", list(ids)))


def test_a_server_that_hangs_fails_the_call_in_time_then_every_call_at_once_until_it_answers(
        pg_url: str, pg_cluster: Cluster) -> None:
    with open_state(pg_url, answer_within=2) as store:
        with store.transaction("crm") as t:
            t.put_snapshots([_snap("a")])
        with pg_cluster.frozen():
            start = time.monotonic()
            with pytest.raises(StateError, match=r"reading snapshots: no answer within 2 s at .* UTC: the server "
                                                 r"or the network is stuck; not asked again until a fresh"):
                _stored(store, "a")
            waited = time.monotonic() - start
            assert 2.0 <= waited < 5, waited  # the deadline, plus the watch's tick; not for ever

            for attempt in range(3):  # the probe's fresh connections hang too: silent throughout
                start = time.monotonic()
                with pytest.raises(StateError, match=SILENT):
                    with store.transaction("crm") as t:
                        t.put_snapshots([_snap("b")])
                with pytest.raises(StateError, match=SILENT):
                    store.integrations()
                assert time.monotonic() - start < 1.0  # at once (not the 2 s): the event loop is not held again
                time.sleep(0.7)
        found, took = _answers_again(lambda: _stored(store, "a", "b"))
        assert found == {"a"}  # the refused transaction wrote nothing
        assert took < 8, took  # the first probe after the thaw, a second or so
        with store.transaction("crm") as t:  # writes again, on connections made after the thaw
            t.put_snapshots([_snap("b")])
        assert _stored(store, "a", "b") == {"a", "b"}


def test_a_transaction_cut_in_its_block_commits_nothing(pg_url: str, pg_cluster: Cluster) -> None:
    with open_state(pg_url, answer_within=1) as store:
        with pytest.raises(StateError, match="writing snapshots: no answer within 1 s"):
            with store.transaction("crm") as t:
                t.put_snapshots([_snap("a")])  # answered
                with pg_cluster.frozen():
                    t.put_snapshots([_snap("b")])  # never answered: cut
        assert _answers_again(lambda: _stored(store, "a", "b"))[0] == set()


def test_a_server_that_refuses_fails_a_call_after_the_pool_timeout_then_at_once(
        pg_url: str, pg_cluster: Cluster) -> None:
    """A stopped server refuses connections: the pool waits its timeout for one (it keeps trying),
    once; then the store is silent until the server is back, and reconnects by itself."""
    with open_state(pg_url, answer_within=2) as store:
        with store.transaction("crm") as t:
            t.put_snapshots([_snap("a")])
        timings: list[float] = []

        def while_down() -> None:
            for _ in range(3):
                start = time.monotonic()
                with pytest.raises(StateError):
                    store.integrations()
                timings.append(time.monotonic() - start)
            with pytest.raises(StateError, match="not asked: no connection within 2 s"):
                store.integrations()

        pg_cluster.restart(while_down)
        # the idle connection the server closed fails at once; the next waits the pool's 2 s for a
        # new one; the third is not asked
        assert timings[0] < 1.0 and 1.9 <= timings[1] < 5 and timings[2] < 1.0, timings
        assert _answers_again(store.integrations)[0] == ["crm"]


def test_a_slow_analyse_on_a_healthy_server_is_given_up_by_the_server_not_taken_for_a_hang(
        pg_url: str) -> None:
    """The snapshots' ANALYZE after a growth (``_PgSession.grew``) on a large table may take
    longer than the watch allows; it gets half of it, server-side, and failing it only costs
    the statistics: the store goes on answering, never silent for a server that is fine."""
    with open_state(pg_url, answer_within=2) as store:
        with store.transaction("crm") as t:
            t.put_snapshots([_snap("first")])
        with psycopg.connect(pg_url, autocommit=True) as conn:
            # An index whose expression sleeps under ANALYZE only (which evaluates it for each
            # sampled row): 1,000 rows, 10 s; a write evaluates it too, without the sleep.
            conn.execute("""
                CREATE FUNCTION slow_under_analyse(t text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
                BEGIN
                    IF current_query() ILIKE 'analyze%' THEN PERFORM pg_sleep(0.01); END IF;
                    RETURN t;
                END $$""")
            conn.execute("CREATE INDEX snapshots_slow ON snapshots (slow_under_analyse(record_id))")
        with structlog.testing.capture_logs() as logs:
            start = time.monotonic()
            with store.transaction("crm") as t:  # 1,000 snapshots put: the first ANALYZE is due
                t.put_snapshots([_snap(f"r{i}") for i in range(1_000)])
            took = time.monotonic() - start
        [warned] = [e for e in logs if e["event"].startswith("could not analyse the snapshots table")]
        assert "statement timeout" in warned["error"], warned
        assert 1.0 <= took < 2.0, took  # the server's half of the watch, not the watch's cut
        start = time.monotonic()
        assert _stored(store, "first", "r0", "r999") == {"first", "r0", "r999"}  # committed, and not silent
        assert time.monotonic() - start < 1.0
