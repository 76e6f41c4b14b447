"""API budgets: scheduled cycles run below their tier, pause above it (saying
why in ``syncd status``), resume when the quota window rolls over; the count
survives a restart; quota headers from the API count what other tools spent."""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from daemon_support import Daemon, edit
from e2e_support import LEFT_TOKEN, RIGHT_TOKEN, Pair

from syncd.sampleapp import AuthMode, Quota


def at(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["timestamp"]).timestamp()


def budget_of(d: Daemon, app_url: str) -> dict[str, Any]:
    [entry] = [b for b in d.integration("pair")["budget"] if f"@{app_url}#" in b["account"]]
    return entry


def test_scheduled_cycles_pause_at_80_percent_and_resume_when_the_window_rolls_over(pair, daemon) -> None:
    p = pair(left_n=3)
    # 6 requests per 12-second window: at 5 (83 %) scheduled cycles wait.
    p.connector(rate_limit={"daily_limit": 6, "quota": {"window": "12 seconds"}})
    p.write(extra="schedule: every 1 second\n")
    d = daemon(p)
    # A window may roll over just after the pause began; each window pauses
    # again once its count reaches 5, so look at the next pause then.
    for seen in range(1, 4):
        paused = d.wait_for("scheduled cycles paused", count=seen, timeout=40)[-1]
        entry = d.integration("pair")
        if entry["paused"] is not None:
            break
    assert paused["integration"] == "pair"
    assert paused["reason"].startswith("API budget of sampleapp at ")
    assert "% (scheduled cycles run below 80%) until " in paused["reason"]
    assert entry["paused"] is not None and entry["paused"].startswith("API budget of sampleapp at ")
    over = [b for b in entry["budget"] if b["percent"] >= 80]
    assert over and all(b["limit"] == 6 and b["source"] == "syncd" and b["connector"] == "sampleapp"
                        for b in entry["budget"])
    assert entry["next_run"] == max(b["window_resets_at"] for b in over)
    resumed = d.wait_for("scheduled cycles resumed", count=seen, timeout=30)[-1]
    d.wait_until(lambda: any(at(e) > at(resumed) for e in d.named("cycle finished")), what="a cycle after resuming")
    # Held back, it sent nothing: no request between the pause and the resumption.
    quiet = [r for app in (p.left, p.right) for r in app.requests if at(paused) < r.time < at(resumed)]
    assert quiet == []
    shown = d.cli("status", "--json")
    assert shown.returncode == 0, shown.stderr
    budget = json.loads(shown.stdout)["integrations"][0]["budget"]
    assert len(budget) == 2 and {b["account"].split("#")[0] for b in budget} == {
        f"sampleapp@{p.left.url}", f"sampleapp@{p.right.url}"}
    assert d.stop() == 0


def test_a_cycle_that_crosses_the_tier_stops_at_its_next_checkpoint(pair, daemon) -> None:
    p = pair(left_n=800)  # 8 pages of 100 on the left
    p.connector(rate_limit={"daily_limit": 5})
    p.write(extra="schedule: every 1 hour\n")
    d = daemon(p)
    [stopped] = d.wait_for("cycle stopped at a checkpoint")
    [paused] = d.wait_for("scheduled cycles paused")
    assert at(stopped) <= at(paused)
    entry = d.integration("pair")
    assert entry["last_result"] == "stopped" and entry["state"] == "waiting"
    assert entry["paused"] is not None and "scheduled cycles run below 80%" in entry["paused"]
    # it stopped reading at 4 of 5 requests (the page read ahead may have gone out too)
    assert 4 <= len(p.left.requests) <= 5 and len(p.right.store) < 800
    # An operator's `syncd sync` spends the budget as they decide: the cycle runs, whole.
    synced = d.cli("sync", "pair")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert len(p.right.store) == 800
    entry = d.integration("pair")
    assert entry["last_origin"] == "manual" and entry["last_result"] == "ok"
    assert entry["paused"] is not None  # scheduled cycles still wait for the window
    assert d.stop() == 0


def test_the_windows_count_survives_a_restart(pair, daemon) -> None:
    p = pair(left_n=4)
    p.connector(rate_limit={"daily_limit": 100000})
    p.write(extra="schedule: every 1 hour\n")
    d = daemon(p)
    d.wait_for("cycle finished")
    first = budget_of(d, p.left.url)
    assert first["used"] == len(p.left.requests) > 0 and first["source"] == "syncd"
    assert d.stop() == 0
    # Without a daemon, `syncd status` reads the count from the state store.
    shown = p.syncd("status", "--json")
    assert shown.returncode == 0, shown.stderr
    [stored] = [b for b in json.loads(shown.stdout)["integrations"][0]["budget"] if f"@{p.left.url}#" in b["account"]]
    assert stored == first
    d = daemon(p)
    # The restarted daemon keeps the hour's slot of its last cycle: a cycle now is asked for.
    synced = d.cli("sync", "pair")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    # every request the app ever had from syncd, from both daemons: counted on, not from zero
    after = budget_of(d, p.left.url)
    assert after["used"] == len(p.left.requests) > first["used"]
    assert after["percent"] == round(100 * after["used"] / 100000, 1)
    assert d.stop() == 0


def test_quota_headers_count_another_tools_requests_and_new_tiers_apply_at_a_reload(
        sample_app, tmp_path, daemon) -> None:
    left = sample_app(n=3, auth=AuthMode.BEARER, token=LEFT_TOKEN, seed=1, quota=Quota(100))
    right = sample_app(n=0, auth=AuthMode.BEARER, token=RIGHT_TOKEN, seed=2)
    p = Pair(left, right, tmp_path / "config",
             daemon_settings="log: {level: debug}\nbudgets: {scheduled_below_percent: 80}\n")
    p.connector(rate_limit={"quota": {"remaining_header": "X-RateLimit-Remaining",
                                      "limit_header": "X-RateLimit-Limit",
                                      "reset_header": "X-RateLimit-Reset", "reset": "seconds"}})
    p.write(extra="schedule: every 1 second\n")
    d = daemon(p)
    d.wait_for("cycle finished")
    ours = budget_of(d, left.url)
    assert ours["limit"] == 100 and ours["source"] == "api"
    # Another tool on the same account spends 79 requests.
    with httpx.Client(base_url=left.url, headers={"Authorization": f"Bearer {LEFT_TOKEN}"}) as tool:
        for _ in range(79):
            tool.get("/contacts/search", params={"email": "nobody@example.com"})
    [paused] = d.wait_for("scheduled cycles paused", timeout=30)
    entry = d.integration("pair")
    spent = budget_of(d, left.url)
    # what the API says: syncd's requests and the tool's (all of them, or
    # those sent before syncd's last request, if the tool was still at it)
    assert 80 <= spent["used"] <= len(left.requests) and spent["source"] == "api"
    assert spent["used"] > len(left.requests) - 79  # more than syncd's own
    assert spent["percent"] == round(100 * spent["used"] / 100, 1) >= 80
    assert entry["paused"] is not None and entry["paused"].startswith("API budget of sampleapp at ")
    # the right app sends no quota headers and has no daily_limit: no budget, no percentage
    assert budget_of(d, right.url)["limit"] is None and budget_of(d, right.url)["percent"] is None
    # A higher tier, saved: applied without a restart, and scheduled cycles run again.
    edit(p.config / "syncd.yaml", "scheduled_below_percent: 80", "scheduled_below_percent: 100")
    d.send(signal.SIGHUP)
    [applied] = d.wait_for("reload applied")
    assert applied["restart_needed"] == []
    [resumed] = d.wait_for("scheduled cycles resumed")
    d.wait_until(lambda: any(at(e) > at(resumed) for e in d.named("cycle finished")), what="a cycle after resuming")
    assert d.integration("pair")["paused"] is None
    assert at(paused) < at(resumed)
    assert d.stop() == 0


def test_syncd_status_prints_each_accounts_budget(pair, daemon) -> None:
    p = pair(left_n=2)
    p.connector(rate_limit={"daily_limit": 1000})
    p.write(extra="schedule: every 1 hour\n")
    d = daemon(p)
    d.wait_for("cycle finished")
    used = len(p.left.requests)
    shown = d.cli("status")
    assert shown.returncode == 0, shown.stderr
    [line] = [line for line in shown.stdout.splitlines() if f"@{p.left.url}#" in line]
    resets = datetime.fromtimestamp(budget_of(d, p.left.url)["window_resets_at"], UTC)
    assert line.startswith(f"  API budget sampleapp@{p.left.url}#")
    assert line.endswith(f": {used} of 1000 requests ({round(100 * used / 1000, 1):g}%); resets "
                         f"{resets:%Y-%m-%d} 00:00:00 UTC")
    assert "paused:" not in shown.stdout
    assert d.stop() == 0


def test_a_bulk_waits_above_its_tier_while_scheduled_cycles_go_on_and_ends_in_the_next_window(
        sample_app, tmp_path, daemon) -> None:
    window = 10
    left = sample_app(n=3, auth=AuthMode.BEARER, token=LEFT_TOKEN, seed=1, quota=Quota(100, window))
    right = sample_app(n=0, auth=AuthMode.BEARER, token=RIGHT_TOKEN, seed=2)
    p = Pair(left, right, tmp_path / "config", daemon_settings="log: {level: debug}\n")  # tiers: 40 and 80
    p.connector(rate_limit={"quota": {"remaining_header": "X-RateLimit-Remaining",
                                      "limit_header": "X-RateLimit-Limit",
                                      "reset_header": "X-RateLimit-Reset", "reset": "seconds"}})
    p.write(extra="schedule: every 1 hour\n")
    d = daemon(p)
    d.wait_for("cycle finished")
    # At the start of a quota window (the app's, as syncd's, start at
    # multiples of its length), another tool spends half the quota.
    d.wait_until(lambda: time.time() % window < 3, timeout=window + 5, what="a new quota window")
    with httpx.Client(base_url=left.url, headers={"Authorization": f"Bearer {LEFT_TOKEN}"}) as tool:
        for _ in range(50):
            tool.get("/contacts/search", params={"email": "nobody@example.com"})

    started = d.cli("bulk", "pair", "start", "--no-wait")

    assert started.returncode == 0, started.stderr
    d.wait_until(lambda: "API budget of sampleapp at " in ((d.integration("pair")["bulk"] or {}).get("message") or ""),
                 timeout=10, what="the bulk held back by its tier")
    entry = d.integration("pair")
    assert entry["bulk"]["state"] == "running" and entry["bulk"]["done"] == 0
    assert "(bulk syncs run below 40%)" in entry["bulk"]["message"]
    assert entry["paused"] is None  # scheduled cycles run below 80 %: not held back
    assert 40 <= budget_of(d, left.url)["percent"] < 80
    # The window rolls over: the bulk goes on and ends.
    d.wait_until(lambda: d.integration("pair")["bulk"]["state"] == "done", timeout=window + 15, what="the bulk")
    bulk = d.integration("pair")["bulk"]
    assert (bulk["done"], bulk["total"], bulk["failed"]) == (3, 3, 0)
    assert d.stop() == 0
