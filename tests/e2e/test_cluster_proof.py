"""The proof the cluster e2e tests make (``cluster_support.violations``)
is not vacuous: over real lease rows (two LeaseBooks on a database of the
test's own, the history kept by the test's triggers), a write inside its
daemon's hold passes, one after the hold ended, or one going back to an
older token, is found."""

from __future__ import annotations

import time

import psycopg
from cluster_support import Change, Write, install_history, read_changes, read_tenures, violations

from syncd.state import LeaseBook

LABELS = {111: "a", 222: "b"}


def _write(at: float, daemon: str) -> Write:
    return Write(at, "x", daemon, "POST", "/contacts", 201, {})


def test_a_write_outside_its_daemons_lease_is_found(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        install_history(conn)
    with (LeaseBook(pg_url, daemon_id="a-1", host="a", pid=111, lease_seconds=0.5) as a,
          LeaseBook(pg_url, daemon_id="b-1", host="b", pid=222, lease_seconds=0.5) as b):
        a.heartbeat(), b.heartbeat()
        a.ensure(["x"])
        [first] = a.acquire(["x"], 1)
        by_a = time.time()
        a.renew({"x": first.token})
        time.sleep(0.7)  # a's lease expires: b takes it
        [second] = b.acquire(["x"], 1)
        assert second.token == first.token + 1
        by_b = time.time()
        b.release({"x": second.token})
        after = time.time()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        tenures = read_tenures(conn)
        assert [(t.pid, t.token) for t in tenures] == [(111, first.token), (222, second.token)]
        assert tenures[0].end < tenures[1].start  # expired, then taken
        assert tenures[1].released is not None  # freed
        assert read_changes(conn) == []

    assert violations([_write(by_a, "a"), _write(by_b, "b")], [], tenures, LABELS.get) == []
    late = violations([_write(by_a, "a"), _write(by_b, "b"), _write(by_b + 0.01, "a")], [], tenures, LABELS.get)
    assert len(late) == 2 and "after its lease" in late[0] and "token 1 after a write with token 2" in late[1]
    assert "never held" in violations([_write(by_a, "b")], [], tenures, LABELS.get)[0]
    assert "after its lease" in violations([_write(after + 0.01, "b")], [], tenures, LABELS.get)[0]
    assert "after its lease" in violations([], [Change(by_b + 0.01, "cycles", "x", "a")], tenures, LABELS.get)[0]
