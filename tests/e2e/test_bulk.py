"""``syncd bulk NAME start|stop|status``: a manual bulk sync, in the daemon
and without one.

The apps drift apart behind syncd's back: a contact edited on the right
app by an import that keeps old timestamps (its ``updated_at`` an hour
back), so no change feed reports it and no scheduled cycle repairs it.
The sample fields send the phone left to right: the left owns it.
"""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from daemon_support import edit
from e2e_support import REPO, by_email

from syncd.sampleapp import SampleApp

DRIFTED = "+1 555 0100"
DRIFTED_DIGITS = "15550100"


def drift(app: SampleApp, count: int | None = None) -> list[str]:
    """Give the first *count* contacts of *app* (all by default) the phone
    DRIFTED behind syncd's back; their emails."""
    contacts = sorted(app.store.all(), key=lambda c: c["id"])[:count]
    for c in contacts:
        old = datetime.fromisoformat(c["updated_at"]) - timedelta(hours=1)
        app.store.update(c["id"], phone=DRIFTED, updated_at=old.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    return [c["email"].lower() for c in contacts]


def phones(app: SampleApp) -> dict[str, str]:
    """Each contact's phone, its digits only (syncd writes it in E.164 form)."""
    return {e: re.sub(r"\D", "", c["phone"] or "") for e, c in by_email(app).items()}


def progress(result: Any) -> dict[str, Any]:
    assert result.stdout.strip(), result.stderr
    shown: dict[str, Any] = json.loads(result.stdout)
    return shown


def slow_second_batch(app: SampleApp) -> Any:
    """The bulk's second batch of updates hangs in *app* until the test
    releases it: a stop or a reload asked meanwhile lands mid-run, at the
    checkpoint after it, however slow the machine."""
    return app.faults.add(hold=True, path_prefix="/contacts/batch/update", skip=1, times=1)


def test_a_bulk_sync_repairs_drift_and_shows_its_progress(pair, daemon) -> None:
    p = pair(left_n=30)
    p.write(extra="schedule: every 1 hour\n")
    d = daemon(p)
    d.wait_for("cycle finished")
    assert d.integration("pair")["bulk"] is None
    in_step = phones(p.left)
    drifted = drift(p.right, 5)

    started = d.cli("bulk", "pair", "start")

    assert started.returncode == 0, started.stderr
    assert "pair: bulk sync done: 30 of 30 pairs (100 %)" in started.stdout
    assert phones(p.right) == in_step
    assert len(drifted) == 5
    shown = progress(d.cli("bulk", "pair", "status", "--json"))
    assert {k: shown[k] for k in ("integration", "state", "done", "total", "failed", "eta_seconds")} == {
        "integration": "pair", "state": "done", "done": 30, "total": 30, "failed": 0, "eta_seconds": None}
    assert shown["rate"] > 0 and shown["ended_at"] >= shown["started_at"]
    bulk = d.integration("pair")["bulk"]
    assert (bulk["state"], bulk["done"], bulk["total"]) == ("done", 30, 30)
    assert "  bulk: done, 30/30 pairs, ended " in d.cli("status").stdout
    assert d.stop() == 0


def test_stop_ends_a_running_bulk_and_a_second_start_is_refused(pair, daemon) -> None:
    p = pair(left_n=400)
    p.write(extra="schedule: every 1 hour\n")
    d = daemon(p)
    d.wait_for("cycle finished")
    drift(p.right)
    hang = slow_second_batch(p.right)

    started = d.cli("bulk", "pair", "start", "--no-wait", "--json")
    assert started.returncode == 0, started.stderr
    assert progress(started)["state"] == "running"
    p.right.faults.wait_hit(hang)  # the second batch of 100 is in the app

    again = d.cli("bulk", "pair", "start")
    assert again.returncode == 1
    assert "a bulk sync of 'pair' is already running (100 of 400 pairs done)" in again.stderr
    assert "syncd bulk pair stop" in again.stderr
    running = d.integration("pair")["bulk"]
    assert (running["state"], running["done"], running["total"]) == ("running", 100, 400)

    with ThreadPoolExecutor(1) as pool:
        stopping = pool.submit(d.cli, "bulk", "pair", "stop", "--json")  # it waits for the checkpoint
        d.wait_for("bulk sync stopping", integration="pair")
        hang.release()
        stopped = stopping.result()

    assert stopped.returncode == 0, stopped.stderr
    shown = progress(stopped)
    assert (shown["state"], shown["done"], shown["total"]) == ("stopped", 200, 400)  # at the checkpoint
    assert shown["message"] == "stopped by `syncd bulk stop`"
    assert list(phones(p.right).values()).count(DRIFTED_DIGITS) == 200  # the rest not written
    nothing = d.cli("bulk", "pair", "stop")
    assert nothing.returncode == 1 and "no bulk sync of 'pair' is running" in nothing.stderr
    # not resumable: a new start starts over, and finishes
    again = d.cli("bulk", "pair", "start", "--json")
    assert again.returncode == 0, again.stderr
    assert (progress(again)["state"], progress(again)["done"]) == ("done", 400)
    assert DRIFTED_DIGITS not in phones(p.right).values()
    assert d.stop() == 0


def test_a_config_change_to_the_integration_stops_its_bulk_and_says_so(pair, daemon) -> None:
    p = pair(left_n=300)
    p.write(extra="schedule: every 1 hour\n")
    d = daemon(p)
    d.wait_for("cycle finished")
    drift(p.right)
    hang = slow_second_batch(p.right)
    assert d.cli("bulk", "pair", "start", "--no-wait").returncode == 0
    p.right.faults.wait_hit(hang)

    edit(p.config / "integrations.d" / "pair.yaml", "schedule: every 1 hour", "schedule: every 2 hours")
    d.wait_for("bulk sync stopping", integration="pair")
    hang.release()

    [applied] = d.wait_for("reload applied")
    assert applied["restarted"] == ["pair"]
    shown = progress(d.cli("bulk", "pair", "status", "--json"))
    assert (shown["state"], shown["done"], shown["total"]) == ("stopped", 200, 300)
    assert shown["message"] == ("stopped: the integration's config changed (reload): start a new bulk sync "
                                "for the new config")
    plain = d.cli("bulk", "pair", "status")
    assert "pair: bulk sync stopped: 200 of 300 pairs (66 %)" in plain.stdout
    assert "the integration's config changed (reload)" in plain.stdout
    assert d.stop() == 0


def test_a_daemon_killed_mid_bulk_shows_it_failed_at_its_next_start(pair, daemon) -> None:
    p = pair(left_n=200)
    p.write(extra="schedule: every 1 hour\n")
    d = daemon(p)
    d.wait_for("cycle finished")
    drift(p.right)
    hang = slow_second_batch(p.right)
    assert d.cli("bulk", "pair", "start", "--no-wait").returncode == 0
    p.right.faults.wait_hit(hang)
    d.stop(signal.SIGKILL)

    again = daemon(p)
    bulk = again.integration("pair")["bulk"]
    assert (bulk["state"], bulk["done"], bulk["total"]) == ("failed", 100, 200)
    assert "the daemon stopped before this bulk sync ended" in bulk["message"]
    assert "start a new one" in bulk["message"]
    assert again.stop() == 0


def test_the_daemon_stopping_stops_its_bulk(pair, daemon) -> None:
    p = pair(left_n=200)
    p.write(extra="schedule: every 1 hour\n")
    d = daemon(p)
    d.wait_for("cycle finished")
    drift(p.right)
    hang = slow_second_batch(p.right)
    assert d.cli("bulk", "pair", "start", "--no-wait").returncode == 0
    p.right.faults.wait_hit(hang)
    with ThreadPoolExecutor(1) as pool:
        stopping = pool.submit(d.stop)  # SIGTERM, then it waits for the daemon's end
        d.wait_for("bulk sync stopping", integration="pair")
        hang.release()
        assert stopping.result() == 0
    shown = progress(d.cli("bulk", "pair", "status", "--json"))  # no daemon now: the state store
    assert (shown["state"], shown["done"], shown["message"]) == ("stopped", 200, "stopped: the daemon stopped")


def test_without_a_daemon_start_runs_in_the_foreground_and_status_reads_the_store(pair) -> None:
    p = pair(left_n=12)
    p.write(extra="schedule: every 1 hour\n")
    p.once()
    in_step = phones(p.left)
    drift(p.right, 3)
    # the app refuses the three: as a batch, then each alone
    p.right.faults.add(status=422, path_prefix="/contacts/batch/update")
    p.right.faults.add(status=422, method="PATCH", path_prefix="/contacts/", times=3)

    started = p.syncd("bulk", "pair", "start")

    assert started.returncode == 3, started.stdout + started.stderr  # done, with records that failed
    assert "pair: running: reading both sides in full" in started.stdout  # plain lines: not a terminal
    assert "pair: bulk sync done: 12 of 12 pairs (100 %), 3 failed (see `syncd status`)" in started.stdout
    shown = progress(p.syncd("bulk", "pair", "status", "--json"))
    assert (shown["state"], shown["done"], shown["failed"]) == ("done", 12, 3)
    assert "  bulk: done, 12/12 pairs, 3 failed, ended " in p.syncd("status").stdout  # from the store

    again = p.syncd("bulk", "pair", "start", "--json")
    assert again.returncode == 0, again.stderr
    assert (progress(again)["state"], progress(again)["failed"]) == ("done", 0)
    assert phones(p.right) == in_step

    stop = p.syncd("bulk", "pair", "stop")
    assert stop.returncode == 1
    assert "no syncd daemon runs for this config" in stop.stderr


def test_on_a_terminal_start_draws_a_progress_bar(pair) -> None:
    p = pair(left_n=300)
    p.write(extra="schedule: every 1 hour\n")
    p.once()
    drift(p.right)
    p.right.faults.add(delay=0.3, path_prefix="/contacts/batch/update", times=None)  # a bar to watch
    terminal, child = pty.openpty()
    run = subprocess.Popen([sys.executable, "-m", "syncd", "bulk", "pair", "start", "-c", str(p.config)],
                           stdout=child, stderr=subprocess.DEVNULL, env={**p.env(), "COLUMNS": "100"}, cwd=REPO)
    os.close(child)
    shown = b""
    while chunk := _read(terminal):
        shown += chunk
    assert run.wait(60) == 0
    os.close(terminal)
    text = shown.decode()
    assert "\r" in text and "█" in text  # a bar, drawn again in place
    assert re.search(r"100/300.*pairs/s, ETA \d+ s", text)
    assert "pair: bulk sync done: 300 of 300 pairs (100 %)" in text  # the bar gives way to the outcome


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except OSError:  # the other end closed: Linux says EIO
        return b""


def test_an_unknown_integration_is_a_usage_error_with_and_without_a_daemon(pair, daemon) -> None:
    p = pair(left_n=2)
    p.write(extra="schedule: every 1 hour\n")
    for action in ("start", "status"):
        result = p.syncd("bulk", "nope", action)
        assert result.returncode == 2
        assert "syncd: error: no integration named nope; known: pair" in result.stderr
    d = daemon(p)
    for action in ("start", "stop", "status"):
        result = d.cli("bulk", "nope", action)
        assert result.returncode == 2
        assert "no integration 'nope' in the running config (configured: pair)" in result.stderr
        assert "Traceback" not in result.stderr
    assert d.stop() == 0
