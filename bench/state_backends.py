"""The state store: SQLite against PostgreSQL, in one run, as ratios.

The same sample apps (their own processes on 127.0.0.1), the same
integration and the same ``syncd once --json`` processes as
``sync_cycle.py``, with the state in a SQLite file and in databases of a
throwaway PostgreSQL server this script starts itself (``pg_server.py``:
the test suite's cluster, restarted with PostgreSQL's durability defaults;
never a shared server), twice: as installed, and with ``synchronous_commit``
off for syncd's database (the durability SQLite's WAL with
``synchronous=NORMAL`` gives: a crash may lose the last commits, never
consistency). Each run's writing PostgreSQL transactions are counted
(transaction ids taken: only those wait for a flush at commit). Measured ``--repeats`` times, the stores in turn
(the first one turning from round to round), the median shown:

- the initial sync of ``--initial`` contacts (default 10,000) into an empty
  app, on a fresh state each time;
- at ``--no-change`` contacts (default 100,000): one state synced on SQLite
  (its initial sync and echo cycle timed, once) and copied into each
  PostgreSQL database by ``syncd state copy`` (timed); then the no-change
  cycle (reads what changed since the last one: nothing) and the full
  no-change cycle (``full_every`` come due: reads both sides in full and
  tells each record unchanged by its digest in the state).

A cycle that writes after the initial sync stops the benchmark.

    .venv/bin/python bench/state_backends.py            # the issue's sizes, 3 repeats (about 12 minutes)
    .venv/bin/python bench/state_backends.py --quick    # a smoke test: 200 and 500 contacts, 1 repeat

``--json PATH`` writes each measure's median seconds on each store
(``sqlite_initial_s``, ``pg_initial_s``, ``pg_async_initial_s``; ``_no_change_``,
``_full_``) and PostgreSQL's over SQLite's (``pg_initial_ratio``...).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg
from daemon_idle import interruptible
from figures import write_figures
from pg_server import Cluster, postgres
from sync_cycle import SPEC_OVERRIDE, integration, start_app, syncd, writes

from syncd.sampleapp import write_sample_config

REPO = Path(__file__).resolve().parents[1]
# PostgreSQL twice: as installed (a commit returns once its WAL is flushed),
# and with synchronous_commit off for syncd's database (a crash loses the
# last few hundred milliseconds of commits, never consistency: the guarantee
# SQLite's WAL with synchronous=NORMAL, syncd's setting, gives).
BACKENDS = ("sqlite", "postgresql", "postgresql-async")
LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "postgresql-async": "PostgreSQL, synchronous_commit off"}
Times = dict[str, list[float]]  # "MEASURE BACKEND" -> seconds of each run (and "commits MEASURE BACKEND")


class Run:
    """A scratch folder, the PostgreSQL server, and the apps started in it."""

    def __init__(self, folder: Path, cluster: Cluster) -> None:
        self.folder, self.cluster = folder, cluster
        self._count = 0

    def state(self, backend: str) -> dict[str, Any]:
        """A fresh, empty state of *backend*: ``state:`` for syncd.yaml."""
        if backend == "sqlite":
            return {"path": "state.db"}  # beside syncd.yaml: each config dir is new
        url = self.cluster.new_database()  # a copy of the template: syncd's schema, no rows
        if backend == "postgresql-async":
            with self.cluster.admin() as conn:
                conn.execute(f'ALTER DATABASE "{url.rsplit("/", 1)[1]}" SET synchronous_commit = off')
        return {"url": url}

    @contextlib.contextmanager
    def app(self, n: int) -> Iterator[str]:
        self._count += 1
        proc, url = start_app(n, self.folder, f"app{self._count}")
        try:
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    def config(self, label: str, left: str, right: str, state: dict[str, Any], full_every: str = "1 day") -> Path:
        config = self.folder / label
        (config / "connectors.d").mkdir(parents=True, exist_ok=True)
        shipped = (REPO / "connectors.d" / "sampleapp.yaml").read_text()
        assert SPEC_OVERRIDE[0] in shipped, "the shipped sample-app spec changed its rate_limit line"
        (config / "connectors.d" / "sampleapp.yaml").write_text(shipped.replace(*SPEC_OVERRIDE))
        write_sample_config(config, integration(left, right, full_every=full_every), daemon={"state": state})
        return config

    def once(self, times: Times, measure: str, backend: str, config: Path, state: dict[str, Any]) -> str:
        """``syncd once --json``, timed (and its PostgreSQL commits counted) under *measure*; its output."""
        before = next_xid(state["url"]) if "url" in state else 0
        wall, _, out = syncd(config, "once", "--json")
        times.setdefault(f"{measure} {backend}", []).append(wall)
        if "url" in state:
            times.setdefault(f"commits {measure} {backend}", []).append(next_xid(state["url"]) - before)
        return out


def next_xid(url: str) -> int:
    """The server's next transaction id. Only a transaction that writes takes
    one, and only such a commit waits for its WAL flush (with
    synchronous_commit on): the difference over a run counts its writing
    transactions (server-wide: nothing else uses this server meanwhile)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint").fetchone()
    assert row
    return int(row[0])


def order(round_: int) -> tuple[str, ...]:
    """Every store, the first one turning from round to round (drift on a shared machine evens out)."""
    k = round_ % len(BACKENDS)
    return BACKENDS[k:] + BACKENDS[:k]


def no_writes(out: str, what: str) -> None:
    if count := writes(out):
        raise SystemExit(f"{what} wrote {count} records (expected none)")


def initial_syncs(run: Run, times: Times, n: int, repeats: int) -> None:
    """Initial syncs of N contacts into an empty app, fresh state each time."""
    with run.app(n) as left:
        for r in range(repeats):
            for backend in order(r):
                with run.app(0) as right:
                    state = run.state(backend)
                    out = run.once(times, "initial", backend, run.config(f"initial-{backend}-{r}", left, right, state),
                                   state)
                    if writes(out) != n:
                        raise SystemExit(f"the initial sync ({backend}) wrote {writes(out)} records, not {n}")
                progress(f"initial sync N={n:,} {backend} {r + 1}/{repeats}: {times[f'initial {backend}'][-1]:.2f} s")


def no_change_cycles(run: Run, times: Times, n: int, repeats: int) -> None:
    """One synced state at N contacts, on SQLite, then copied into each
    PostgreSQL database (``syncd state copy``: the same rows, and the same
    apps, as nothing writes from now on); their quiet and full no-change
    cycles, store after store, round after round."""
    with run.app(n) as left, run.app(0) as right:
        lite = run.state("sqlite")
        config = run.config("steady-sqlite", left, right, lite)
        if writes(run.once(times, "first", "sqlite", config, lite)) != n:
            raise SystemExit(f"the initial sync at N={n:,} did not write {n} records")
        no_writes(run.once(times, "echo", "sqlite", config, lite), "the echo cycle")
        progress(f"initial sync and echo at N={n:,} on SQLite: {times['first sqlite'][0]:.2f} s, "
                 f"{times['echo sqlite'][0]:.2f} s")
        stores = {"sqlite": (lite, config)}
        for backend in BACKENDS[1:]:
            state = run.state(backend)
            wall, _, _ = syncd(config, "state", "copy", "--to", state["url"])
            times.setdefault(f"copy {backend}", []).append(wall)
            stores[backend] = (state, run.config(f"steady-{backend}", left, right, state))
            progress(f"syncd state copy to {backend}: {wall:.2f} s")
        for r in range(repeats):
            for backend in order(r):
                state, config = stores[backend]
                no_writes(run.once(times, "quiet", backend, config, state), f"a no-change cycle ({backend})")
                run.config(config.name, left, right, state, full_every="1 second")
                time.sleep(1.1)  # full_every come due
                no_writes(run.once(times, "full", backend, config, state), f"a full no-change cycle ({backend})")
                run.config(config.name, left, right, state)  # back to 1 day
                progress(f"no-change cycles N={n:,} {backend} {r + 1}/{repeats}: {times[f'quiet {backend}'][-1]:.2f} s, "
                         f"full {times[f'full {backend}'][-1]:.2f} s")


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return done.stdout.strip() or "?"


def spread(values: list[float]) -> str:
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.2f}"
    return f"{med:.2f} ({min(values):.2f}–{max(values):.2f})"


def report(times: Times, *, n_initial: int, n_steady: int, repeats: int, command: str) -> None:
    load = os.getloadavg()
    print(f"\n```bash\n{command}\n```\n")
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, commit {commit()}, {os.cpu_count()} cores, "
          f"load average at the end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min); "
          f"seconds: median of {repeats} (min–max), `syncd once` as a process, start-up included; "
          "commits: PostgreSQL transactions that wrote (each waits for a WAL flush with synchronous_commit on), median\n")
    head = ["measure", "N", "SQLite s"]
    for backend in BACKENDS[1:]:
        head += [f"{LABELS[backend]} s (commits)", "/ SQLite"]
    print("| " + " | ".join(head) + " |")
    print("| --- | " + " | ".join("---:" for _ in head[1:]) + " |")
    for key, label, n in (("initial", "initial sync, fresh state", n_initial), ("quiet", "no-change cycle", n_steady),
                          ("full", "full no-change cycle (`full_every` due)", n_steady)):
        lite = times[f"{key} sqlite"]
        cells = [label, f"{n:,}", spread(lite)]
        for backend in BACKENDS[1:]:
            pg = times[f"{key} {backend}"]
            cells += [f"{spread(pg)} ({statistics.median(times[f'commits {key} {backend}']):,.0f})",
                      f"{statistics.median(pg) / statistics.median(lite):.2f}x"]
        print("| " + " | ".join(cells) + " |")
    rates = ", ".join(f"{n_initial / statistics.median(times[f'initial {b}']):,.0f} on {LABELS[b]}" for b in BACKENDS)
    print(f"\ninitial sync of {n_initial:,}, records/s: {rates}")
    print(f"at N={n_steady:,} on SQLite, one run: the initial sync {times['first sqlite'][0]:.2f} s, its echo cycle "
          f"{times['echo sqlite'][0]:.2f} s; `syncd state copy` of that state into PostgreSQL "
          + ", ".join(f"{times[f'copy {b}'][0]:.2f} s ({LABELS[b]})" for b in BACKENDS[1:]))


def figures(times: Times, *, n_initial: int, n_steady: int) -> dict[str, float]:
    """Medians and PostgreSQL/SQLite ratios, named for bench/all.py's table."""
    out: dict[str, float] = {"pg_n_initial": n_initial, "pg_n_no_change": n_steady}
    prefix = {"sqlite": "sqlite", "postgresql": "pg", "postgresql-async": "pg_async"}
    for key, name in (("initial", "initial"), ("quiet", "no_change"), ("full", "full")):
        lite = statistics.median(times[f"{key} sqlite"])
        for backend in BACKENDS:
            out[f"{prefix[backend]}_{name}_s"] = statistics.median(times[f"{key} {backend}"])
            if backend != "sqlite":
                out[f"{prefix[backend]}_{name}_ratio"] = out[f"{prefix[backend]}_{name}_s"] / lite
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--initial", type=int, default=10_000, metavar="N", help="contacts of the initial syncs (10,000)")
    ap.add_argument("--no-change", type=int, default=100_000, metavar="N",
                    help="contacts of the no-change cycles (100,000)")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each measure and store (3); the median is shown")
    ap.add_argument("--quick", action="store_true", help="a smoke test: --initial 200 --no-change 500 --repeats 1")
    ap.add_argument("--json", metavar="PATH", help="write the figures as a flat JSON object")
    args = ap.parse_args()
    if args.quick:
        args.initial, args.no_change, args.repeats = 200, 500, 1
    command = shlex.join([".venv/bin/python", "bench/state_backends.py", *sys.argv[1:]])
    times: Times = {}
    try:
        with interruptible(), tempfile.TemporaryDirectory(prefix="syncd-bench-") as tmp, postgres() as cluster:
            run = Run(Path(tmp), cluster)
            initial_syncs(run, times, args.initial, args.repeats)
            no_change_cycles(run, times, args.no_change, args.repeats)
    except KeyboardInterrupt:
        print("interrupted: every process it started is stopped", file=sys.stderr)
        return 130
    report(times, n_initial=args.initial, n_steady=args.no_change, repeats=args.repeats, command=command)
    write_figures(args.json, figures(times, n_initial=args.initial, n_steady=args.no_change), command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
