"""Several daemons on one PostgreSQL state (``cluster:``): real ``syncd run``
processes sharing six integrations through the lease tables.

They split them 3/3 and both say who runs what (``syncd status --json``,
the metrics); the one that does not run an integration answers 409 to
``syncd sync``; a daemon killed with SIGKILL is replaced once its leases run
out, one stopped with SIGTERM at the survivor's next renewal (it released
them), long before a lease could have run out.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from typing import Any

import httpx
from daemon_support import Daemon
from e2e_support import Pair
from prometheus_client.parser import text_string_to_metric_families

NAMES = ["pair", "p1", "p2", "p3", "p4", "p5"]


def _settings(url: str, lease_seconds: float) -> str:
    return (f"log: {{level: debug}}\nstate: {{url: '{url}'}}\ncluster: {{lease_seconds: {lease_seconds}}}\n"
            "metrics: {enabled: true, listen: '127.0.0.1:0'}\n")


def _six(pair: Callable[..., Pair], sample_app: Any, url: str, lease_seconds: float) -> Pair:
    """Six integrations in one config dir, each between two apps of its own."""
    first = pair(left_n=2)
    pairs = [first, *(first.beside(sample_app, name=name, n=2, seed=10 + 2 * i)
                      for i, name in enumerate(NAMES[1:]))]
    for p in pairs:
        p.daemon_settings = _settings(url, lease_seconds)
        p.write(extra="schedule: every 1 hour\n")
    return first


def _owned(d: Daemon) -> dict[str, int]:
    """integration -> pid of its owner, as daemon *d* reports it (owners only)."""
    return {i["name"]: i["owner"]["pid"] for i in d.status()["integrations"] if i.get("owner")}


def _mine(d: Daemon) -> set[str]:
    return {name for name, pid in _owned(d).items() if pid == d.proc.pid}


def _scrape(d: Daemon) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    [started] = d.named("syncd started")
    text = httpx.get(f"{started['metrics']}/metrics", timeout=10).text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_two_daemons_split_six_integrations_say_who_runs_what_and_take_over_from_a_killed_one(
        pair, sample_app, daemon, pg_url: str) -> None:
    lease = 3.0
    p = _six(pair, sample_app, pg_url, lease)
    a = daemon(p)
    b = daemon(p)
    a.wait_until(lambda: len(_mine(a)) == 3 and len(_mine(b)) == 3, timeout=60, what="a 3/3 split")
    # Each daemon learns the other's leases at its next renewal (a third of a lease later): until
    # then it shows an integration the other has just taken with no owner.
    a.wait_until(lambda: all(len(_owned(d)) == len(NAMES) for d in (a, b)), timeout=lease * 3,
                 what="both daemons knowing every owner")

    # Both daemons report every integration and its owner, the same way.
    for d in (a, b):
        status = json.loads(d.cli("status", "--json").stdout)
        assert status["daemon"]["pid"] == d.proc.pid
        assert status["cluster"]["lease_seconds"] == lease
        assert sorted(m["pid"] for m in status["cluster"]["members"]) == sorted([a.proc.pid, b.proc.pid])
        assert sorted(i["name"] for i in status["integrations"]) == sorted(NAMES)
        assert {i["owner"]["pid"] for i in status["integrations"]} == {a.proc.pid, b.proc.pid}
        human = d.cli("status").stdout
        assert f"owner {d.status()['daemon']['host']} pid {d.proc.pid}" in human

    samples = _scrape(a)
    owned = {dict(k)["integration"]: v for (n, k), v in samples.items() if n == "syncd_integration_owned"}
    assert owned == {name: float(name in _mine(a)) for name in NAMES}
    assert samples[("syncd_cluster_daemons", frozenset())] == 2.0
    infos = [dict(k) for (n, k), v in samples.items() if n == "syncd_integration_owner_info"]
    assert {i["integration"] for i in infos} == set(NAMES)
    assert sum(1 for (n, _), _v in samples.items() if n == "syncd_integration_lease_expires_timestamp_seconds") == 6

    # The daemon that does not run an integration refuses to sync it, naming the one that does.
    theirs = sorted(_mine(b))[0]
    refused = a.cli("sync", theirs)
    assert refused.returncode == 1, refused.stderr
    assert f"{theirs} is run by daemon" in refused.stderr and f"(pid {b.proc.pid})" in refused.stderr
    assert a.cli("sync", sorted(_mine(a))[0]).returncode == 0

    # Killed: the survivor takes all six once the leases run out, and runs them.
    moved = _mine(b)
    b.stop(signal.SIGKILL)
    a.wait_until(lambda: _mine(a) == set(NAMES), timeout=lease + lease / 3 + 20, what="a owning all six")
    a.wait_until(lambda: all(a.integration(n).get("cycles", 0) >= 1 for n in moved), timeout=30,
                 what="the moved integrations' first cycles on the survivor")
    for name in moved:
        assert a.named("lease acquired: running the integration here", integration=name)
    assert a.stop() == 0


def test_a_daemon_stopped_with_sigterm_hands_its_integrations_over_before_a_lease_runs_out(
        pair, sample_app, daemon, pg_url: str) -> None:
    # Leases of 30 s, renewed every 10 s: a takeover seen within 25 s of the
    # stop can only come from the leases released, not from them running out.
    p = _six(pair, sample_app, pg_url, 30)
    b = daemon(p)
    b.wait_until(lambda: _mine(b) == set(NAMES), timeout=30, what="the first daemon owning all six")
    a = daemon(p)
    assert b.stop() == 0
    a.wait_until(lambda: _mine(a) == set(NAMES), timeout=25, what="the survivor owning all six")
    assert not [e for e in b.events() if str(e.get("event", "")).startswith("lease of")]  # released, never lost
    assert a.stop() == 0


def test_child_objects_sync_under_leases_in_a_daemon_and_in_syncd_once_and_status_reads_the_owner(
        pair, sample_app, daemon, pg_url: str) -> None:
    # A child object's state key (pair/notes) is fenced by a lease of its own, taken with its integration's.
    p = pair(left_n=2)
    p.daemon_settings = _settings(pg_url, 3)
    extra = {"schedule": "every 1 hour",
             "children": [{"left": "notes", "right": "notes", "fields": [{"left": "body", "right": "body"}]}]}
    p.write(extra=extra)
    contact = p.left.store.all()[0]
    p.left.children.create("notes", str(contact["id"]), {"body": "call back on Monday"})
    once = p.run()
    assert once.returncode == 0, once.stderr
    assert once.summary["children"]["notes"]["created"] == {"left": 0, "right": 1}

    p.left.children.create("notes", str(contact["id"]), {"body": "prefers email"})
    d = daemon(p)
    d.wait_for("cycle finished")
    entry = d.integration("pair")
    assert entry["last_result"] == "ok", entry
    assert entry["last_summary"]["children"]["notes"]["created"] == {"left": 0, "right": 1}
    # While the daemon holds it, `syncd once` refuses, naming it.
    refused = p.run()
    assert refused.returncode == 1 and "pair is run by daemon" in refused.stderr and f"(pid {d.proc.pid})" in refused.stderr
    for command in (("reset", "pair"), ("errors", "pair", "--retry-all"), ("bulk", "pair", "start")):
        other = p.syncd(*command)  # no daemon answers on this shell's socket: they would write themselves
        assert other.returncode == 1 and f"(pid {d.proc.pid})" in other.stderr, (command, other.stderr)
    # `syncd status` where no daemon answers (another runtime dir) reads the owner from the lease table.
    [alone] = json.loads(p.syncd("status", "--json").stdout)["integrations"]
    assert alone["owner"]["pid"] == d.proc.pid
    assert f"owner {alone['owner']['host']} pid {d.proc.pid}" in p.syncd("status").stdout
    # cluster: changes only at a restart, and the reload says so.
    p.daemon_settings = _settings(pg_url, 5)
    p.write(extra=extra)
    reloaded = d.cli("reload")
    assert "changed settings need a restart to apply: cluster_lease_seconds" in reloaded.stderr, reloaded.stderr
    assert d.status()["cluster"]["lease_seconds"] == 3
    assert d.stop() == 0
    [after] = json.loads(p.syncd("status", "--json").stdout)["integrations"]
    assert after["owner"] is None  # released at the clean stop


def test_a_database_outage_stops_the_integration_at_its_deadline_and_the_daemon_takes_it_again(
        pair, daemon, pg_cluster, pg_url: str) -> None:
    p = pair(left_n=2)
    p.daemon_settings = _settings(pg_url, 3)
    p.write(extra="schedule: every 1 hour\n")
    d = daemon(p)
    d.wait_for("cycle finished")

    def while_down() -> None:
        d.wait_for("cannot reach the lease tables: leases run out at their local deadline, the integrations "
                   "they cover stop there", timeout=30)
        d.wait_for("lease of pair lost: its runner stops at its checkpoint", timeout=30)

    pg_cluster.restart(while_down)
    d.wait_for("the lease tables answer again: taking leases again", timeout=30)
    d.wait_for("lease acquired: running the integration here", count=2, integration="pair", timeout=30)
    d.wait_for("cycle finished", count=2, timeout=30)  # its first cycle at once, after the takeover
    assert len(d.named("cannot reach the lease tables: leases run out at their local deadline, the "
                       "integrations they cover stop there")) == 1  # once per outage
    synced = d.cli("sync", "pair")
    assert synced.returncode == 0, synced.stderr
    assert d.stop() == 0
