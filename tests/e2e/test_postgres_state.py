"""The real ``syncd`` process with its state in PostgreSQL (``state.url``):
``syncd once`` whose database cannot be reached exits 1 with the reason
and the password masked, a daemon waits for it (and exits 1 at once when
the database refuses it); ``syncd once`` and a daemon sync through a database of the
test's own on the throwaway cluster (``tests/pg_cluster.py``)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import psycopg
from daemon_support import Daemon
from e2e_support import REPO, emails
from pg_cluster import PASSWORD, PASSWORD_USER, free_port
from proc_support import tcp_connections

DB_PASSWORD_ENV = "SYNCD_TEST_DB_PASSWORD"


def _state(url: str) -> str:
    return f"log: {{level: debug}}\nstate: {{url: '{url}', password: '${{env:{DB_PASSWORD_ENV}}}'}}\n"


def test_a_database_nobody_listens_on_stops_once_with_exit_1_and_the_reason_and_run_waits_for_it(
        pair, daemon) -> None:
    p = pair(left_n=3)
    port = free_port()  # nothing listens there
    p.daemon_settings = _state(f"postgresql://syncd@127.0.0.1:{port}/syncd")
    p.write()
    env = {**p.env(), DB_PASSWORD_ENV: PASSWORD}
    result = subprocess.run([sys.executable, "-m", "syncd", "once", "-c", str(p.config)],
                            capture_output=True, text=True, env=env, timeout=60, cwd=REPO)
    assert result.returncode == 1, result.stderr
    assert f"state store postgresql://syncd:***@127.0.0.1:{port}/syncd: cannot connect: " in result.stderr
    assert "Connection refused" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr

    # The daemon waits for it (a boot or a deploy while the database is down), saying why at each
    # try, sooner at first; a stop then ends it cleanly.
    d = daemon(p, env={DB_PASSWORD_ENV: PASSWORD}, ready=False)
    tries = d.wait_for("waiting for the state store", count=3, timeout=30)
    assert [t["next_try_in"] for t in tries[:3]] == [1.0, 2.0, 4.0]
    assert f"state store postgresql://syncd:***@127.0.0.1:{port}/syncd: cannot connect: " in tries[0]["error"]
    assert "Connection refused" in tries[0]["error"]
    assert d.stop() == 0
    assert d.named("stopped while waiting for the state store")
    assert PASSWORD not in d.text()
    assert list(p.left.requests) == [] and list(p.right.requests) == []  # nothing read without a state store


def test_a_database_that_refuses_syncd_stops_run_at_once_with_exit_1(pair, pg_cluster) -> None:
    """A wrong password is the operator's to fix: no waiting, exit 1 with the reason, the password masked."""
    p = pair(left_n=1)
    p.daemon_settings = _state(pg_cluster.url("postgres", PASSWORD_USER))
    p.write()
    env = {**p.env(), DB_PASSWORD_ENV: "not-the-password"}
    result = subprocess.run([sys.executable, "-m", "syncd", "run", "-c", str(p.config)],
                            capture_output=True, text=True, env=env, timeout=60, cwd=REPO)
    assert result.returncode == 1, result.stderr
    assert "password authentication failed" in result.stderr and "waiting for the state store" not in result.stderr
    assert "not-the-password" not in result.stderr


def test_a_daemon_started_while_its_database_is_down_syncs_once_it_is_up(pair, daemon, pg_url: str,
                                                                         pg_cluster) -> None:
    p = pair(left_n=4)
    p.daemon_settings = _state(pg_url)
    p.write(extra="schedule: every 1 hour\n")
    started: list[Daemon] = []

    def while_down() -> None:
        d = daemon(p, env={DB_PASSWORD_ENV: "unused-by-trust-auth"}, ready=False)
        d.wait_for("waiting for the state store", count=2, timeout=30)
        started.append(d)

    pg_cluster.restart(while_down)
    [d] = started
    d.wait_for("cycle finished", timeout=60)  # the server is back: it started, and synced
    assert emails(p.left) == emails(p.right)
    assert d.stop() == 0


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


def test_a_stop_while_the_store_opens_is_not_lost(pair, daemon, pg_url: str, pg_cluster) -> None:
    """SIGTERM while the store is being opened (connecting to a server that is slow to answer),
    and the open then succeeds: the daemon closes it and exits 0, starting nothing. The stop was
    once lost there: the daemon started and ran until killed."""
    p = pair(left_n=2)
    p.daemon_settings = f"log: {{level: debug}}\nstate: {{url: '{pg_url}', timeout: 20}}\n"  # waits for the thaw
    p.write(extra="schedule: every 1 second\n")
    with pg_cluster.frozen():  # the connection is accepted by the kernel, never answered
        d = daemon(p, ready=False)
        deadline = time.monotonic() + 30
        while not tcp_connections(d.proc.pid, pg_cluster.port):
            assert d.proc.poll() is None and time.monotonic() < deadline, d.text()
            time.sleep(0.05)
        d.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)  # (the handler has run: the main thread is in Python code between waits)
    assert d.proc.wait(timeout=30) == 0, d.text()
    assert d.named("stopped while waiting for the state store"), d.text()
    assert d.named("syncd started") == [] and d.named("waiting for the state store") == []
    assert list(p.left.requests) == [] and list(p.right.requests) == []
