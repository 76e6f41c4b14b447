"""Webhooks: from a signed call to the change visible in the other app, under a burst.

``syncd run`` joins two sample apps (each its own process): R contacts
(default 100) on the left, copied to the empty right app by the first
cycle; the schedule is an hour away, so only webhooks move anything after.
Then a burst of N webhooks (default 1,000) over the R contacts: for each,
the benchmark edits one contact in the left app (``PATCH``, a new
``last_name`` carrying a sequence number per contact) and POSTs the
signed event the app would send (HMAC-SHA256 over ``TIMESTAMP.BODY``,
the full record in ``data``) to ``/webhooks/bench/left``, from W threads
at once (default 4). A poller reads the right app's contacts (``GET
/all/contacts``) in a loop; a webhook's change is visible at the first read that shows
its contact's sequence number or a later one (a later edit of the same
contact carries it, coalesced or not). Latency: POST sent → visible.

The baseline, in the same run: the same edit followed by ``syncd sync
bench`` (a manual cycle through the daemon, what one does without
webhooks), edit → visible, B times (default 5).

    .venv/bin/python bench/webhooks.py                       # 1,000 webhooks over 100 contacts
    .venv/bin/python bench/webhooks.py --webhooks 10000 --records 1000 --workers 8
    .venv/bin/python bench/webhooks.py --quick --json /tmp/hooks.json   # 100 over 20 contacts, 2 baseline edits

``--json PATH`` writes p50, p99 and max in ms (``webhook_p99_ms``...), the
baseline's median and the ratios to it.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from figures import write_figures
from daemon_idle import TOKEN, Daemon, Processes, integration, interruptible, start_apps, write_config

from syncd.sampleapp import config_yaml

SECRET = "sample-webhook-secret"  # the sample app's default --webhook-secret
NAME = "bench"
GOAL_P99_S = 1.0


class Client:
    """One kept-alive HTTP/1.1 connection (one per thread)."""

    def __init__(self, url: str) -> None:
        self.conn = http.client.HTTPConnection(urlsplit(url).netloc, timeout=30)

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        self.conn.request(method, path, data, {"Authorization": f"Bearer {TOKEN}",
                                               "Content-Type": "application/json", **(headers or {})})
        answer = self.conn.getresponse()
        text = answer.read()
        if answer.status >= 300 and answer.status != 202:
            raise SystemExit(f"{method} {path}: {answer.status} {text[:200]!r}")
        return json.loads(text) if text else None


def signed(record: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"type": "contact.updated", "object_id": record["id"], "data": record}).encode()
    stamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return body, {"X-Sampleapp-Timestamp": stamp, "X-Sampleapp-Signature": f"sha256={digest}"}


class Poller(threading.Thread):
    """Reads the right app's contacts in a loop: when each (email, sequence) was first seen."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.client = Client(url)
        self.seen: dict[str, list[tuple[int, float]]] = {}  # email -> [(sequence, first seen)]
        self.stop = threading.Event()
        self.reads = 0

    def run(self) -> None:
        while not self.stop.is_set():
            page = self.client.call("GET", "/all/contacts")
            at = time.time()
            self.reads += 1
            for c in page:
                seq = sequence(c.get("last_name"))
                history = self.seen.setdefault(c["email"], [])
                if seq is not None and (not history or history[-1][0] != seq):
                    history.append((seq, at))

    def visible_at(self, email: str, seq: int) -> float | None:
        """When the right app first showed *seq* or a later one for *email*."""
        for s, at in self.seen.get(email, []):
            if s >= seq:
                return at
        return None


def sequence(last_name: Any) -> int | None:
    if isinstance(last_name, str) and last_name.startswith("hook-"):
        return int(last_name[5:])
    return None


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def measure(n: int, records: int, workers: int, baseline_runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="syncd-bench-") as tmp, Processes() as procs:
        folder = Path(tmp)
        urls = start_apps(procs, folder, [("left", records, 1), ("right", 0, 2)])
        config = folder / "config"
        bench = integration(NAME, urls["left"], urls["right"], schedule="every 1 hour")
        bench["left"]["settings"]["webhook_secret"] = "${env:BENCH_WEBHOOK_SECRET}"
        write_config(config, folder / "state.db", [bench])
        (config / "syncd.yaml").write_text(config_yaml({
            "state": {"path": str(folder / "state.db")}, "log": {"level": "info"},
            "webhooks": {"enabled": True, "listen": "127.0.0.1:0"}}, kind="syncd"))
        os.environ["BENCH_WEBHOOK_SECRET"] = SECRET  # the daemon's environment is this one's
        daemon = Daemon(procs, config, folder)
        try:
            started = daemon.wait_for("syncd started", timeout=120)
            route = f"{started['webhooks']}/webhooks/{NAME}/left"
            daemon.wait_for("cycle finished", integration=NAME, timeout=120)
            contacts = Client(urls["left"]).call("GET", "/all/contacts")
            poller = Poller(urls["right"])
            poller.start()

            # The baseline: an edit, then `syncd sync` (a manual cycle) until it shows.
            base = []
            editor = Client(urls["left"])
            for i in range(baseline_runs):
                c = contacts[i % len(contacts)]
                seq = 1_000_000 + i
                at = time.time()
                editor.call("PATCH", f"/contacts/{c['id']}", {"last_name": f"hook-{seq}"})
                result = daemon.cli("sync", NAME)
                if result.returncode != 0:
                    raise SystemExit(f"syncd sync failed: {result.stderr}")
                while poller.visible_at(c["email"], seq) is None:
                    time.sleep(0.002)
                base.append(poller.visible_at(c["email"], seq) - at)  # type: ignore[operator]

            # The burst: W threads, each edit then its webhook, as fast as they go.
            sent: list[tuple[str, int, float]] = []  # (email, sequence, POST sent at)
            lock = threading.Lock()
            counter = iter(range(n))

            def work() -> None:
                app, hook = Client(urls["left"]), Client(route)
                path = urlsplit(route).path
                for i in counter:
                    c = contacts[i % len(contacts)]
                    seq = 2_000_000 + i
                    record = app.call("PATCH", f"/contacts/{c['id']}", {"last_name": f"hook-{seq}"})
                    body, headers = signed(record)
                    at = time.time()
                    hook.call("POST", path, body, headers)
                    with lock:
                        sent.append((c["email"], seq, at))

            burst_start = time.time()
            threads = [threading.Thread(target=work) for _ in range(workers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            burst_s = time.time() - burst_start
            deadline = time.time() + 60
            while any(poller.visible_at(e, s) is None for e, s, _ in sent):
                if time.time() > deadline:
                    raise SystemExit(f"changes never showed in the right app; log: {daemon.log_path}")
                time.sleep(0.01)
            poller.stop.set()
            latencies = [poller.visible_at(e, s) - at for e, s, at in sent]  # type: ignore[operator]
            daemon.poll()
            rounds = [e for e in daemon.events if e.get("event") == "webhook round"]
        finally:
            code = daemon.stop()
        if code != 0:
            raise SystemExit(f"syncd run exited {code}; log: {daemon.log_path}")
        return {"n": n, "records": records, "workers": workers, "latencies": latencies, "baseline": base,
                "burst_s": burst_s, "rounds": len(rounds), "synced": sum(e.get("records", 0) for e in rounds),
                "reads": poller.reads}


def figures(r: dict[str, Any]) -> dict[str, float]:
    lat, base = r["latencies"], statistics.median(r["baseline"])
    p50, p99 = percentile(lat, 50), percentile(lat, 99)
    return {"webhook_count": r["n"], "webhook_contacts": r["records"], "webhook_p50_ms": p50 * 1000,
            "webhook_p99_ms": p99 * 1000, "webhook_max_ms": max(lat) * 1000, "webhook_baseline_ms": base * 1000,
            "webhook_p50_vs_baseline": p50 / base, "webhook_p99_vs_baseline": p99 / base,
            "webhook_rounds": r["rounds"], "webhook_synced": r["synced"]}


def report(r: dict[str, Any], command: str) -> None:
    lat = r["latencies"]
    p50, p99, worst = percentile(lat, 50), percentile(lat, 99), max(lat)
    base = statistics.median(r["baseline"])
    print(f"\n```bash\n{command}\n```\n")
    print("| webhooks | contacts | senders | burst s (calls/s) | p50 ms | p99 ms | max ms | rounds "
          "| records synced | `syncd sync` baseline ms (median) | p50 / baseline | p99 / baseline |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"| {r['n']:,} | {r['records']:,} | {r['workers']} | {r['burst_s']:.2f} ({r['n'] / r['burst_s']:,.0f}) "
          f"| {p50 * 1000:.1f} | **{p99 * 1000:.1f}** | {worst * 1000:.1f} | {r['rounds']:,} | {r['synced']:,} "
          f"| {base * 1000:.0f} | {p50 / base:.3f}x | {p99 / base:.3f}x |")
    verdict = "met" if p99 < GOAL_P99_S else "NOT met"
    print(f"\ngoal p99 < {GOAL_P99_S:g} s: {verdict} ({p99:.3f} s); the right app was read {r['reads']:,} times")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--webhooks", type=int, default=1000, help="webhooks in the burst (default 1000)")
    ap.add_argument("--records", type=int, default=100, help="contacts they are spread over (default 100)")
    ap.add_argument("--workers", type=int, default=4, help="threads sending at once (default 4)")
    ap.add_argument("--baseline", type=int, default=5, help="edits synced by `syncd sync` (default 5)")
    ap.add_argument("--quick", action="store_true", help="100 webhooks over 20 contacts, 2 baseline edits")
    ap.add_argument("--json", metavar="PATH", help="write the figures as a flat JSON object")
    args = ap.parse_args()
    if args.quick:
        args.webhooks, args.records, args.baseline = 100, 20, 2
    with interruptible():
        result = measure(args.webhooks, args.records, args.workers, args.baseline)
    command = " ".join([".venv/bin/python", "bench/webhooks.py", *sys.argv[1:]])
    report(result, command)
    write_figures(args.json, figures(result), command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
