"""The state store's disk fills up under a running daemon, in the middle of
an initial sync: a batch of creates has reached the app, and its links
cannot be committed.

A crash (the soak's kill -9) wipes what the process believed; a commit that
fails leaves the process running on, with what it had in memory. Checked
here: the daemon neither dies nor reports success, and once the disk has
room again it syncs what changed meanwhile, creates no contact twice and
loses no change, and the store passes SQLite's integrity check. The
store's errors are logged without a traceback (the message says it all),
and the writes it could not record are named as such, not as a crash's.
"""

from __future__ import annotations

import resource
import sqlite3
import time

from e2e_support import duplicates, emails


def test_a_full_disk_under_the_state_store_loses_and_duplicates_nothing(pair, daemon) -> None:
    p = pair(left_n=450)
    p.write(extra="schedule: every 1 second\n")
    # The third batch of creates waits inside the app, so the disk fills while it is in flight.
    held = p.right.faults.add(hold=True, skip=2, method="POST", path_prefix="/contacts/batch/create")
    d = daemon(p)
    p.right.faults.wait_hit(held, timeout=30)
    db = p.config / "state" / "syncd.db"
    wal = db.with_name("syncd.db-wal")
    # The daemon's files can grow no more (RLIMIT_FSIZE on it: EFBIG, what ENOSPC is to SQLite).
    full_at = wal.stat().st_size
    resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE, (full_at, resource.RLIM_INFINITY))
    held.release()

    # While it is full: changes on both sides; the daemon fails its cycles, and lives.
    d.wait_until(lambda: d.integration("pair")["last_result"] == "failed", timeout=30, what="a failed cycle")
    left = p.left.store.all()
    for i in range(10):
        p.left.store.create({"email": f"while-full-{i}@example.com", "first_name": "Full"})
    p.left.store.update(left[0]["id"], first_name="Renamed-while-full")
    time.sleep(3)
    entry = d.integration("pair")
    assert d.proc.poll() is None
    assert entry["last_result"] == "failed" and "I/O error" in entry["last_error"], entry

    resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    d.wait_until(lambda: emails(p.left) == emails(p.right), timeout=60, what="both sides in step")
    d.wait_until(lambda: d.integration("pair")["last_result"] == "ok", timeout=30, what="a cycle ok")
    renamed = [c for c in p.right.store.all() if c["email"] == left[0]["email"]]
    assert [c["first_name"] for c in renamed] == ["Renamed-while-full"]
    assert d.stop() == 0
    failed = d.named("cycle failed")
    assert failed and all("I/O error while committing" in e["error"] for e in failed), failed
    not_recorded = d.named("could not record the cycle's outcome")  # (its cycle failed: said there)
    assert not_recorded and all("exception" not in e and "I/O error" in e["error"] for e in not_recorded)
    # a store's error is its message: no traceback anywhere in the log
    assert [e for e in d.events() if "StateError" in e.get("exception", "")] == []
    # The batch in flight when the disk filled (its answer not committed) was looked up, not sent again.
    [cut] = [e for e in d.events() if e["event"].startswith("writes cut short")]
    assert cut["count"] >= 100, cut
    assert duplicates(p.right) == [] and duplicates(p.left) == []
    assert len(p.right.store.all()) == 460
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("SELECT count(*) FROM intents").fetchone() == (0,)  # every write resolved
