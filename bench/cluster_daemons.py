"""Several daemons on one PostgreSQL database: 1,000 integrations run by
1, 2 and 3 daemons (the ``cluster:`` setting, docs/cluster.md).

The integrations are cheap on purpose, as in ``daemon_idle.py``: each joins
the left and the right app of one of ``--pairs`` pairs of sample apps (their
own processes on 127.0.0.1, the same contacts on both sides, so no cycle
writes), every minute. The point is the daemons' overhead. For each number
of daemons D, on a fresh database of a throwaway PostgreSQL server this
script starts itself (``pg_server.py``, PostgreSQL's durability defaults;
never a shared server):

- D ``syncd run`` processes are launched together, each with a config
  directory of its own (the same integrations; ``cluster: {lease_seconds,
  name}``; ``state.url`` the one database), as D hosts would run them;
- **leases shared**: from the launch until the lease table first shows D
  live members each holding its share (issue 14's bound: 60 s);
- **time to balance**: from the launch until the lease table (``leases``,
  ``cluster_daemons``, read with the database's clock) shows D live members
  each holding its share (⌊N/D⌋ or one more) of the N integrations and
  every integration has finished a cycle;
- then ``--window`` seconds (default 300) are watched: cycles per minute in
  total (the state's ``cycles`` table) and per daemon (each daemon's log),
  CPU per cycle (utime + stime of the daemon processes over the cycles,
  ``/proc/PID/stat``), each daemon's CPU share, the PostgreSQL server's own
  CPU (the postmaster and its backends), lease acquisitions in the window
  (the fencing tokens' sum grows by one for each: a balanced cluster makes
  none), how long the cycles started in the window take (p50 and p99,
  from the logs: a daemon that cannot keep up makes cycles wait their
  turn; the first round's cycles ending in the window are not counted), and how busy the whole machine was (``/proc/stat``).

D = 0 is the baseline, measured first on the same apps: one daemon on a
SQLite file, no database and no leases (``daemon_idle.py``'s setting).

    .venv/bin/python bench/cluster_daemons.py                 # N = 1,000; SQLite, then 1, 2, 3 daemons; 5 min each
    .venv/bin/python bench/cluster_daemons.py --quick         # a smoke test: 12 integrations; SQLite, 1 and 2 daemons
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg
from daemon_idle import (Daemon, Processes, cpu_seconds, integration, interruptible, machine_busy, percentile,
                         start_apps, write_config)
from pg_server import Cluster, postgres

REPO = Path(__file__).resolve().parents[1]


def schedule(interval: float) -> str:
    return "every 1 minute" if interval == 60 else f"every {interval:g} seconds"


def lease_view(url: str) -> dict[str, Any]:
    """The lease tables now, by the database's clock."""
    with psycopg.connect(url, autocommit=True) as conn:
        members = conn.execute(
            "SELECT count(*) FROM cluster_daemons WHERE expires_at > clock_timestamp()").fetchone()
        held = conn.execute(
            """SELECT daemon_id, count(*) FROM leases
               WHERE daemon_id IS NOT NULL AND expires_at > clock_timestamp() GROUP BY daemon_id""").fetchall()
        tokens = conn.execute("SELECT coalesce(sum(token), 0) FROM leases").fetchone()
        ran = conn.execute("SELECT count(DISTINCT integration) FROM cycles").fetchone()
    assert members and tokens and ran
    return {"members": int(members[0]), "held": {str(d): int(c) for d, c in held}, "tokens": int(tokens[0]),
            "ran": int(ran[0])}


def balanced(view: dict[str, Any], n: int, d: int) -> bool:
    shares = sorted(view["held"].values())
    return (view["members"] == d and len(shares) == d and sum(shares) == n
            and shares[0] == n // d and shares[-1] == -(-n // d))


def cycles_between(url: str, t0: float, t1: float) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM cycles WHERE ended_at >= to_timestamp(%s) AND ended_at < to_timestamp(%s)",
                           (t0, t1)).fetchone()
    assert row
    return int(row[0])


def server_cpu(cluster: Cluster) -> float:
    """CPU seconds of the PostgreSQL server: the postmaster and its children
    alive now (a backend that ended in between takes its CPU with it: the
    daemons' pools keep theirs)."""
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    total = cpu_seconds(postmaster)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == postmaster:
                        total += cpu_seconds(int(entry))
            except (OSError, ValueError):
                continue  # ended meanwhile
    return total


def measure(cluster: Cluster, folder: Path, urls: dict[str, str], *, n: int, d: int, pairs: int, window: float,
            interval: float, lease_seconds: float, procs: Processes) -> dict[str, Any]:
    """D daemons on a fresh database; D = 0: the baseline, one daemon on a
    SQLite file (no database, no leases)."""
    sqlite = d == 0
    url = "" if sqlite else cluster.new_database()
    integrations = [integration(f"c-{i:04d}", urls[f"l{i % pairs}"], urls[f"r{i % pairs}"],
                                schedule=schedule(interval)) for i in range(n)]
    configs, logs = [], []
    for k in range(max(d, 1)):
        config = folder / f"d{d}" / f"host{k + 1}"
        if sqlite:
            write_config(config, folder / f"d{d}" / "state.db", integrations)
        else:
            write_config(config, {"url": url}, integrations,
                         {"cluster": {"lease_seconds": lease_seconds, "name": f"bench-{d}-{k + 1}"}})
        configs.append(config)
        logs.append(folder / f"d{d}" / f"log{k + 1}")  # outside the watched config dir
        logs[-1].mkdir()
    launched = time.time()
    daemons = [Daemon(procs, config, log) for config, log in zip(configs, logs)]
    try:
        # Balance: every member holds its share and every integration has run once.
        deadline = time.monotonic() + 180 + n * 0.2 + 3 * lease_seconds
        shared: float | None = None  # when the leases alone were first shared out (issue 14's 60 s)
        while True:
            ran: set[str] = set()
            for daemon in daemons:
                daemon.poll()
                daemon.check_alive("balance")
                ran.update(e["integration"] for e in daemon.events if e.get("event") == "cycle finished")
            view = None if sqlite else lease_view(url)
            if shared is None and view is not None and balanced(view, n, d):
                shared = time.time() - launched
            if len(ran) == n and (view is None or balanced(view, n, d)):
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"{d} daemons not balanced: {view}, {len(ran)} of {n} integrations ran; "
                                 f"logs: {[str(x.log_path) for x in daemons]}")
            time.sleep(0.25)
        balance = time.time() - launched

        t0 = time.time()
        cpu0 = [cpu_seconds(x.pid) for x in daemons]
        pg0, busy0 = server_cpu(cluster), machine_busy()
        while time.time() < t0 + window:
            for daemon in daemons:
                daemon.poll()
                daemon.check_alive("the end of the window")
            time.sleep(min(1.0, max(0.0, t0 + window - time.time())))
        t1 = time.time()
        cpu1 = [cpu_seconds(x.pid) for x in daemons]
        pg1, busy1 = server_cpu(cluster), machine_busy()
        end = None if sqlite else lease_view(url)
        for daemon in daemons:
            daemon.poll()
    finally:
        stopping = time.time()
        for daemon in daemons:  # all at once, as an orchestrator stops a deployment
            if daemon.proc.poll() is None:
                daemon.proc.send_signal(signal.SIGTERM)
        for daemon in daemons:
            with contextlib.suppress(subprocess.TimeoutExpired):
                daemon.proc.wait(60)
            daemon.poll()  # what the clean stop logged, before stop() closes the log
        codes = [daemon.stop() for daemon in daemons]
    if any(codes):
        raise SystemExit(f"syncd run exited {codes}; logs: {[str(x.log_path) for x in daemons]}")
    span = t1 - t0
    per_daemon = [sum(1 for e in x.events if e.get("event") == "cycle finished" and t0 <= e.get("t", 0) < t1)
                  for x in daemons]
    # The state's own count (SQLite: the logs' one): a cycle two daemons ran would show in both logs.
    total = sum(per_daemon) if sqlite else cycles_between(url, t0, t1)
    cpu = [b - a for a, b in zip(cpu0, cpu1)]
    # How long a cycle takes from its start: one that waits its turn on a busy daemon shows here.
    # Cycles that started in the window: not those of the start-up's first round that end in it.
    seconds = [e["seconds"] for x in daemons for e in x.events
               if e.get("event") == "cycle finished" and t0 <= e.get("t", 0) - e["seconds"] and e.get("t", 0) < t1]
    return {
        "cycle_s": (percentile(seconds, 0.5), percentile(seconds, 0.99)),
        "d": d, "n": n, "window": span, "balance": balance, "shared": shared, "cycles": total, "per_minute": 60 * total / span,
        "per_daemon_per_minute": [60 * c / span for c in per_daemon], "logged": sum(per_daemon),
        "cpu": sum(cpu), "cpu_pct": [100 * c / span for c in cpu],
        "cpu_ms_per_cycle": 1000 * sum(cpu) / total if total else float("nan"),
        "pg_cpu_pct": 100 * (pg1 - pg0) / span,
        "pg_ms_per_cycle": 1000 * (pg1 - pg0) / total if total else float("nan"),
        "acquisitions": None if end is None or view is None else end["tokens"] - view["tokens"],
        "balanced_at_end": end is None or balanced(end, n, d),
        "machine_pct": 100 * (busy1[0] - busy0[0]) / (busy1[1] - busy0[1]) * (os.cpu_count() or 1),
        "failures": sum(1 for x in daemons for e in x.failures() if e.get("t", 0) < stopping),
        "stop_errors": sum(1 for x in daemons for e in x.failures() if e.get("t", 0) >= stopping),
    }


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return done.stdout.strip() or "?"


def report(rows: list[dict[str, Any]], command: str, *, interval: float, lease_seconds: float) -> None:
    load = os.getloadavg()
    print(f"\n```bash\n{command}\n```\n")
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, commit {commit()}, {os.cpu_count()} cores, "
          f"load average at the end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min); "
          f"schedule {schedule(interval)} (about {rows[0]['n'] * 60 / interval:,.0f} cycles a minute due), "
          f"lease_seconds {lease_seconds:g}\n")
    print("| daemons | integrations | leases shared s | time to balance s | window s | cycles per minute (per daemon) "
          "| CPU ms per cycle (daemons) | daemons' CPU % of one core (each) | PostgreSQL CPU % (ms per cycle) "
          "| cycle s p50 / p99 | lease acquisitions in the window | whole machine % of one core |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        label = "1, SQLite (baseline)" if r["d"] == 0 else str(r["d"])
        acquisitions = "–" if r["acquisitions"] is None else str(r["acquisitions"])
        shared = "–" if r["shared"] is None else f"{r['shared']:.1f}"
        print(f"| {label} | {r['n']:,} | {shared} | {r['balance']:.1f} | {r['window']:.0f} "
              f"| {r['per_minute']:,.0f} ({', '.join(f'{x:,.0f}' for x in r['per_daemon_per_minute'])}) "
              f"| {r['cpu_ms_per_cycle']:.2f} | {sum(r['cpu_pct']):.1f} ({', '.join(f'{x:.1f}' for x in r['cpu_pct'])}) "
              f"| {r['pg_cpu_pct']:.1f} ({r['pg_ms_per_cycle']:.2f}) | {r['cycle_s'][0]:.3f} / {r['cycle_s'][1]:.3f} | {acquisitions} | {r['machine_pct']:.0f} |")
    base = rows[0]
    if len(rows) > 1:
        name = "one daemon on SQLite" if base["d"] == 0 else f"{base['d']} daemon(s)"
        print(f"\nagainst {name}: " + "; ".join(
            f"{r['d']} daemon(s) {r['cpu_ms_per_cycle'] / base['cpu_ms_per_cycle']:.2f}x the CPU per cycle, "
            f"{r['per_minute'] / base['per_minute']:.2f}x the cycles per minute" for r in rows[1:]))
    for r in rows:
        problems = []
        if r["failures"]:
            problems.append(f"{r['failures']} failed or aborted cycles / error events")
        if not r["balanced_at_end"]:
            problems.append("not balanced at the end of the window")
        if r["stop_errors"]:
            problems.append(f"{r['stop_errors']} failed cycles / error events during the clean stop (SIGTERM)")
        # One or two apart: a cycle at the window's edge, timed by the log and by the state.
        if abs(r["logged"] - r["cycles"]) > r["d"]:  # more: a cycle logged twice (two owners) or not recorded
            problems.append(f"{r['logged']} cycles in the logs against {r['cycles']} in the cycles table")
        if problems:
            print(f"\n{r['d'] or 'SQLite, 1'} daemon(s): " + "; ".join(problems))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--integrations", type=int, default=1000, help="N (default 1,000)")
    ap.add_argument("--daemons", type=int, nargs="+", default=[0, 1, 2, 3],
                    help="numbers of daemons (0 1 2 3); 0 is the baseline: one daemon on a SQLite file")
    ap.add_argument("--window", type=float, default=300.0, help="seconds watched after balance (default 300)")
    ap.add_argument("--interval", type=float, default=60.0, help="each integration's schedule, seconds (60)")
    ap.add_argument("--lease-seconds", type=float, default=20.0, help="cluster.lease_seconds (default 20)")
    ap.add_argument("--pairs", type=int, default=10, help="pairs of sample apps (default 10)")
    ap.add_argument("--contacts", type=int, default=10, help="contacts in each app (default 10)")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke test: 12 integrations every 5 s, 2 pairs, 0 1 2 daemons, a 5 s window, leases of 3 s")
    ap.add_argument("--pg-fast", action="store_true",
                    help="keep the test suite's fsync=off and synchronous_commit=off (not what a server does)")
    args = ap.parse_args()
    if args.quick:
        args.integrations, args.daemons, args.window, args.interval = 12, [0, 1, 2], 5.0, 5.0
        args.lease_seconds, args.pairs, args.contacts = 3.0, 2, 5
    if args.window < args.interval:
        # Every integration has just run when the window opens: none is due again within it.
        ap.error(f"--window ({args.window:g} s) must be at least --interval ({args.interval:g} s): "
                 "no cycle falls due in a shorter window")
    command = shlex.join([".venv/bin/python", "bench/cluster_daemons.py", *sys.argv[1:]])
    rows = []
    try:
        with interruptible(), tempfile.TemporaryDirectory(prefix="syncd-bench-") as tmp, \
                postgres(durable=not args.pg_fast) as cluster, Processes() as procs:
            folder = Path(tmp)
            urls = start_apps(procs, folder, [(f"{side}{p}", args.contacts, p)
                                              for p in range(args.pairs) for side in "lr"])
            for d in args.daemons:
                print(f"{d or 'SQLite, 1'} daemon(s), N={args.integrations:,}: balance, then a {args.window:.0f} s window ...",
                      file=sys.stderr, flush=True)
                rows.append(measure(cluster, folder, urls, n=args.integrations, d=d, pairs=args.pairs,
                                    window=args.window, interval=args.interval, lease_seconds=args.lease_seconds,
                                    procs=procs))
                print(f"  balanced in {rows[-1]['balance']:.1f} s; {rows[-1]['per_minute']:,.0f} cycles/min, "
                      f"{rows[-1]['cpu_ms_per_cycle']:.2f} ms CPU per cycle", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print("interrupted: every process it started is stopped", file=sys.stderr)
        return 130
    report(rows, command, interval=args.interval, lease_seconds=args.lease_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
