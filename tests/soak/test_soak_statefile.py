"""A corrupt, truncated, locked or read-only SQLite state file; a PostgreSQL database with syncd's tables
dropped or altered.

One state store serves the whole daemon (docs/daemon.md: ``state.path``, every integration's state in
one file), so a store syncd cannot use stops every command that needs it: ``syncd once``, ``syncd
status`` and ``syncd run`` exit non-zero with a message naming the file and what is wrong, and the
daemon does not start. Never a silent reset: the file's bytes are the same afterwards and no new,
empty store takes its place. A lock held by another process is transient: commands that must write
fail after the busy timeout (5 s) saying so, reads go on, and a daemon keeps running and syncs once
the lock is gone.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from pg_cluster import Cluster

from soak.state_soak_support import LEFT_TOKEN, RIGHT_TOKEN, Daemon, Pair, syncd_many
from syncd.sampleapp import AuthMode, SampleApp

CONTACTS = 100  # a file of many pages, and a WAL of many frames


@pytest.fixture
def synced(sample_app: Callable[..., SampleApp], tmp_path: Path) -> Pair:
    """Two apps synced once: a state file that holds links, snapshots and cursors."""
    p = Pair(sample_app(n=CONTACTS, auth=AuthMode.BEARER, token=LEFT_TOKEN, seed=1),
             sample_app(n=0, auth=AuthMode.BEARER, token=RIGHT_TOKEN, seed=2), tmp_path / "config")
    p.write()
    assert p.once()["created"] == {"left": 0, "right": CONTACTS}
    return p


def state_file(p: Pair) -> Path:
    return p.config / "state" / "syncd.db"


def directory(path: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(path.parent.iterdir())}


def leave_a_wal(db: Path) -> None:
    """Commit changes a checkpoint has not copied into the file yet, then die (kill -9): a WAL of
    many commits, as a daemon killed mid-sync leaves."""
    code = f"""
import os, sqlite3
conn = sqlite3.connect({str(db)!r}, isolation_level=None)
conn.execute("PRAGMA wal_autocheckpoint = 0")
for i in range(20):
    conn.execute("UPDATE snapshots SET generation = generation + 1 WHERE rowid % 20 = ?", (i,))
os.kill(os.getpid(), 9)
"""
    subprocess.run([sys.executable, "-c", code], check=False)
    assert Path(f"{db}-wal").stat().st_size > 100_000


def _overwrite(data: bytes, at: int, n: int, rng: random.Random) -> bytes:
    return data[:at] + rng.randbytes(n) + data[at + n:]


# Each damage: (what it does to the directory's files, words the message says).
def damage_middle(db: Path, rng: random.Random) -> None:
    data = db.read_bytes()
    db.write_bytes(_overwrite(data, len(data) // 2 // 4096 * 4096, 4096, rng))


def truncate_half(db: Path, rng: random.Random) -> None:
    db.write_bytes(db.read_bytes()[:db.stat().st_size // 2])


def truncate_100(db: Path, rng: random.Random) -> None:
    db.write_bytes(db.read_bytes()[:100])


def truncate_0(db: Path, rng: random.Random) -> None:
    db.write_bytes(b"")


def damage_header(db: Path, rng: random.Random) -> None:
    db.write_bytes(_overwrite(db.read_bytes(), 0, 16, rng))


def damage_wal(db: Path, rng: random.Random) -> None:
    leave_a_wal(db)
    wal = Path(f"{db}-wal")
    data = wal.read_bytes()
    wal.write_bytes(_overwrite(data, len(data) // 3, 2000, rng))
    Path(f"{db}-shm").unlink()  # as after a reboot: nothing left of the crashed process's index


def read_only_file(db: Path, rng: random.Random) -> None:
    db.chmod(0o400)


def read_only_directory(db: Path, rng: random.Random) -> None:
    db.parent.chmod(0o500)


DAMAGES = {  # name: (what it does to the state directory, what the message says)
    "random bytes mid-file": (damage_middle, "is damaged or not a SQLite database"),
    "truncated to half": (truncate_half, "is damaged or not a SQLite database"),
    "truncated to 100 bytes": (truncate_100, "is damaged or not a SQLite database"),
    "truncated to 0 bytes": (truncate_0, "is empty (0 bytes)"),
    "header": (damage_header, "is damaged or not a SQLite database"),
    "wal": (damage_wal, "-wal is damaged"),
    "read-only file": (read_only_file, "cannot be opened for writing"),
    "read-only directory": (read_only_directory, "cannot be opened for writing"),
}


def link_twice(db: Path) -> str:
    """Link a right record to two left ones (its unique index dropped, as damage would let happen)."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("DROP INDEX links_right")
        [(left, right), (other, _)] = conn.execute("SELECT left_id, right_id FROM links LIMIT 2").fetchall()
        conn.execute("UPDATE links SET right_id = ? WHERE left_id = ?", (right, other))
    finally:
        conn.close()
    return f"{db}: links (pair, right {right}): linked 2 times"


def test_a_damaged_state_file_stops_every_command_and_is_left_as_it_is(synced: Pair) -> None:
    seed = random.randrange(2**32)
    print(f"seed {seed}")
    rng = random.Random(seed)
    runtime = tempfile.mkdtemp(prefix="syncd-rt-")
    configs: dict[str, Path] = {}
    for i, (name, (damage, _)) in enumerate(DAMAGES.items()):  # each damage to a copy of the config and state
        configs[name] = synced.config.with_name(f"damage-{i}")
        shutil.copytree(synced.config, configs[name])
        damage(configs[name] / "state" / "syncd.db", rng)
    before = {name: directory(config / "state" / "syncd.db") for name, config in configs.items()}
    commands = [[command, "-c", str(config)] for config in configs.values() for command in ("once", "status", "run")]
    twice = synced.config.with_name("linked-twice")
    shutil.copytree(synced.config, twice)
    problem = link_twice(twice / "state" / "syncd.db")
    checks = [["state", "check", "-c", str(synced.config)], ["state", "check", "-c", str(twice)]]
    try:
        results = syncd_many(commands + checks, {**synced.env(), "RUNTIME_DIRECTORY": runtime}, unprivileged=True)
    finally:
        for config in configs.values():
            (config / "state").chmod(0o700)
        os.rmdir(runtime)
    names = [name for name in configs for _ in range(3)]
    for name, command, (code, _, err) in zip(names, commands, results, strict=False):
        db = configs[name] / "state" / "syncd.db"
        context = (name, command[0], seed, err)
        assert code == 1, context  # `run`: the daemon did not start (one store serves all its integrations)
        assert str(db) in err and DAMAGES[name][1] in err and "Traceback" not in err, context
    for name, config in configs.items():  # never a silent reset, nor a new store beside the file
        assert directory(config / "state" / "syncd.db") == before[name], (name, seed)
    sound, linked_twice = results[len(commands):]
    assert sound[:2] == (0, f"{state_file(synced)}: ok\n"), sound
    assert linked_twice == (1, f"{problem}\n", f"syncd: error: 1 problem in the state store {twice}/state/syncd.db\n")


HOLD = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def holder(synced: Pair) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the state file's write lock (BEGIN EXCLUSIVE) until its stdin closes."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(state_file(synced))], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for stream in (proc.stdin, proc.stdout):
        if stream is not None and not stream.closed:
            stream.close()


def test_a_lock_held_past_the_busy_timeout_fails_writes_clearly_and_the_daemon_outlives_it(
        synced: Pair, holder: subprocess.Popen[str]) -> None:
    db = state_file(synced)
    contact = synced.left.store.all()[0]
    synced.left.store.update(contact["id"], first_name="Locked")
    synced.write(extra="schedule: every 1 second\n")
    daemon = Daemon(synced)  # started beside the two commands: all three meet the lock at once
    try:
        once, status = syncd_many([["once", "-c", str(synced.config)], ["status", "-c", str(synced.config)]],
                                  synced.env())
        assert once[0] == 1, once
        assert f"state store {db} is locked by another process (waited 5 s" in once[2], once
        assert status[0] == 0, status  # WAL: reads go on beside the writer's lock
        daemon.ready()
        [failed] = daemon.wait_for("cycle failed", timeout=30)[:1]
        assert f"state store {db} is locked by another process" in str(failed), failed
        assert daemon.proc.poll() is None  # the daemon goes on: the next cycle tries again
        assert holder.stdin is not None
        holder.stdin.close()  # the lock goes
        assert holder.wait(timeout=10) == 0
        daemon.wait_until(lambda: any(c["first_name"] == "Locked" for c in synced.right.store.all()),
                          timeout=30, what="the change synced")
        assert daemon.stop(signal.SIGTERM) == 0
    finally:
        daemon.close()


# --- PostgreSQL ----------------------------------------------------------------------------------

PG_DAMAGES = {  # what is done to a copy of the synced database: what the message says
    "DROP TABLE snapshots": "lacks snapshots ",
    "ALTER TABLE links DROP COLUMN right_id": "lacks links.right_id ",
    "DROP TABLE syncd_schema_version": "holds syncd's tables ",
}


def _tables(url: str) -> list[tuple[str, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT table_name, column_name FROM information_schema.columns"
                            " WHERE table_schema = current_schema() ORDER BY 1, 2").fetchall()


def test_postgres_with_syncd_tables_dropped_or_altered_is_refused_never_recreated(
        synced: Pair, pg_cluster: Cluster, pg_url: str) -> None:
    synced.daemon_settings = f"state: {{url: {pg_url!r}}}\n"
    synced.write()
    synced.once()
    urls = {}
    for damage in PG_DAMAGES:  # copies of the synced database, each damaged one way
        urls[damage] = pg_cluster.new_database(template=pg_url.rsplit("/", 1)[1])
        with psycopg.connect(urls[damage], autocommit=True) as conn:
            conn.execute(damage)
    configs = {}
    for damage, url in urls.items():
        configs[damage] = synced.config.with_name(f"config-{len(configs)}")
        Pair(synced.left, synced.right, configs[damage], daemon_settings=f"state: {{url: {url!r}}}\n").write()
    before = {damage: _tables(url) for damage, url in urls.items()}
    commands = [[*command.split(), "-c", str(config)] for config in configs.values()
                for command in ("once", "status", "state check", "run")]
    results = syncd_many(commands, {**synced.env(), "RUNTIME_DIRECTORY": str(synced.config.parent)})
    for i, (code, _, err) in enumerate(results):
        damage = list(PG_DAMAGES)[i // 4]
        context = (damage, commands[i][:-2], err)
        assert code == 1 and PG_DAMAGES[damage] in err and "half schema" in err and "Traceback" not in err, context
    for damage, url in urls.items():
        assert _tables(url) == before[damage], damage  # nothing was made again over what is left
