"""The daemon's log output fails: its reader goes (journald restarted
without keeping the stream, a pipe to a tool that exited), or the disk of
the file it is written to is full.

Before, structlog's write raised into whatever was logging: the daemon
died at its next line (exit 1), under systemd into a restart loop for as
long as the disk stayed full. Now a line that cannot be written is dropped
and counted, the daemon goes on syncing and answering, and the next line
that can be written says how many were lost and why; a line the disk cut
short leaves the next one on a line of its own.
"""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from e2e_support import REPO, emails

from syncd.daemon import call_daemon


def test_a_log_file_on_a_full_disk_never_stops_the_daemon(pair, daemon, pg_url: str) -> None:
    p = pair(left_n=3)
    # State in PostgreSQL: the log is then the only file the daemon writes, and the file-size
    # limit below (a full disk, for this process's writes: EFBIG, as ENOSPC) is the log's alone.
    p.daemon_settings = f"state: {{url: '{pg_url}'}}\n"
    p.write(extra="schedule: every 1 hour\n")
    d = daemon(p).ready(timeout=60)
    d.wait_for("cycle finished", timeout=60)
    assert d.cli("sync", "pair").returncode == 0  # quiet from now until asked
    time.sleep(0.5)
    full_at = d.log_path.stat().st_size
    # Room for 10 bytes more: the next line is cut short, every one after it refused.
    resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE, (full_at + 10, resource.RLIM_INFINITY))

    p.left.store.create({"email": "while-full@example.com", "first_name": "Full"})
    synced = d.cli("sync", "pair")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert "while-full@example.com" in emails(p.right)
    assert d.integration("pair")["last_result"] == "ok"
    assert d.log_path.stat().st_size == full_at + 10  # what the daemon logged meanwhile: dropped

    resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    assert d.cli("sync", "pair").returncode == 0
    assert d.stop() == 0

    after = d.log_path.read_bytes()[full_at:].decode()
    cut, *lines = after.split("\n")
    assert len(cut) == 10 and not cut.startswith("\n"), cut  # the line the disk cut short, alone
    events = [json.loads(line) for line in lines if line]  # every line after it whole
    first = events[0]
    assert first["log_lines_lost"] >= 2, first  # the cycle's started (cut short) and finished, at least
    assert "File too large" in first["log_lines_lost_because"], first
    assert all("log_lines_lost" not in e for e in events[1:])  # said once
    assert events[-1]["event"] == "syncd stopped"


def test_a_reader_of_stderr_that_goes_away_never_stops_the_daemon(pair) -> None:
    p = pair(left_n=3)
    p.write(extra="schedule: every 1 second\n")
    runtime = tempfile.mkdtemp(prefix="syncd-rt-")
    socket = Path(runtime) / "control.sock"
    proc = subprocess.Popen([sys.executable, "-m", "syncd", "run", "-c", str(p.config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**p.env(), "RUNTIME_DIRECTORY": runtime}, cwd=REPO)
    try:
        assert proc.stderr is not None
        while b"cycle finished" not in proc.stderr.readline():
            assert proc.poll() is None
        proc.stderr.close()  # every write from now on: EPIPE

        p.left.store.create({"email": "unheard@example.com", "first_name": "Unheard"})
        deadline = time.monotonic() + 30
        while "unheard@example.com" not in emails(p.right):
            assert proc.poll() is None, f"the daemon exited ({proc.returncode}) when its log's reader went"
            assert time.monotonic() < deadline, "the change made after the reader went was not synced"
            time.sleep(0.2)
        code, body = call_daemon(socket, "GET", "/v1/status", timeout=10)
        assert code == 200 and [i["last_result"] for i in body["integrations"]] == ["ok"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
