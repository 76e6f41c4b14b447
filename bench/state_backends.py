"""The state store: SQLite against PostgreSQL, in one run, as ratios.

The same sample apps (their own processes on 127.0.0.1), the same
integration and the same ``syncd once --json`` processes as
``sync_cycle.py``, once with the state in a SQLite file and once in a
PostgreSQL database of a throwaway server this script starts itself
(``pg_server.py``: the test suite's cluster, restarted with PostgreSQL's
durability defaults; never a shared server). Measured, each ``--repeats``
times alternating the two stores (the first of each round alternating
too), the median shown:

- the initial sync of ``--initial`` contacts (default 10,000) into an empty
  app, on a fresh state each time;
- at ``--no-change`` contacts (default 100,000), one synced state per
  store: the no-change cycle (reads what changed since the last one:
  nothing) and the full no-change cycle (``full_every`` come due: reads
  both sides in full and tells each record unchanged by its digest in the
  state). The initial sync and its echo (the next cycle, reading back what
  it wrote) at that size are shown too, one run each.

A cycle that writes after the initial sync stops the benchmark.

    .venv/bin/python bench/state_backends.py            # the issue's sizes, 5 repeats (about 10 minutes)
    .venv/bin/python bench/state_backends.py --quick    # a smoke test: 200 and 500 contacts, 1 repeat
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

from pg_server import Cluster, postgres
from sync_cycle import SPEC_OVERRIDE, integration, start_app, syncd, writes

from syncd.sampleapp import write_sample_config

REPO = Path(__file__).resolve().parents[1]
BACKENDS = ("sqlite", "postgresql")
LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


class Run:
    """A scratch folder, the PostgreSQL server, and the apps started in it."""

    def __init__(self, folder: Path, cluster: Cluster) -> None:
        self.folder, self.cluster = folder, cluster
        self._count = 0

    def state(self, backend: str) -> dict[str, Any]:
        """A fresh, empty state of *backend*: ``state:`` for syncd.yaml."""
        if backend == "sqlite":
            return {"path": "state.db"}  # beside syncd.yaml: each config dir is new
        return {"url": self.cluster.new_database()}  # a copy of the template: syncd's schema, no rows

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


def order(round_: int) -> tuple[str, ...]:
    """Both stores, the first alternating from round to round (drift on a shared machine cancels)."""
    return BACKENDS if round_ % 2 == 0 else BACKENDS[::-1]


def no_writes(out: str, what: str) -> None:
    if count := writes(out):
        raise SystemExit(f"{what} wrote {count} records (expected none)")


def initial_syncs(run: Run, n: int, repeats: int) -> dict[str, list[float]]:
    """Initial syncs of N contacts into an empty app, fresh state each time."""
    times: dict[str, list[float]] = {b: [] for b in BACKENDS}
    with run.app(n) as left:
        for r in range(repeats):
            for backend in order(r):
                with run.app(0) as right:
                    config = run.config(f"initial-{backend}-{r}", left, right, run.state(backend))
                    wall, _, out = syncd(config, "once", "--json")
                    if writes(out) != n:
                        raise SystemExit(f"the initial sync ({backend}) wrote {writes(out)} records, not {n}")
                times[backend].append(wall)
                progress(f"initial sync N={n:,} {backend} {r + 1}/{repeats}: {wall:.2f} s")
    return times


def no_change_cycles(run: Run, n: int, repeats: int) -> dict[str, list[float]]:
    """One synced state per store at N contacts; their quiet and full
    no-change cycles, alternating. Keys: (measure, backend) joined by a space."""
    times: dict[str, list[float]] = {}
    with contextlib.ExitStack() as stack, run.app(n) as left:
        configs = {}
        for backend in BACKENDS:
            right = stack.enter_context(run.app(0))
            state = run.state(backend)
            configs[backend] = (right, state, run.config(f"steady-{backend}", left, right, state))
            wall, _, out = syncd(configs[backend][2], "once", "--json")
            if writes(out) != n:
                raise SystemExit(f"the initial sync ({backend}) wrote {writes(out)} records, not {n}")
            times.setdefault(f"initial {backend}", []).append(wall)
            progress(f"initial sync N={n:,} {backend}: {wall:.2f} s")
            wall, _, out = syncd(configs[backend][2], "once", "--json")
            no_writes(out, f"the echo cycle ({backend})")
            times.setdefault(f"echo {backend}", []).append(wall)
            progress(f"echo cycle N={n:,} {backend}: {wall:.2f} s")
        for r in range(repeats):
            for backend in order(r):
                right, state, config = configs[backend]
                wall, _, out = syncd(config, "once", "--json")
                no_writes(out, f"a no-change cycle ({backend})")
                times.setdefault(f"quiet {backend}", []).append(wall)
                run.config(config.name, left, right, state, full_every="1 second")
                time.sleep(1.1)  # full_every come due
                full, _, out = syncd(config, "once", "--json")
                no_writes(out, f"a full no-change cycle ({backend})")
                times.setdefault(f"full {backend}", []).append(full)
                run.config(config.name, left, right, state)  # back to 1 day
                progress(f"no-change cycles N={n:,} {backend} {r + 1}/{repeats}: {wall:.2f} s, full {full:.2f} s")
    return times


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


def report(initial: dict[str, list[float]], steady: dict[str, list[float]], *, n_initial: int, n_steady: int,
           repeats: int, command: str) -> None:
    load = os.getloadavg()
    print(f"\n```bash\n{command}\n```\n")
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, commit {commit()}, {os.cpu_count()} cores, "
          f"load average at the end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min); "
          f"median of {repeats} (min–max) where repeated; `syncd once` as a process, start-up included\n")
    print("| measure | N | SQLite s | PostgreSQL s | PostgreSQL / SQLite |")
    print("| --- | ---: | ---: | ---: | ---: |")
    rows: list[tuple[str, int, list[float], list[float]]] = [
        ("initial sync, fresh state", n_initial, initial["sqlite"], initial["postgresql"])]
    for key, label in (("quiet", "no-change cycle"), ("full", "full no-change cycle (`full_every` due)"),
                       ("initial", "initial sync (one run)"), ("echo", "next cycle, reading the echo (one run)")):
        rows.append((label, n_steady, steady[f"{key} sqlite"], steady[f"{key} postgresql"]))
    for label, n, lite, pg in rows:
        ratio = statistics.median(pg) / statistics.median(lite)
        print(f"| {label} | {n:,} | {spread(lite)} | {spread(pg)} | {ratio:.2f}x |")
    rate = {b: n_initial / statistics.median(initial[b]) for b in BACKENDS}
    print(f"\ninitial sync of {n_initial:,}: {rate['sqlite']:,.0f} records/s on SQLite, "
          f"{rate['postgresql']:,.0f} on PostgreSQL")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--initial", type=int, default=10_000, metavar="N", help="contacts of the initial syncs (10,000)")
    ap.add_argument("--no-change", type=int, default=100_000, metavar="N",
                    help="contacts of the no-change cycles (100,000)")
    ap.add_argument("--repeats", type=int, default=5, help="runs of each measure and store (5); the median is shown")
    ap.add_argument("--quick", action="store_true", help="a smoke test: --initial 200 --no-change 500 --repeats 1")
    ap.add_argument("--pg-fast", action="store_true",
                    help="keep the test suite's fsync=off and synchronous_commit=off (not what a server does)")
    args = ap.parse_args()
    if args.quick:
        args.initial, args.no_change, args.repeats = 200, 500, 1
    command = shlex.join([".venv/bin/python", "bench/state_backends.py", *sys.argv[1:]])
    with tempfile.TemporaryDirectory(prefix="syncd-bench-") as tmp, postgres(durable=not args.pg_fast) as cluster:
        run = Run(Path(tmp), cluster)
        initial = initial_syncs(run, args.initial, args.repeats)
        steady = no_change_cycles(run, args.no_change, args.repeats)
    report(initial, steady, n_initial=args.initial, n_steady=args.no_change, repeats=args.repeats, command=command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
