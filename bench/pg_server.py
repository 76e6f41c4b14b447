"""A throwaway PostgreSQL server for the benchmarks, never a shared one.

It is the test suite's (``tests/pg_cluster.py``: initdb into a temporary
directory, a free port of 127.0.0.1, run as ``postgres`` when we are root,
removed at the end, a template database holding syncd's schema), restarted
with PostgreSQL's own durability defaults: the tests turn ``fsync`` and
``synchronous_commit`` off to be fast, but a benchmark of the state store
must measure what an operator's server does, a flush at every commit.
``durable=False`` keeps the tests' settings.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# tests/ is not a package: its conftest imports pg_cluster the same way (rootdir on sys.path).
sys.path.insert(0, str(REPO / "tests"))

from pg_cluster import Cluster, start_cluster  # noqa: E402

__all__ = ["Cluster", "postgres"]


@contextmanager
def postgres(*, durable: bool = True) -> Iterator[Cluster]:
    """A started cluster (stopped and removed on exit)."""
    cluster = start_cluster()
    try:
        if durable:
            _restart_durable(cluster)
        yield cluster
    finally:
        cluster.stop()


def _restart_durable(cluster: Cluster) -> None:
    # Options given to `pg_ctl start -o` outrank postgresql.conf and ALTER SYSTEM,
    # so the tests' fsync=off can only go by a restart with other options.
    options = (f"-c listen_addresses=127.0.0.1 -c port={cluster.port} -c unix_socket_directories={cluster.root}"
               " -c max_connections=200")
    done = subprocess.run([*cluster.prefix, str(cluster.bindir / "pg_ctl"), "restart", "-D", str(cluster.data),
                           "-w", "-t", "60", "-s", "-m", "fast", "-l", str(cluster.root / "server.log"),
                           "-o", options], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pg_ctl restart failed ({done.returncode}): {done.stderr or done.stdout}")
    with cluster.admin() as conn:
        settings = conn.execute("SELECT current_setting('fsync'), current_setting('synchronous_commit'),"
                                " current_setting('full_page_writes')").fetchone()
    if settings != ("on", "on", "on"):
        raise RuntimeError(f"the restarted server is not durable (fsync, synchronous_commit, full_page_writes): "
                           f"{settings}")
