"""Stopping: SIGTERM mid-cycle ends at a checkpoint and loses nothing; a
second signal, or the stop timeout, ends at once without corrupting state."""

from __future__ import annotations

import signal
import time

from e2e_support import duplicates, emails


def test_sigterm_mid_cycle_stops_at_a_page_and_loses_nothing(pair, daemon) -> None:
    p = pair(left_n=450)  # five pages of 100
    p.daemon_settings = "log: {level: debug}\n"
    p.write(extra="schedule: every 1 hour\n")
    p.left.faults.add(delay=0.4, method="GET", path_prefix="/cursor/contacts", times=None)  # slow pages
    d = daemon(p)
    d.wait_for("page read", side="left", count=2)
    stop_sent = time.monotonic()
    d.send(signal.SIGTERM)
    assert d.proc.wait(30) == 0
    assert time.monotonic() - stop_sent < 5  # the page in flight, not the whole read
    [stopped] = d.named("cycle stopped at a checkpoint")
    assert stopped["read"]["left"] < 450 and stopped["created"]["right"] == 0
    assert d.named("syncd stopped")[0]["forced"] is False
    p.left.faults.clear()
    summary = p.once()  # the next cycle goes on from the committed state
    assert summary["created"]["right"] == 450 and summary["errors"] == 0
    assert emails(p.left) == emails(p.right) and duplicates(p.right) == []


def test_a_second_signal_stops_at_once_and_state_stays_sound(pair, daemon) -> None:
    p = pair(left_n=30)
    p.write(extra="schedule: every 1 hour\n")
    hang = p.right.faults.add(delay=20.0, method="GET", path_prefix="/cursor/contacts")  # a read that hangs
    d = daemon(p)
    d.wait_for("cycle started")
    p.right.faults.wait_hit(hang, timeout=20)  # the cycle is inside that read
    d.send(signal.SIGTERM)
    d.wait_for("stopping: running cycles end at their next checkpoint")
    assert d.proc.poll() is None  # waiting for the hung request to reach a checkpoint
    start = time.monotonic()
    d.send(signal.SIGINT)
    assert d.proc.wait(10) == 0
    assert time.monotonic() - start < 5
    assert d.named("syncd stopped")[0]["forced"] is True
    p.right.faults.clear()
    summary = p.once()
    assert summary["created"]["right"] == 30 and emails(p.left) == emails(p.right)
    assert duplicates(p.right) == []


def test_the_stop_timeout_bounds_a_graceful_stop(pair, daemon) -> None:
    p = pair(left_n=10)
    p.write(extra="schedule: every 1 hour\n")
    hang = p.right.faults.add(delay=20.0, method="GET", path_prefix="/cursor/contacts")
    d = daemon(p, args=("--stop-timeout", "1"))
    d.wait_for("cycle started")
    p.right.faults.wait_hit(hang, timeout=20)  # the cycle is inside that read
    start = time.monotonic()
    d.send(signal.SIGTERM)
    assert d.proc.wait(15) == 0
    assert 0.9 < time.monotonic() - start < 6
    assert d.named("stop timeout reached: cancelling what still runs")
