"""``syncd state copy --to TARGET``, the real process: a state filled by
real ``syncd once`` runs (links, snapshots, cycles, a record error, a
conflict) goes SQLite → PostgreSQL → SQLite and reads back the same through
the store contract; a non-empty target, an unreachable one and a running
daemon are refused with exit 1 and nothing written."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
from e2e_support import REPO, Pair, emails
from pg_cluster import PASSWORD, free_port
from test_conflicts_command import change_on_both_sides
from test_errors import refuse_creates_of

from syncd.state import StateStore, open_state
from syncd.state._migrations import SCHEMA_VERSION as SQLITE_VERSION
from syncd.state._pg_migrations import SCHEMA_VERSION as PG_VERSION

TARGET_ENV = "SYNCD_TEST_COPY_TARGET"
EVERYTHING = 10**6


def copy(p: Pair, target: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "syncd", "state", "copy", "--to", target, "-c", str(p.config)],
                          capture_output=True, text=True, env={**p.env(), **env}, timeout=60, cwd=REPO)


def contents(store: StateStore) -> dict[str, Any]:
    """Everything the store holds, as the store contract reads it."""
    out: dict[str, Any] = {"integrations": store.integrations(), "api_usage": store.api_usage()}
    for name in store.integrations():
        links = [pair for batch in store.links(name) for pair in batch]
        sides: dict[str, Any] = {}
        for side, ids in (("left", [left for left, _ in links]), ("right", [right for _, right in links])):
            live = list(store.unseen(name, side, EVERYTHING))
            ids += [s.record_id for s in live]
            sides[side] = (store.side_state(name, side), store.snapshots(name, side, ids),
                           [s.record_id for batch in store.dirty(name, side) for s in batch],
                           store.count(name, side), store.count(name, side, deleted=True))
        out[name] = (sides, links, store.disabled_since(name), store.open_intents(name),
                     store.errors(name, unresolved=False, limit=EVERYTHING),
                     store.conflicts(name, limit=EVERYTHING), store.cycles(name, limit=EVERYTHING),
                     store.bulk_run(name))
    return out


def filled(pair: Any) -> Pair:
    """A pair after three `syncd once`: one create refused (a record error), one conflict."""
    p = pair(left_n=6, extra={"record_retries": {"backoff_initial": 0}})
    refuse_creates_of(p.right, emails(p.left)[2])
    assert p.run().returncode == 3
    change_on_both_sides(p, emails(p.left)[0], "Ann", "Anna")
    assert p.run().returncode == 3
    return p


def test_sqlite_to_postgresql_and_back_keeps_every_row_and_the_copy_is_usable(pair, pg_cluster, tmp_path) -> None:
    p = filled(pair)
    source = p.config / "state" / "syncd.db"
    with open_state(source) as store:
        before = contents(store)
    name = before["pair"]
    assert len(name[4]) == 1 and len(name[5]) == 1 and len(name[6]) == 2  # an error, a conflict, two cycles
    assert len(name[1]) == 5

    url = pg_cluster.new_database("template0")  # empty: the copy migrates it first
    there = copy(p, f"${{env:{TARGET_ENV}}}", **{TARGET_ENV: url})
    assert there.returncode == 0, there.stderr
    assert "  snapshots     11\n" in there.stdout and "  conflicts     1\n" in there.stdout
    assert f'state: {{url: "{url}"}}' in there.stdout
    with open_state(url) as store:
        assert contents(store) == before
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT version FROM syncd_schema_version").fetchall() == [(PG_VERSION,)]

    # Point syncd.yaml at PostgreSQL (as the copy said), then copy back into a new SQLite file.
    p.daemon_settings = f"log: {{level: debug}}\nstate: {{url: '{url}'}}\n"
    p.write(extra={"record_retries": {"backoff_initial": 0}})
    back = tmp_path / "back" / "state.db"
    again = copy(p, str(back))
    assert again.returncode == 0, again.stderr
    assert f"state: {{path: {back}}}" in again.stdout
    with open_state(back) as store:
        assert contents(store) == before
    with psycopg.connect(url) as conn:  # the id counters came along: a new cycle gets a new id
        [(last,)] = conn.execute("SELECT max(id) FROM cycles").fetchall()
    with sqlite3.connect(back) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SQLITE_VERSION,)
        assert conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'cycles'").fetchone() == (last,)

    # The copy on PostgreSQL is a working store: the next cycle goes on from it (nothing created twice).
    summary = p.run()
    assert summary.summary is not None and summary.summary["created"] == {"left": 0, "right": 0}
    with open_state(url) as store:
        cycles = store.cycles("pair")
    assert cycles[0].id == last + 1 and len(cycles) == 3


def test_a_target_that_holds_rows_is_refused_and_left_as_it_was(pair, pg_url) -> None:
    p = filled(pair)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO integrations (name) VALUES ('other')")
    result = copy(p, pg_url)
    assert result.returncode == 1
    assert f"state store {pg_url} is not empty (integrations: 1)" in result.stderr
    assert "nothing was written" in result.stderr
    with open_state(pg_url) as store:
        assert store.integrations() == ["other"] and store.cycles("other") == []

    other = p.config / "state" / "other.db"
    first = copy(p, str(other))
    assert first.returncode == 0, first.stderr
    second = copy(p, str(other))
    assert second.returncode == 1 and f"state store {other} is not empty (integrations: 1, side_states: 2" \
        in second.stderr


def test_an_unreachable_target_exits_1_with_the_reason_and_the_password_masked(pair) -> None:
    p = filled(pair)
    port = free_port()  # nothing listens there
    result = copy(p, f"${{env:{TARGET_ENV}}}", **{TARGET_ENV: f"postgresql://syncd:{PASSWORD}@127.0.0.1:{port}/x"})
    assert result.returncode == 1
    assert f"state store postgresql://syncd:***@127.0.0.1:{port}/x: cannot connect: " in result.stderr
    assert "Connection refused" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr


def test_a_running_daemon_is_refused_and_nothing_is_copied(pair, daemon, tmp_path: Path) -> None:
    p = pair(left_n=2, extra={"schedule": "every 1 hour"})
    d = daemon(p)
    d.wait_for("cycle finished")
    target = tmp_path / "copy.db"
    shell = {"RUNTIME_DIRECTORY": str(d.runtime)}  # the daemon's environment: where its socket is
    result = copy(p, str(target), **shell)
    assert result.returncode == 1
    assert "a daemon runs for this config (control socket " in result.stderr
    assert "nothing was copied" in result.stderr
    assert not target.exists()
    assert d.stop() == 0
    assert copy(p, str(target), **shell).returncode == 0  # once it stopped
