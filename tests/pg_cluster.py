"""A throwaway PostgreSQL cluster for the tests: initdb into a temporary
directory, ``pg_ctl start`` on a free port of 127.0.0.1, stopped and removed
at the end of the session. Never a shared server.

The binaries are looked up on PATH, then in ``/usr/lib/postgresql/*/bin``
(Debian's packages put them there); missing, the fixture FAILS with how to
install them (``bash tests/run.sh`` does). PostgreSQL refuses to run as
root, so as root the server runs as the ``postgres`` user (Debian's package
creates it), else ``nobody``, through ``runuser``.

Each test gets a database of its own, created from a template that holds
the migrated schema (``CREATE DATABASE … TEMPLATE``: a file copy, some tens
of milliseconds). Durability is off (``fsync``, ``synchronous_commit``): a
crash of the test cluster loses nothing that matters, and commits are fast.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

SUPERUSER = "syncd"
# A role that must give a password (scram-sha-256), for the tests of messages that must not show it.
PASSWORD_USER, PASSWORD = "guarded", "s3cret-Pa55word"
TEMPLATE = "syncd_template"


class MissingPostgres(RuntimeError):
    pass


def find_bindir() -> Path:
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(os.path.realpath(on_path)).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    raise MissingPostgres(
        "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH nor in /usr/lib/postgresql/*/bin: "
        "install them (`apt-get install postgresql`, or run `bash tests/run.sh`, which does)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _runner() -> tuple[list[str], pwd.struct_passwd | None]:
    """The command prefix that runs the server's commands, and the user they run as (None: this one)."""
    if os.geteuid() != 0:
        return [], None
    for name in ("postgres", "nobody"):
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            continue
        return ["runuser", "-u", name, "--"], user
    raise MissingPostgres("running as root, and neither a `postgres` nor a `nobody` user exists to run the "
                          "test PostgreSQL server as (it refuses to run as root)")


@dataclass
class Cluster:
    bindir: Path
    root: Path
    port: int
    prefix: list[str]
    options: str = ""  # the server's command-line options (``pg_ctl start -o``), kept for restart()
    _names: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str, user: str = SUPERUSER, password: str | None = None) -> str:
        auth = user if password is None else f"{user}:{password}"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.url("postgres"), autocommit=True)

    def new_database(self, template: str = TEMPLATE) -> str:
        """A new database (a copy of *template*: the migrated schema; "template0": empty); its URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def restart(self, while_down: Callable[[], None] | None = None) -> None:
        """Stop the server (``-m fast``: every connection is closed), call *while_down*, start it again
        on the same port and data."""
        _run([*self.prefix, str(self.bindir / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w", "-s"])
        try:
            if while_down is not None:
                while_down()
        finally:
            self._start()

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """The whole server hangs for the block: its postmaster and every process it started
        stopped (SIGSTOP), as a server stuck on its disk is. The kernel still accepts and
        acknowledges every connection and packet: only an answer never comes."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        pids = [postmaster, *_children(postmaster)]
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)

    def _start(self) -> None:
        _run([*self.prefix, str(self.bindir / "pg_ctl"), "start", "-D", str(self.data), "-w", "-t", "60", "-s",
              "-l", str(self.root / "server.log"), "-o", self.options])

    def stop(self) -> None:
        subprocess.run([*self.prefix, str(self.bindir / "pg_ctl"), "stop", "-D", str(self.data), "-m", "immediate",
                        "-s"], check=False, capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster() -> Cluster:
    bindir = find_bindir()
    prefix, user = _runner()
    root = Path(tempfile.mkdtemp(prefix="syncd-pg-"))
    if user is not None:
        os.chown(root, user.pw_uid, user.pw_gid)
    port = free_port()
    cluster = Cluster(bindir, root, port, prefix)
    try:
        _run([*prefix, str(bindir / "initdb"), "-D", str(cluster.data), "-U", SUPERUSER, "--auth=trust",
              "--encoding=UTF8", "--locale=C", "--no-sync"])
        (cluster.data / "pg_hba.conf").write_text(
            "local all all trust\n"
            f"host all {PASSWORD_USER} 127.0.0.1/32 scram-sha-256\n"
            "host all all 127.0.0.1/32 trust\n")
        cluster.options = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root}"
                           " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        cluster._start()
        with cluster.admin() as conn:
            conn.execute(f"CREATE ROLE {PASSWORD_USER} LOGIN PASSWORD '{PASSWORD}'")
            conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
        from syncd.state import open_state  # the template holds the schema syncd creates

        open_state(cluster.url(TEMPLATE)).close()
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            if int(stat.rpartition(")")[2].split()[1]) == parent:  # the field after the state
                found.append(int(entry.name))
    return found


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr or done.stdout}")
