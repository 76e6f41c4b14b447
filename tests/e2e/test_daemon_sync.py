"""``syncd sync INTEGRATION``: an operator asks for a cycle now, and sees how it went."""

from __future__ import annotations

import json

from e2e_support import emails
from test_sync_faults import fail_creates_of, heal


def test_sync_runs_a_cycle_now_and_prints_its_summary(pair, daemon) -> None:
    p = pair(left_n=3)
    p.write(extra="schedule: every 1 hour\n")
    d = daemon(p)
    d.wait_for("cycle finished")
    p.left.store.create({"email": "new@example.com", "first_name": "New"})

    done = d.cli("sync", "pair", secrets=False)  # the daemon has them; this shell need not

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("pair: read ") and "; created 0 left, 1 right;" in done.stdout
    assert "not created (create: both) 0;" in done.stdout and done.stderr == ""
    assert "new@example.com" in emails(p.right)  # now, not in an hour
    assert [e["origin"] for e in d.named("cycle started")] == ["scheduled", "manual"]
    entry = d.integration("pair")
    assert entry["cycles"] == 2 and entry["last_result"] == "ok" and entry["next_run"] is not None
    assert d.stop() == 0


def test_sync_json_and_no_wait(pair, daemon) -> None:
    p = pair(left_n=2)
    p.write(extra="schedule: every 1 hour\n")
    d = daemon(p)
    d.wait_for("cycle finished")
    p.left.store.create({"email": "later@example.com", "first_name": "Later"})

    queued = d.cli("sync", "pair", "--no-wait", "--json")

    assert queued.returncode == 0, queued.stderr
    assert json.loads(queued.stdout) == {"integration": "pair", "queued": True}
    d.wait_for("cycle finished", count=2)
    assert "later@example.com" in emails(p.right)
    again = d.cli("sync", "pair", "--json")
    body = json.loads(again.stdout)
    assert again.returncode == 0 and body["result"] == "ok" and body["error"] is None
    assert body["created"] == {"left": 0, "right": 0} and body["seconds"] >= 0
    assert d.stop() == 0


def test_a_cycle_with_record_errors_exits_3(pair, daemon) -> None:
    p = pair(left_n=2)
    p.write(extra="schedule: every 1 hour\n")
    d = daemon(p)
    d.wait_for("cycle finished")
    fail_creates_of(p.right, "broken@example.com")
    p.left.store.create({"email": "broken@example.com", "first_name": "Broken"})

    done = d.cli("sync", "pair", "--json")

    assert done.returncode == 3, done.stderr
    body = json.loads(done.stdout)
    assert body["result"] == "errors" and body["errors"] == 1
    assert d.integration("pair")["last_result"] == "errors"  # not "ok": every write may have failed
    heal(p.right)
    assert d.stop() == 0


def test_unknown_and_disabled_integrations_are_refused(pair, daemon, sample_app) -> None:
    p = pair(left_n=1)
    p.write(extra="schedule: every 1 hour\n")
    off = p.beside(sample_app, name="off", n=1, seed=7)
    off.write(extra="enabled: false\n")
    d = daemon(p)
    d.wait_for("cycle finished")

    unknown = d.cli("sync", "nope")
    disabled = d.cli("sync", "off")

    assert unknown.returncode == 2
    assert "no integration 'nope' in the running config (configured: off, pair)" in unknown.stderr
    assert disabled.returncode == 1
    assert "integration 'off' is disabled (enabled: false) in" in disabled.stderr
    assert "`syncd once off`" in disabled.stderr
    assert emails(off.right) == []
    assert d.stop() == 0


def test_without_a_daemon_the_cycle_runs_here(pair) -> None:
    p = pair(left_n=2)
    p.write()

    done = p.syncd("sync", "pair")
    unknown = p.syncd("sync", "nope")

    assert done.returncode == 0, done.stderr
    assert "no daemon runs for" in done.stderr and "running the cycle here" in done.stderr
    assert "created 0 left, 2 right" in done.stdout
    assert emails(p.left) == emails(p.right)
    assert unknown.returncode == 2 and "no integration named nope; known: pair" in unknown.stderr


def test_a_daemon_started_later_shows_the_last_cycle_the_store_kept(pair, daemon) -> None:
    p = pair(left_n=2)
    p.write(extra="schedule: '@yearly'\n")  # no cycle of its own for a long while
    fail_creates_of(p.right, p.left.store.all()[0]["email"])
    assert p.syncd("sync", "pair").returncode == 3  # no daemon: run here, kept in the store

    d = daemon(p)

    entry = d.integration("pair")
    assert entry["cycles"] == 0 and entry["last_result"] == "errors"
    assert entry["last_summary"]["errors"] >= 1
    assert entry["last_end"] >= entry["last_start"]
    assert "last errors" in d.cli("status").stdout
    heal(p.right)
    assert d.stop() == 0
