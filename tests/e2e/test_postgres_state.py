"""The real ``syncd`` process with its state in PostgreSQL (``state.url``):
a daemon whose database cannot be reached exits 1 with the reason and the
password masked; ``syncd once`` and a daemon sync through a database of the
test's own on the throwaway cluster (``tests/pg_cluster.py``)."""

from __future__ import annotations

import json
import subprocess
import sys

import psycopg
from e2e_support import REPO, emails
from pg_cluster import PASSWORD, free_port

DB_PASSWORD_ENV = "SYNCD_TEST_DB_PASSWORD"


def _state(url: str) -> str:
    return f"log: {{level: debug}}\nstate: {{url: '{url}', password: '${{env:{DB_PASSWORD_ENV}}}'}}\n"


def test_a_database_nobody_listens_on_stops_run_and_once_with_exit_1_and_the_reason(pair) -> None:
    p = pair(left_n=3)
    port = free_port()  # nothing listens there
    p.daemon_settings = _state(f"postgresql://syncd@127.0.0.1:{port}/syncd")
    p.write()
    env = {**p.env(), DB_PASSWORD_ENV: PASSWORD}
    for command in ("run", "once"):
        result = subprocess.run([sys.executable, "-m", "syncd", command, "-c", str(p.config)],
                                capture_output=True, text=True, env=env, timeout=60, cwd=REPO)
        assert result.returncode == 1, (command, result.stderr)
        assert (f"state store postgresql://syncd:***@127.0.0.1:{port}/syncd: cannot connect: "
                in result.stderr), command
        assert "Connection refused" in result.stderr
        assert PASSWORD not in result.stdout + result.stderr
    assert list(p.left.requests) == [] and list(p.right.requests) == []  # nothing read without a state store


def test_once_and_the_daemon_sync_with_the_state_in_postgresql(pair, daemon, pg_url: str) -> None:
    p = pair(left_n=4)
    p.daemon_settings = _state(pg_url)
    p.write(extra="schedule: every 1 hour\n")
    env = {**p.env(), DB_PASSWORD_ENV: "unused-by-trust-auth"}

    first = subprocess.run([sys.executable, "-m", "syncd", "once", "--json", "-c", str(p.config)],
                           capture_output=True, text=True, env=env, timeout=120, cwd=REPO)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)[0]["created"] == {"left": 0, "right": 4}
    assert emails(p.left) == emails(p.right)
    with psycopg.connect(pg_url) as conn:  # the state is in the database, not in a file
        assert conn.execute("SELECT count(*) FROM links WHERE integration = 'pair'").fetchone() == (4,)
    assert not (p.config / "state").exists()

    d = daemon(p, env={DB_PASSWORD_ENV: "unused-by-trust-auth"})
    d.wait_for("cycle finished")
    entry = d.integration("pair")
    assert entry["last_result"] == "ok" and entry["last_summary"]["created"] == {"left": 0, "right": 0}
    status = json.loads(d.cli("status", "--json").stdout)
    assert status["state_path"].startswith("postgresql://syncd:***@127.0.0.1:")  # the password put in, masked
    assert d.stop() == 0
