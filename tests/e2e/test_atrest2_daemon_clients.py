"""``syncd run`` keeps each connector's HTTP client from cycle to cycle:
its open files do not grow with the cycles, a reload that changes the
connector spec is obeyed by the next cycle (a client built from the new
spec), and nothing is left unclosed at the stop."""

from __future__ import annotations

import os
import signal
import time

from daemon_support import Daemon
from e2e_support import Pair
from test_atrest_daemon_connections import WARNINGS, synced


def open_files(d: Daemon) -> int:
    return len(os.listdir(f"/proc/{d.proc.pid}/fd"))


def open_files_settle_to(d: Daemon, bound: int, timeout: float = 5.0) -> int:
    """The daemon's open files once they are at most *bound*, or as they are after *timeout*: the
    control connection a command has just used may not be closed yet on the daemon's side (on a
    loaded machine it was counted: one socket more). A leak stays, and still fails the bound."""
    deadline = time.monotonic() + timeout
    while (count := open_files(d)) > bound and time.monotonic() < deadline:
        time.sleep(0.05)
    return count


def test_kept_clients_hold_no_more_files_and_a_changed_spec_is_obeyed_after_a_reload(pair, daemon) -> None:
    p: Pair = pair(left_n=3, extra="schedule: every 1 hour\n")
    d = daemon(p, env=WARNINGS)
    d.wait_for("cycle finished")
    synced(d)
    files = open_files(d)
    for _ in range(8):
        synced(d)
    assert open_files_settle_to(d, files) <= files  # eight more cycles, not one more open file
    assert not any(r.headers.get("x-spec") for r in p.left.requests.matching("GET"))

    p.connector(headers={"X-Spec": "two"})  # the sample app's spec again, with a header of its own
    d.send(signal.SIGHUP)
    d.wait_for("reload applied", trigger="SIGHUP")
    p.clear_requests()
    synced(d)
    sent = p.left.requests.matching("GET") + p.right.requests.matching("GET")
    assert sent and all(r.headers.get("x-spec") == "two" for r in sent)  # the new spec's client, not a kept one
    for _ in range(4):
        synced(d)
    assert open_files_settle_to(d, files) <= files
    assert d.stop() == 0
    text = d.text()
    assert "ResourceWarning" not in text and "unclosed" not in text, text[-3000:]
    p.left.wait_idle(5)
    p.right.wait_idle(5)
