"""Sync benchmarks: an initial sync into an empty app, then no-change cycles.

Two sample apps run as their own processes on 127.0.0.1 (the left one with
N contacts, the right one empty); ``syncd`` runs as it would in production,
one process per command, under GNU time for its peak RSS.

For each N it prints:

- the initial sync (batch creates into the empty app): records/s, peak RSS;
- the next cycle, which reads back what the first one wrote (its echo) and
  the one after it, with no change at all: their times and writes (0);
- a no-change cycle that reads everything (the periodic full
  reconciliation), against one bare list of both sides through the same
  engine (``syncd check --all-pages``): the ratio of the two;
- an update cycle: every left contact edited (through the app's batch
  update), then the cycle that writes all N updates to the right (each
  batch recorded as update intents first);
- at the end, peak RSS at the largest N over the smallest (goal ≤ 1.5).

    python bench/sync_cycle.py                 # N = 10,000 and 100,000
    python bench/sync_cycle.py --sizes 2000    # one small size
    python bench/sync_cycle.py --quick --json /tmp/cycle.json   # 500 and 2,000; figures for bench/all.py

``--json PATH`` writes the figures at the largest N (``sync_n``,
``sync_initial_records_per_s``, ``sync_no_change_s``, ``sync_full_no_change_s``,
``sync_bare_list_s``, ``sync_full_over_bare``, ``sync_update_s``...) and, with two sizes or
more, the initial sync's peak RSS at the largest over the smallest
(``sync_rss_ratio``).

Before and after a change, in one run: ``--baseline PYTHON`` runs syncd
with another interpreter too (a venv with the old revision installed; the
sample apps and this script stay the same), alternating the two
``--repeats`` times, and prints the median of each and their ratio::

    python bench/sync_cycle.py --sizes 100000 --repeats 3 --baseline /tmp/venv-before/bin/python

``--steady R`` then runs R rounds of quiet and full no-change cycles of
both, alternating on one synced state: the cycles a daemon runs all day,
without a fresh sync's noise.
"""

from __future__ import annotations

import argparse
import statistics
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from figures import write_figures

from syncd.sampleapp import sample_integration, write_sample_config

TOKEN = "bench-token"
# Every field both ways (the sample fields send the phone left to right
# only), as the earlier runs measured.
FIELDS = [{"left": name, "right": name} for name in ("email", "first_name", "last_name", "phone")]
# The shipped spec with the sample app's rate limit lifted: the benchmark
# measures syncd, not a politeness setting.
SPEC_OVERRIDE = ("rate_limit: {requests_per_second: 50, max_concurrency: 4}",
                 "rate_limit: {max_concurrency: 4}")


def integration(left: str, right: str, *, full_every: str) -> dict[str, Any]:
    return sample_integration(left, right, name="bench", left_token="${env:BENCH_TOKEN}",
                              right_token="${env:BENCH_TOKEN}", fields=FIELDS, create="left_to_right",
                              extra={"full_every": full_every})


def start_app(n: int, folder: Path, name: str) -> tuple[subprocess.Popen[bytes], str]:
    port_file = folder / f"{name}.port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncd.sampleapp", "--n", str(n), "--port", "0", "--quiet",
         "--token", TOKEN, "--port-file", str(port_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (port_file.exists() and port_file.read_text().strip()):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the {name} sample app did not start")
        time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port_file.read_text().strip()}"


def syncd(config: Path, *args: str, python: str = sys.executable) -> tuple[float, float, str]:
    """Run syncd; (wall seconds, peak RSS MB, stdout)."""
    with tempfile.NamedTemporaryFile("r") as rss:
        cmd = ["/usr/bin/time", "-f", "%M", "-o", rss.name, python, "-m", "syncd", *args,
               "-c", str(config)]
        start = time.perf_counter()
        # In the config directory: `-m syncd` puts the working directory
        # first on sys.path, and in a source tree that would run the tree's
        # syncd, not the one *python* has installed (the baseline's).
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=config,
                              env={**os.environ, "BENCH_TOKEN": TOKEN})
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"syncd {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return wall, int(rss.read().strip().splitlines()[-1]) / 1024, done.stdout


def writes(out: str) -> int:
    [summary] = json.loads(out)
    return int(sum(summary["created"].values()) + sum(summary["updated"].values()))


@contextmanager
def sample_pair(n: int) -> Iterator[tuple[Path, Callable[[str], None]]]:
    """Two sample apps (N contacts on the left, none on the right) and a
    config directory joining them; yields the directory and a function
    that rewrites the integration with another ``full_every``."""
    with tempfile.TemporaryDirectory(prefix="syncd-bench-") as tmp:
        folder = Path(tmp)
        left, left_url = start_app(n, folder, "left")
        right, right_url = start_app(0, folder, "right")
        try:
            config = folder / "config"
            (config / "connectors.d").mkdir(parents=True)
            shipped = (Path(__file__).parents[1] / "connectors.d" / "sampleapp.yaml").read_text()
            (config / "connectors.d" / "sampleapp.yaml").write_text(shipped.replace(*SPEC_OVERRIDE))

            def full_every(every: str) -> None:
                # steady()'s copy too (its state.db is its own: the path is relative)
                for directory in (config, folder / "config-after"):
                    if directory.exists():
                        write_sample_config(directory, integration(left_url, right_url, full_every=every))

            full_every("1 day")
            yield config, full_every
        finally:
            for proc in (left, right):
                proc.terminate()
                proc.wait(timeout=30)


def bench(n: int, python: str = sys.executable) -> dict[str, float]:
    with sample_pair(n) as (config, full_every):
        initial, initial_rss, out = syncd(config, "once", "--json", python=python)
        [summary] = json.loads(out)
        assert summary["created"]["right"] == n, summary
        echo, _, out = syncd(config, "once", "--json", python=python)  # reads back what it wrote: its echo
        echo_writes = writes(out)
        quiet, _, out = syncd(config, "once", "--json", python=python)
        quiet_writes = writes(out)

        full_every("1 second")
        time.sleep(1.1)
        full, full_rss, out = syncd(config, "once", "--json", python=python)
        full_writes = writes(out)
        bare, _, _ = syncd(config, "check", "bench", "--all-pages", "--records", "0", python=python)
        full_every("1 day")
        edit_every_left_contact(config, n)
        update, _, out = syncd(config, "once", "--json", python=python)
        [summary] = json.loads(out)
        assert summary["updated"]["right"] == n, summary
    return {
        "n": n, "initial_s": initial, "initial_rec_s": n / initial, "initial_rss_mb": initial_rss,
        "echo_s": echo, "echo_writes": echo_writes, "quiet_s": quiet, "quiet_writes": quiet_writes, "full_s": full, "full_writes": full_writes,
        "full_rss_mb": full_rss, "bare_list_s": bare, "full_over_bare": full / bare,
        "update_s": update, "update_rec_s": n / update,
    }


def edit_every_left_contact(config: Path, n: int) -> None:
    """A new last name for every left contact, 100 a request through the app's batch update."""
    import httpx
    import yaml

    doc = yaml.safe_load((config / "integrations.d" / "bench.yaml").read_text())
    url = doc["left"]["settings"]["url"]
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        ids: list[str] = []
        after = None
        while True:
            page = client.get("/cursor/contacts", params={"limit": 100, **({"after": after} if after else {})})
            page.raise_for_status()
            body = page.json()
            ids += [c["id"] for c in body["results"]]
            after = (body.get("paging") or {}).get("next", {}).get("after")
            if not after:
                break
        assert len(ids) == n, (len(ids), n)
        stamp = time.time_ns()
        for i in range(0, n, 100):
            inputs = [{"id": cid, "last_name": f"Edited{stamp}-{cid}"} for cid in ids[i:i + 100]]
            client.post("/contacts/batch/update", json={"inputs": inputs}).raise_for_status()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--baseline", metavar="PYTHON", help="also run syncd with this interpreter, alternating")
    ap.add_argument("--repeats", type=int, default=1,
                    help="runs of each size (the median is shown); 0 with --steady: only the steady cycles")
    ap.add_argument("--steady", type=int, default=0, metavar="R",
                    help="with --baseline: then R rounds of no-change cycles on one synced state")
    ap.add_argument("--quick", action="store_true", help="sizes 500 and 2,000 (a smoke test)")
    ap.add_argument("--json", metavar="PATH", help="write the figures as a flat JSON object (not with --baseline)")
    args = ap.parse_args()
    if args.quick:
        args.sizes = [500, 2000]
    if args.baseline:
        if args.repeats:
            compare(args.sizes, args.baseline, args.repeats)
        for n in args.sizes if args.steady else ():
            steady(n, args.baseline, args.steady)
        return 0
    rows = [median_row([bench(n) for _ in range(args.repeats)]) for n in args.sizes]
    print("| N | initial sync s | records/s | peak RSS MB | next cycle, reading the echo, s (writes) "
          "| no-change cycle s (writes) | full no-change cycle s (writes) | bare list of both sides s "
          "| full cycle / bare list | update cycle s (updates/s) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['n']:,} | {r['initial_s']:.1f} | {r['initial_rec_s']:,.0f} | {r['initial_rss_mb']:.0f} "
              f"| {r['echo_s']:.2f} ({r['echo_writes']:.0f}) "
              f"| {r['quiet_s']:.2f} ({r['quiet_writes']:.0f}) | {r['full_s']:.2f} ({r['full_writes']:.0f}) "
              f"| {r['bare_list_s']:.2f} | {r['full_over_bare']:.2f}x "
              f"| {r['update_s']:.2f} ({r['update_rec_s']:,.0f}) |")
    if len(rows) > 1:
        print(f"\npeak RSS of the initial sync at N={rows[-1]['n']:,} over N={rows[0]['n']:,}: "
              f"{rows[-1]['initial_rss_mb'] / rows[0]['initial_rss_mb']:.2f}x (goal ≤ 1.5x)")
    write_figures(args.json, figures(rows))
    return 0


def figures(rows: list[dict[str, float]]) -> dict[str, float]:
    """The largest size's figures, named for bench/all.py's table."""
    last, first = rows[-1], rows[0]
    out = {"sync_n": last["n"], "sync_initial_s": last["initial_s"],
           "sync_initial_records_per_s": last["initial_rec_s"], "sync_initial_rss_mb": last["initial_rss_mb"],
           "sync_echo_s": last["echo_s"], "sync_no_change_s": last["quiet_s"],
           "sync_full_no_change_s": last["full_s"], "sync_bare_list_s": last["bare_list_s"],
           "sync_full_over_bare": last["full_over_bare"], "sync_update_s": last["update_s"],
           "sync_update_records_per_s": last["update_rec_s"],
           "sync_writes_after_initial": last["echo_writes"] + last["quiet_writes"] + last["full_writes"]}
    if len(rows) > 1:
        out |= {"sync_n_smallest": first["n"], "sync_initial_rss_mb_smallest": first["initial_rss_mb"],
                "sync_rss_ratio": last["initial_rss_mb"] / first["initial_rss_mb"]}
    return out


COMPARED = [("initial_s", "initial sync s"), ("echo_s", "echo cycle s"), ("quiet_s", "no-change cycle s"),
            ("full_s", "full no-change cycle s"), ("bare_list_s", "bare list s"), ("update_s", "update cycle s"),
            ("initial_rss_mb", "peak RSS MB")]


def steady(n: int, baseline: str, repeats: int) -> None:
    """Quiet and full no-change cycles of both interpreters, alternating on
    one synced state: the cycles a daemon runs all day, without the noise
    of a fresh sync. The baseline syncs first; "after" runs on a copy of
    its config and state (its first cycle migrates the copy, should the
    store's schema have grown since: the baseline could not read it back)."""
    times: dict[tuple[str, str], list[float]] = {}
    with sample_pair(n) as (config, full_every):
        syncd(config, "once", "--json", python=baseline)  # the initial sync
        syncd(config, "once", "--json", python=baseline)  # its echo
        copy = config.parent / "config-after"
        shutil.copytree(config, copy)
        syncd(copy, "once", "--json")  # migrates the copy, if need be
        configs = {"before": config, "after": copy}
        for _ in range(repeats):
            for label, python in (("before", baseline), ("after", sys.executable)):
                config = configs[label]
                wall, _, out = syncd(config, "once", "--json", python=python)
                times.setdefault((label, "quiet"), []).append(wall)
                full_every("1 second")
                time.sleep(1.1)
                full, _, out2 = syncd(config, "once", "--json", python=python)
                times.setdefault((label, "full"), []).append(full)
                full_every("1 day")
                if writes(out) or writes(out2):
                    raise SystemExit(f"a no-change cycle ({label}) wrote records")
    print(f"\nN={n:,}, one synced state, quiet and full no-change cycles alternating, median of {repeats}")
    print("| cycle | before s | after s | after / before |")
    print("| --- | ---: | ---: | ---: |")
    for kind in ("quiet", "full"):
        b, a = statistics.median(times[("before", kind)]), statistics.median(times[("after", kind)])
        print(f"| {kind} | {b:.2f} | {a:.2f} | {a / b:.3f} |")


def median_row(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def compare(sizes: list[int], baseline: str, repeats: int) -> None:
    """Each size with the baseline interpreter and this one, alternating."""
    for n in sizes:
        before: list[dict[str, float]] = []
        after: list[dict[str, float]] = []
        for i in range(repeats):
            before.append(bench(n, baseline))
            after.append(bench(n))
            last = before[-1], after[-1]
            print(f"N={n:,} run {i + 1}/{repeats}: " + ", ".join(
                f"{key} {last[0][key]:.2f} -> {last[1][key]:.2f}" for key, _ in COMPARED), flush=True)
            for row in last:
                writes = row["echo_writes"] + row["quiet_writes"] + row["full_writes"]
                if writes:
                    raise SystemExit(f"a cycle after the initial sync wrote {writes:.0f} records")
        b, a = median_row(before), median_row(after)
        print(f"\nN={n:,}, median of {repeats}, alternating ({baseline} before, {sys.executable} after)")
        print("| measure | before | after | after / before |")
        print("| --- | ---: | ---: | ---: |")
        for key, label in COMPARED:
            print(f"| {label} | {b[key]:.2f} | {a[key]:.2f} | {a[key] / b[key]:.3f} |")


if __name__ == "__main__":
    sys.exit(main())
