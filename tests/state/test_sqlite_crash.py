"""kill -9 at any instant leaves every committed transaction and nothing else (principle 3).

A child process writes through the real store and is killed with SIGKILL:
in the middle of one big transaction, or at arbitrary moments of a stream
of small ones (during commits and WAL checkpoints too). The file must then
open (quick_check passes) with exactly the committed state.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from syncd.state import Intent, SideState, Snapshot, open_store

BIG_TRANSACTION = textwrap.dedent("""
    import os, signal, sys
    from syncd.state import Intent, SideState, Snapshot, open_store

    path = sys.argv[1]
    store = open_store(path)
    with store.transaction("crm") as t:
        t.put_snapshots(
            Snapshot("left", f"new{i:06d}", {"i": i, "note": "x" * 400}, match_key=f"m{i}", dirty=True)
            for i in range(50_000)
        )
        t.put_snapshots([Snapshot("left", "base0000", {"changed": True}, dirty=True)])
        t.set_side_state("left", SideState(generation=2))
        t.link("base0000", "R-new")
        t.add_intent(Intent("right", "create", "new000001", {"email": "x"}))
        print(os.path.getsize(path + "-wal"), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
""")

STREAM = textwrap.dedent("""
    import sys
    from syncd.state import SideState, Snapshot, open_store

    store = open_store(sys.argv[1])
    first = n = store.side_state("crm", "left").generation
    while True:
        n += 1
        with store.transaction("crm") as t:
            t.put_snapshots(
                Snapshot("left", f"g{n:05d}-{i:03d}", {"n": n, "pad": "x" * 300}) for i in range(200)
            )
            t.set_side_state("left", SideState(generation=n))
            t.link(f"g{n:05d}-000", f"R{n}")
        if n == first + 3:
            print("running", flush=True)
""")


def _run_killed(script: str, path: Path, delay: float | None = None) -> str:
    child = subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if delay is not None:
            # Not synchronisation: the child is past "running" (the line read
            # above); the delay only picks the arbitrary instant of the kill.
            time.sleep(delay)
            child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL
        return line
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()


def test_kill_inside_a_big_transaction_keeps_the_committed_state(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with open_store(path) as store, store.transaction("crm") as t:
        t.put_snapshots(Snapshot("left", f"base{i:04d}", {"i": i}) for i in range(1000))
        t.set_side_state("left", SideState(generation=1))
        t.link("base0000", "R-old")

    wal_size = int(_run_killed(BIG_TRANSACTION, path))
    assert wal_size > 4_000_000  # the uncommitted pages had spilled into the WAL file on disk

    with open_store(path) as store:  # quick_check passes
        assert store.count("crm", "left") == 1000
        assert store.snapshots("crm", "left", ["base0000", "new000001"]) == {
            "base0000": Snapshot("left", "base0000", {"i": 0}),
        }
        assert store.side_state("crm", "left") == SideState(generation=1)
        assert store.linked("crm", "left", ["base0000"]) == {"base0000": "R-old"}
        assert store.open_intents("crm") == []
        assert [len(batch) for batch in store.dirty("crm", "left")] == []
        with store.transaction("crm") as t:  # and it takes writes again
            t.add_intent(Intent("right", "create", "base0001", {}))
        assert len(store.open_intents("crm")) == 1


def test_kill_at_any_instant_of_a_stream_of_transactions(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    generation = 0
    for delay in (0.0, 0.013, 0.041, 0.09, 0.17):
        _run_killed(STREAM, path, delay)
        with open_store(path) as store:
            state = store.side_state("crm", "left")
            assert state.generation >= generation + 3  # what the child said it had committed
            generation = state.generation
            # each transaction is all there or not at all: 200 snapshots and one link per generation
            assert store.count("crm", "left") == 200 * generation
            ids = [f"g{n:05d}-{i:03d}" for n in (1, generation, generation + 1) for i in (0, 199)]
            assert sorted(store.snapshots("crm", "left", ids)) == ids[:4]
            assert store.linked("crm", "left", [f"g{n:05d}-000" for n in range(1, generation + 2)]) == {
                f"g{n:05d}-000": f"R{n}" for n in range(1, generation + 1)
            }
