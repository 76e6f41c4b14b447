"""The initial sync: is syncd waiting for the apps, or are the apps waiting for syncd?

Two sample apps run as their own processes on 127.0.0.1 (the left one with
N contacts, the right one empty), as in ``sync_cycle.py``; the initial sync
(batch creates, 100 contacts a request) runs *in this process*, as ``syncd
once`` runs it (the same config, the same :class:`~syncd.sync.Cycles`,
logging configured as the command line does), instrumented:

- the event loop's selector: the time each ``select()`` blocks is time the
  loop is idle (nothing to run: every task waits for a socket or a timer);
- the HTTP transport: a request is in flight from the call into the
  transport until its response is read whole;
- while the loop blocks in ``select()`` no task runs, so the number of
  requests in flight is constant over a ``select()``: the time syncd waits
  for an app is the sum of the ``select()`` calls made with a request in
  flight.

``initial_network_share`` = that time / the cycle's wall time (issue 15's
goal: at least 0.5 at 100,000 contacts), ``initial_loop_busy_share`` = the
time the loop was not in ``select()`` / wall time (syncd's own work, and
its own overhead). A second sync of fresh apps runs under cProfile for the
breakdown of the busy time (each function's own time, grouped: JSON,
normalising fields, the state store, planning, logging…); cProfile slows
Python code down, so its shares are of the profiled run, not of the first.

    .venv/bin/python bench/initial_profile.py                 # N = 100,000, profiled at 20,000
    .venv/bin/python bench/initial_profile.py --quick         # N = 10,000, profiled at 10,000
    .venv/bin/python bench/initial_profile.py --json out.json

Against another revision (``--baseline-rev REV``: a venv of REV, built under
$BASELINE_DIR as ``daemon_idle.py`` builds one), the measured sync runs as
a child process of each interpreter in turn, ``--rounds`` times each
(ABBA), and the figures are the medians of each, with this checkout's CPU
per record over the baseline's (``initial_cpu_vs_baseline``): one run, one
machine load, for a before/after. ``initial_cpu_vs_baseline_paired`` is the
median of each round's own ratio (the round's two runs are neighbours in
time, so a load that drifts over the run cancels out of it).

    .venv/bin/python bench/initial_profile.py --quick --baseline-rev 0da2089 --rounds 3

``--app-delay-ms MS``: each sample app answers every request MS late (a
fault of the sample app's: ``delay``), the latency of a real API; an
added figure beside the goal's, which is measured at 0.

    .venv/bin/python bench/initial_profile.py --n 10000 --profile-n 0 --app-delay-ms 20

``--latency-curve MS [MS ...]``: after the measured sync, one more sync
of ``--curve-n`` contacts (default 10,000) for each latency, and the
**break-even latency**: the latency a request at which syncd waits for the
apps half the time (the goal's share, 0.5), interpolated linearly between
the two measured latencies around it. Below it syncd bounds the initial
sync, above it the apps do: a figure an operator can hold against an
app's real latency (``initial_breakeven_delay_ms``; when the share stays
under 0.5 up to the largest latency, ``initial_breakeven_delay_ms_error``
says so instead). ``--quick`` measures 0, 5 and 20 ms at 2,000 contacts.

    .venv/bin/python bench/initial_profile.py --n 10000 --profile-n 0 --latency-curve 2 5 10 20
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import sync_cycle
from daemon_idle import revision_python
from figures import compile_checkout, write_figures
from sync_cycle import TOKEN, sample_pair

from syncd._logging import configure_logging
from syncd.config import load_config
from syncd.connector import PROCESS_MASKER
from syncd.connector._transport import AsyncH11Transport
from syncd.daemon import command_cycles


class Probe:
    """Loop idle time and requests in flight, counted as the cycle runs."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.requests = 0
        self.idle = 0.0  # seconds blocked in select()
        self.idle_in_flight = 0.0  # of which with a request in flight
        self.cpu = 0.0  # CPU seconds of this process during the cycle
        self.apps_cpu = 0.0  # CPU seconds of the sample apps during the cycle

    @contextmanager
    def transport(self) -> Iterator[None]:
        """Count the transport's requests in flight (its one entry point)."""
        original = AsyncH11Transport.handle_async_request
        probe = self

        async def counted(transport: AsyncH11Transport, request: Any) -> Any:
            probe.in_flight += 1
            probe.requests += 1
            try:
                return await original(transport, request)
            finally:
                probe.in_flight -= 1

        AsyncH11Transport.handle_async_request = counted  # type: ignore[method-assign]
        try:
            yield
        finally:
            AsyncH11Transport.handle_async_request = original  # type: ignore[method-assign]

    def selector(self, loop: asyncio.AbstractEventLoop) -> None:
        """Time each select() of the running loop's selector."""
        selector = loop._selector  # type: ignore[attr-defined]
        original: Callable[..., Any] = selector.select
        clock = time.perf_counter
        probe = self

        def select(timeout: float | None = None) -> Any:
            start = clock()
            try:
                return original(timeout)
            finally:
                spent = clock() - start
                probe.idle += spent
                if probe.in_flight:
                    probe.idle_in_flight += spent

        selector.select = select


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's children: the sample apps."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path("/proc/self/task").iterdir():
        for pid in (task / "children").read_text().split():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def run_sync(config_dir: Path, probe: Probe | None, profiler: cProfile.Profile | None) -> tuple[float, dict[str, Any]]:
    """One cycle of the bench integration in this process: (wall s, summary counts)."""
    config = load_config(config_dir, environ={**os.environ, "BENCH_TOKEN": TOKEN})
    here = os.getcwd()
    os.chdir(config_dir)  # the state path is relative, as `syncd once` run there reads it

    async def one() -> tuple[float, dict[str, Any]]:
        if probe is not None:
            probe.selector(asyncio.get_running_loop())
        with command_cycles(config, ["bench"]) as cycles:
            start, cpu, apps = time.perf_counter(), time.process_time(), children_cpu()
            if profiler is not None:
                profiler.enable()
            try:
                summary = await cycles.run("bench", origin="once")
            finally:
                if profiler is not None:
                    profiler.disable()
            wall = time.perf_counter() - start
            if probe is not None:
                probe.cpu = time.process_time() - cpu
                probe.apps_cpu = children_cpu() - apps
        if summary.aborted:
            raise SystemExit(f"the initial sync was aborted: {summary.aborted}")
        return wall, summary.counts()

    try:
        if probe is not None:
            with probe.transport():
                return anyio.run(one, backend="asyncio")
        return anyio.run(one, backend="asyncio")
    finally:
        os.chdir(here)


# Where a function's own time goes, by the file it is defined in (first match wins).
BUCKETS: list[tuple[str, tuple[str, ...]]] = [
    ("waiting (select)", ("select.epoll", "selectors.py", "method 'poll'", "method 'select'")),
    ("state store: SQLite", ("sqlite3", "syncd/state/")),
    ("JSON decode/encode", ("orjson", "json/", "_json")),
    ("HTTP: transport, h11, httpx", ("h11", "httpx", "_transport.py", "ssl", "socket", "streams.py",
                                     "method 'send'", "method 'recv'")),
    ("connector: fields, normalise, pages", ("syncd/connector/", "jmespath")),
    ("snapshots and hashes", ("_snapshots.py", "hashlib", "blake2b")),
    ("planning: plan, rules, transforms", ("_plan.py", "_rules.py", "_transforms.py", "_conflicts.py", "expr.py")),
    ("writing, reading, cycle", ("syncd/sync/",)),
    ("logging", ("structlog", "logging/", "_logging.py")),
    ("event loop, tasks, anyio", ("asyncio", "anyio")),
]


def breakdown(profiler: cProfile.Profile) -> dict[str, float]:
    """Own time (s) by bucket."""
    stats = pstats.Stats(profiler)
    out: dict[str, float] = {name: 0.0 for name, _ in BUCKETS}
    out["other"] = 0.0
    for (filename, _line, function), row in stats.stats.items():  # type: ignore[attr-defined]
        own = row[2]
        where = f"{filename} {function}"
        for name, needles in BUCKETS:
            if any(needle in where for needle in needles):
                out[name] += own
                break
        else:
            out["other"] += own
    return out


def top_functions(profiler: cProfile.Profile, count: int = 12) -> list[tuple[str, float, int]]:
    stats = pstats.Stats(profiler)
    rows = []
    for (filename, line, function), row in stats.stats.items():  # type: ignore[attr-defined]
        short = "/".join(Path(filename).parts[-2:]) if filename != "~" else ""
        rows.append((f"{short}:{line}({function})", row[2], row[1]))
    return sorted(rows, key=lambda r: r[1], reverse=True)[:count]


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """The measured initial sync in this process: its figures, printed as they come."""
    probe = Probe()
    with slow_apps(args.app_delay_ms), sample_pair(args.n) as (config, _):
        wall, counts = run_sync(config, probe, None)
    created = int(sum(counts["created"].values()))
    figures: dict[str, Any] = {
        "n": args.n,
        "app_delay_ms": args.app_delay_ms,
        "initial_s": round(wall, 3),
        "initial_records_per_s": round(args.n / wall, 1),
        "initial_network_share": round(probe.idle_in_flight / wall, 4),
        "initial_loop_busy_share": round((wall - probe.idle) / wall, 4),
        "initial_loop_idle_no_request_share": round((probe.idle - probe.idle_in_flight) / wall, 4),
        # CPU time syncd's process got during the cycle, over wall time: below the
        # busy share, the rest of "busy" waited for a core (a loaded machine).
        "initial_cpu_share": round(probe.cpu / wall, 4),
        # CPU per record: syncd's, and the two sample apps' together
        "initial_syncd_cpu_us_per_record": round(probe.cpu / args.n * 1e6, 1),
        "initial_apps_cpu_us_per_record": round(probe.apps_cpu / args.n * 1e6, 1),
        "initial_requests": probe.requests,
        "initial_created": created,
    }
    print(f"initial sync of {args.n:,} contacts in this process: {wall:.2f} s, "
          f"{args.n / wall:,.0f} records/s, {probe.requests:,} requests, created {created:,}")
    print(f"  waiting for an app (loop idle, a request in flight): {probe.idle_in_flight / wall:6.1%}  "
          "(goal >= 50 %)")
    print(f"  loop busy (syncd's own work):                          {(wall - probe.idle) / wall:6.1%}")
    print(f"  CPU time of this process (busy beyond it: waiting for a core):  {probe.cpu / wall:6.1%}")
    print(f"  CPU per record: syncd {probe.cpu / args.n * 1e6:.0f} µs, the two apps "
          f"{probe.apps_cpu / args.n * 1e6:.0f} µs")
    print(f"  loop idle, nothing in flight:                          "
          f"{(probe.idle - probe.idle_in_flight) / wall:6.1%}")
    return figures


def latency_curve(n: int, delays_ms: list[float]) -> dict[str, Any]:
    """The network share of an initial sync of *n* at each latency, and the break-even latency."""
    curve: list[tuple[float, float]] = []
    print(f"\nthe network share by the apps' latency a request (initial syncs of {n:,}):")
    print("| latency a request ms | network share | loop busy | syncd CPU µs / record |")
    print("| ---: | ---: | ---: | ---: |")
    for delay in sorted(delays_ms):
        probe = Probe()
        with slow_apps(delay), sample_pair(n) as (config, _):
            wall, _ = run_sync(config, probe, None)
        share = probe.idle_in_flight / wall
        curve.append((delay, share))
        print(f"| {delay:g} | {share:.1%} | {(wall - probe.idle) / wall:.1%} | {probe.cpu / n * 1e6:.0f} |",
              flush=True)
    found = breakeven(curve, 0.5)
    figures: dict[str, Any] = {"curve_n": n}
    if found is None:  # bench/all.py's "not measured: why"
        figures["initial_breakeven_delay_ms_error"] = f"the share stayed under 0.5 up to {max(delays_ms):g} ms"
    else:
        figures["initial_breakeven_delay_ms"] = found
    for delay, share in curve:
        figures[f"initial_network_share_at_{delay:g}ms"] = round(share, 4)
    print(f"break-even (network share 0.5): {'above ' + format(max(delays_ms), 'g') if found is None else found} ms "
          "a request")
    return figures


def breakeven(curve: list[tuple[float, float]], goal: float) -> float | None:
    """The latency at which *curve* (latency, share; by latency) first reaches *goal*, interpolated
    linearly between the two points around it; 0 when its first point is at or above it already."""
    below: tuple[float, float] | None = None
    for delay, share in curve:
        if share >= goal:
            if below is None:
                return 0.0 if delay == 0 else round(delay, 2)
            (d0, s0) = below
            return round(d0 + (goal - s0) * (delay - d0) / (share - s0), 2)
        below = (delay, share)
    return None


# A sample app whose every answer waits: a network's latency (--app-delay-ms).
_SLOW_APP = """
import os, sys
import syncd.sampleapp.__main__ as main
class Slow(main.SampleApp):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.faults.add(delay=float(os.environ["BENCH_APP_DELAY_S"]), times=None)
main.SampleApp = Slow
sys.exit(main.main(sys.argv[1:]))
"""


@contextmanager
def slow_apps(delay_ms: float) -> Iterator[None]:
    """The sample apps ``sample_pair`` starts, each answer *delay_ms* late (0: as they are)."""
    if not delay_ms:
        yield
        return

    def popen(argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        assert argv[1:3] == ["-m", "syncd.sampleapp"], argv
        env = {**os.environ, "BENCH_APP_DELAY_S": str(delay_ms / 1000)}
        return subprocess.Popen([argv[0], "-c", _SLOW_APP, *argv[3:]], env=env, **kwargs)

    shim = SimpleNamespace(Popen=popen, DEVNULL=subprocess.DEVNULL, run=subprocess.run)
    sync_cycle.subprocess = shim  # type: ignore[assignment]  # start_app's one way to start an app
    try:
        yield
    finally:
        sync_cycle.subprocess = subprocess


# Figures compared with the baseline revision (medians of each one's rounds).
COMPARED = ("initial_s", "initial_network_share", "initial_loop_busy_share", "initial_cpu_share",
            "initial_syncd_cpu_us_per_record", "initial_apps_cpu_us_per_record")


def compare(args: argparse.Namespace) -> dict[str, Any]:
    """The measured sync by this checkout and by ``--baseline-rev``, alternating (ABBA), each in a
    child process; this checkout's medians as the figures, the baseline's as ``baseline_*``."""
    compile_checkout()  # as the baseline is (figures.compile_checkout)
    pythons = {"this": sys.executable,
               "baseline": args.baseline_python or revision_python(args.baseline_rev)}
    rows: dict[str, list[dict[str, Any]]] = {label: [] for label in pythons}
    with tempfile.TemporaryDirectory(prefix="syncd-bench-") as tmp:
        for r in range(args.rounds):
            for label in (list(pythons) if r % 2 == 0 else list(pythons)[::-1]):
                out = Path(tmp) / f"{label}-{r}.json"
                print(f"round {r + 1}, {label}:", flush=True)
                subprocess.run([pythons[label], __file__, "--n", str(args.n), "--profile-n", "0",
                                "--app-delay-ms", str(args.app_delay_ms), "--json", str(out)], check=True)
                rows[label].append(json.loads(out.read_text()))
    figures: dict[str, Any] = {"n": args.n, "app_delay_ms": args.app_delay_ms, "baseline_rev": args.baseline_rev,
                               "rounds": args.rounds}
    for key in COMPARED:
        figures[key] = round(statistics.median(row[key] for row in rows["this"]), 4)
        figures[key.replace("initial_", "initial_baseline_", 1)] = round(statistics.median(
            row[key] for row in rows["baseline"]), 4)
    figures["initial_cpu_vs_baseline"] = round(
        figures["initial_syncd_cpu_us_per_record"] / figures["initial_baseline_syncd_cpu_us_per_record"], 3)
    # The two runs of one round are neighbours in time: their ratio is under one
    # load, where the medians above may come from different ones (a shared
    # machine's load drifts over minutes). The median of the rounds' ratios.
    key = "initial_syncd_cpu_us_per_record"
    figures["initial_cpu_vs_baseline_paired"] = round(statistics.median(
        this[key] / base[key] for this, base in zip(rows["this"], rows["baseline"])), 3)
    print(f"\nmedians of {args.rounds} round(s) each, alternating:\n")
    print(f"| measure | {args.baseline_rev} | this checkout |")
    print("| --- | ---: | ---: |")
    for key in COMPARED:
        print(f"| {key} | {figures[key.replace('initial_', 'initial_baseline_', 1)]} | {figures[key]} |")
    print(f"\nsyncd's CPU per record, this / {args.baseline_rev}: {figures['initial_cpu_vs_baseline']} "
          f"(the median of each round's ratio: {figures['initial_cpu_vs_baseline_paired']})")
    return figures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="contacts of the measured initial sync")
    ap.add_argument("--profile-n", type=int, default=20_000, help="contacts of the cProfile run (0: none)")
    ap.add_argument("--quick", action="store_true", help="N = 10,000, profiled at 10,000")
    ap.add_argument("--json", metavar="PATH", help="write the figures as a flat JSON object")
    ap.add_argument("--profile-out", metavar="PATH", help="also write the cProfile stats there (pstats)")
    ap.add_argument("--baseline-rev", metavar="REV", help="also measure revision REV, alternating (see above)")
    ap.add_argument("--baseline-python", metavar="PATH",
                    help="as --baseline-rev, with an interpreter that has the baseline installed")
    ap.add_argument("--rounds", type=int, default=2, help="runs of each revision with --baseline-rev (default 2)")
    ap.add_argument("--app-delay-ms", type=float, default=0.0, metavar="MS",
                    help="each sample app answers every request MS late (a network's latency; the goal's "
                         "figure is at 0); figures and the profile keep the default 0 unless given")
    ap.add_argument("--latency-curve", type=float, nargs="+", metavar="MS",
                    help="also measure the network share at each of these latencies a request, and the "
                         "break-even latency (see above)")
    ap.add_argument("--curve-n", type=int, default=10_000, help="contacts of each --latency-curve sync")
    args = ap.parse_args()
    if args.quick:
        args.n, args.profile_n = 10_000, 10_000
        if not args.latency_curve:
            args.latency_curve, args.curve_n = [0.0, 5.0, 20.0], 2_000
    configure_logging("warning", mask=PROCESS_MASKER.mask)  # as the command line does

    if args.baseline_python and not args.baseline_rev:
        args.baseline_rev = "baseline"  # its label
    figures = compare(args) if args.baseline_rev else measure(args)
    if args.latency_curve:
        figures |= latency_curve(args.curve_n, args.latency_curve)

    if args.profile_n:
        profiler = cProfile.Profile()
        with sample_pair(args.profile_n) as (config, _):
            pwall, _ = run_sync(config, None, profiler)
        if args.profile_out:
            profiler.dump_stats(args.profile_out)
        parts = breakdown(profiler)
        total = sum(parts.values())
        print(f"\ncProfile of an initial sync of {args.profile_n:,} ({pwall:.2f} s under the profiler): "
              "own time by part")
        print("| part | s | share |")
        print("| --- | ---: | ---: |")
        for name, seconds in sorted(parts.items(), key=lambda kv: kv[1], reverse=True):
            print(f"| {name} | {seconds:.2f} | {seconds / total:.1%} |")
            figures["profile_" + "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")
                    .replace("__", "_") + "_share"] = round(seconds / total, 4)
        print("\nfunctions with the most own time:")
        for where, seconds, calls in top_functions(profiler):
            print(f"  {seconds:7.3f} s {calls:>9,} calls  {where}")
        figures["profile_n"] = args.profile_n
    write_figures(args.json, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
