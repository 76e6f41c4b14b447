"""The real daemon with its state in PostgreSQL, and the server hangs (the
whole throwaway cluster frozen with SIGSTOP: connections and packets still
acknowledged by the kernel, no answer ever).

Before ``state.timeout``, the daemon's event loop waited inside the store's
call for as long as the server hung: the control socket, the metrics, the
webhooks, every integration and systemd's watchdog pings with it (under
the shipped unit, a hang of a minute had systemd kill the daemon). Now the
call gives up after the timeout, the daemon goes on answering, its cycles
fail at once naming the reason, and once the server answers it syncs what
changed meanwhile by itself; its log says it once, not at every status
call, in JSON lines only.
"""

from __future__ import annotations

import time

from e2e_support import emails
from pg_cluster import Cluster

from syncd.daemon import call_daemon


def test_a_database_that_hangs_never_holds_the_daemon_and_it_syncs_again_once_it_answers(
        pair, daemon, pg_url: str, pg_cluster: Cluster) -> None:
    p = pair(left_n=4)
    p.daemon_settings = f"state: {{url: '{pg_url}', timeout: 2}}\n"
    p.write(extra="schedule: every 2 seconds\n")
    d = daemon(p).ready(timeout=60)
    d.wait_for("cycle finished", timeout=60)
    assert emails(p.left) == emails(p.right)

    answered: list[tuple[float, float]] = []  # (when, how long) each status call, while the server hung
    with pg_cluster.frozen():
        p.left.store.create({"email": "during@example.com", "first_name": "During"})
        frozen_at = time.monotonic()
        while time.monotonic() - frozen_at < 8:
            start = time.monotonic()
            code, body = call_daemon(d.socket, "GET", "/v1/status", timeout=5)  # raises if no answer in 5 s
            answered.append((start - frozen_at, time.monotonic() - start))
            assert code == 200
            time.sleep(0.2)
        failed = [e for e in d.named("cycle failed") if "no answer within 2 s" in e["error"]]
        assert failed, d.text()[-3000:]
        entry = d.integration("pair")
        assert entry["last_result"] == "failed" and "not asked: no answer within 2 s" in entry["last_error"]
    print(f"\n[pg frozen] {len(answered)} status calls during the freeze: the slowest "
          f"{max(took for _, took in answered):.2f} s, from 5 s on "
          f"{max(took for at, took in answered if at > 5):.3f} s")
    # the daemon's first call after the freeze (a cycle's, within its 2 s) may hold it for the
    # timeout; none after it does
    assert max(took for _, took in answered) < 4.5, answered
    assert max(took for at, took in answered if at > 5) < 1.0, answered

    # each status call read every integration's state and failed: logged once each, not per call
    assert len(d.named("could not read the last cycle")) <= 2, d.named("could not read the last cycle")
    assert len(d.named("could not read the bulk sync's progress")) <= 2
    d.wait_until(lambda: "during@example.com" in emails(p.right), timeout=20, what="the change made meanwhile")
    assert emails(p.left) == emails(p.right)
    assert len(p.right.store.all()) == 5  # nothing created twice
    assert d.stop() == 0
    # psycopg's pool logs its reconnection attempts through the standard library: JSON lines too
    assert [line for line in d.text().splitlines() if not line.startswith("{")] == []
    assert any(e.get("logger", "").startswith("psycopg") for e in d.events())
