"""``syncd run`` keeps each account's connections from cycle to cycle, and
closes them: idle ones at a reload and once expired, all of them as it
stops. Watched from outside, in /proc: the daemon's own sockets to each app."""

from __future__ import annotations

import signal

from daemon_support import Daemon
from e2e_support import Pair
from proc_support import tcp_connections

from syncd.daemon import call_daemon

# Every ResourceWarning printed: an unclosed socket or transport shows in the log.
WARNINGS = {"PYTHONWARNINGS": "always::ResourceWarning"}


def connections(d: Daemon, port: int) -> set[int]:
    """The local ports of the daemon's open TCP sockets to 127.0.0.1:*port*."""
    return tcp_connections(d.proc.pid, port)


def synced(d: Daemon) -> None:
    """A cycle now, through the control socket (quicker than a `syncd sync` process: the
    connections kept must not expire, 5 s idle, between two of these)."""
    assert d.socket is not None
    code, body = call_daemon(d.socket, "POST", "/v1/integrations/pair/sync", body={"wait": True}, timeout=30)
    assert code == 200 and body.get("result") == "ok", body


def test_cycles_share_kept_connections_closed_at_reload_and_stop(pair, daemon) -> None:
    p: Pair = pair(left_n=3, extra="schedule: every 1 hour\n")
    d = daemon(p, env=WARNINGS)
    d.wait_for("cycle finished")
    synced(d)
    left, right = connections(d, p.left.port), connections(d, p.right.port)
    # between cycles: one connection to each app, open for the next cycle
    assert len(left) == 1 and len(right) == 1
    synced(d)
    assert connections(d, p.left.port) == left and connections(d, p.right.port) == right  # the same ones
    d.send(signal.SIGHUP)
    d.wait_for("reload applied", trigger="SIGHUP")
    # closed at the reload, long before they would expire (5 s idle)
    d.wait_until(lambda: not connections(d, p.left.port) and not connections(d, p.right.port), timeout=2,
                 what="the idle connections closed by the reload")
    synced(d)  # new ones for the next cycle
    assert connections(d, p.left.port) and connections(d, p.left.port) != left
    assert d.stop() == 0
    text = d.text()
    assert "ResourceWarning" not in text and "unclosed" not in text, text[-3000:]
    p.left.wait_idle(5)  # the apps' side: every connection closed by the daemon
    p.right.wait_idle(5)
