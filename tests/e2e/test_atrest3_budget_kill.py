"""The API budget holds across a crash: a daemon killed (SIGKILL) while its
cycles spend an account leaves a stored count no lower than the requests
the app saw (stored a few ahead, never behind), and the next daemon counts
on from there; a clean stop leaves it exact."""

from __future__ import annotations

import json
import signal

from daemon_support import Daemon
from e2e_support import Pair

from syncd.daemon._budgets import AHEAD_REQUESTS


def _stored(p: Pair) -> int:
    shown = p.syncd("status", "--json")  # no daemon: read from the state store
    assert shown.returncode == 0, shown.stderr
    [entry] = [b for b in json.loads(shown.stdout)["integrations"][0]["budget"] if f"@{p.left.url}#" in b["account"]]
    return int(entry["used"])


def test_a_killed_daemon_never_leaves_the_budget_under_counted(pair, daemon) -> None:
    p = pair(left_n=4)
    p.connector(rate_limit={"daily_limit": 100000})
    p.write(extra="schedule: every 1 second\n")
    d: Daemon = daemon(p)
    d.wait_for("cycle finished", count=6, timeout=60)
    d.stop(signal.SIGKILL)  # between two cycles (one a second, each a few ms): every request answered, counted
    made = len(p.left.requests)
    stored = _stored(p)
    assert made <= stored <= made + AHEAD_REQUESTS
    d = daemon(p)
    d.wait_for("cycle finished", count=2)
    assert d.stop() == 0
    assert _stored(p) == stored + len(p.left.requests) - made  # counted on from the stored row, exactly
