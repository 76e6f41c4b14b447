"""Time per pair of ``syncd reset --read-only`` by size, on SQLite and PostgreSQL.

For each N: two sample apps as their own processes on 127.0.0.1 with the
same N generated contacts (the same ids and values), joined by the
integration of ``sync_cycle.py``; then, for each store, ``syncd reset bench
--read-only --json`` as a process (as an operator runs it) on a fresh state:
it reads both sides in full and pairs the N contacts by email without
writing to either app. The run must read N a side, write nothing, and leave
N links (checked in the store). PostgreSQL is a throwaway server the script
starts (``pg_server.py``, with PostgreSQL's durability defaults).

It prints seconds and microseconds per pair by store and N, and the
scaling: the time per pair at the largest N over the smallest, in the same
run (1.0: linear; the reset's read of both sides is in both). Issue 15:
a seed of 1,000,000 pairs had paired 68,500 after 35 minutes.

``--baseline-python PATH`` runs the same resets with another interpreter
too (an older revision's venv), alternating with this checkout, and gives
the ratio of the two (``reset_speedup_*``: baseline time over this one's).

    .venv/bin/python bench/reset_pairing.py                  # N = 10,000, 100,000, 1,000,000 (about 30 min)
    .venv/bin/python bench/reset_pairing.py --quick          # N = 1,000 and 5,000 (under a minute)
    .venv/bin/python bench/reset_pairing.py --sizes 100000 --stores sqlite --baseline-python /tmp/old/.venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from figures import write_figures
from memory import label, start_app
from pg_server import Cluster, postgres
from sync_cycle import SPEC_OVERRIDE, integration, syncd, writes

from syncd.sampleapp import write_sample_config
from syncd.state import open_state

REPO = Path(__file__).resolve().parents[1]
STORES = ("sqlite", "postgresql")


@contextmanager
def apps(n: int, folder: Path) -> Iterator[tuple[str, str]]:
    """Two sample apps with the same *n* contacts: their URLs."""
    started = []
    try:
        for side in ("left", "right"):
            started.append(start_app(n, folder, f"{side}-{n}"))
        yield started[0][1], started[1][1]
    finally:
        for proc, _ in started:
            proc.terminate()
            proc.wait(timeout=60)


def reset(folder: Path, urls: tuple[str, str], n: int, store: str, cluster: Cluster | None,
          python: str, tag: str) -> float:
    """One read-only reset on a fresh state of *store*: its wall seconds."""
    config = folder / f"config-{store}-{n}-{tag}"
    (config / "connectors.d").mkdir(parents=True)
    shipped = (REPO / "connectors.d" / "sampleapp.yaml").read_text()
    (config / "connectors.d" / "sampleapp.yaml").write_text(shipped.replace(*SPEC_OVERRIDE))
    state: dict[str, Any] = {"path": "state.db"} if cluster is None else {"url": cluster.new_database()}
    write_sample_config(config, integration(*urls, full_every="1 day"), daemon={"state": state})
    wall, _, out = syncd(config, "reset", "bench", "--read-only", "--json", python=python)
    [summary] = json.loads(out)
    if summary["read"] != {"left": n, "right": n} or writes(out):
        raise SystemExit(f"the {store} reset did not read {n} records a side without writing: {summary}")
    with open_state(state.get("url") or config / "state.db") as opened:
        links = opened.link_count("bench")
    if links != n:
        raise SystemExit(f"the {store} reset at N={n} left {links} links, not {n}")
    return wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--stores", nargs="+", choices=STORES, default=list(STORES))
    ap.add_argument("--quick", action="store_true", help="N = 1,000 and 5,000")
    ap.add_argument("--baseline-python", metavar="PATH", help="also run the resets with this interpreter")
    ap.add_argument("--json", metavar="PATH", help="write the figures as a flat JSON object")
    args = ap.parse_args()
    sizes = [1_000, 5_000] if args.quick else sorted(args.sizes)
    runs = [("this", sys.executable)] + ([("baseline", args.baseline_python)] if args.baseline_python else [])
    seconds: dict[tuple[str, str, int], float] = {}
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="syncd-reset-")))
        cluster = stack.enter_context(postgres()) if "postgresql" in args.stores else None
        for n in sizes:
            with apps(n, folder) as urls:
                for i, store in enumerate(args.stores):
                    # Alternating which interpreter goes first: drift on a shared machine evens out.
                    for tag, python in (runs if i % 2 == 0 else runs[::-1]):
                        seconds[(tag, store, n)] = wall = reset(
                            folder, urls, n, store, cluster if store == "postgresql" else None, python, tag)
                        print(f"N={n:,} {store} ({tag}): {wall:.2f} s, {wall / n * 1e6:.0f} µs a pair", flush=True)
    figures: dict[str, Any] = {}
    print("\n| store | N pairs | s | µs a pair |" + (" baseline s | speed-up |" if len(runs) > 1 else ""))
    print("| --- | ---: | ---: | ---: |" + (" ---: | ---: |" if len(runs) > 1 else ""))
    for store in args.stores:
        for n in sizes:
            wall, key = seconds[("this", store, n)], f"{store}_{label(n)}"
            figures[f"reset_s_{key}"] = round(wall, 3)
            figures[f"reset_us_per_pair_{key}"] = round(wall / n * 1e6, 1)
            line = f"| {store} | {n:,} | {wall:.2f} | {wall / n * 1e6:.0f} |"
            if len(runs) > 1:
                base = seconds[("baseline", store, n)]
                figures[f"reset_baseline_s_{key}"] = round(base, 3)
                figures[f"reset_speedup_{key}"] = round(base / wall, 3)
                line += f" {base:.2f} | {base / wall:.2f}x |"
            print(line)
        if len(sizes) > 1:
            small, big = sizes[0], sizes[-1]
            ratio = (seconds[("this", store, big)] / big) / (seconds[("this", store, small)] / small)
            figures[f"reset_scaling_{store}"] = round(ratio, 3)
            print(f"{store}: time a pair at N={big:,} over N={small:,}: {ratio:.2f}")
    if set(STORES) <= set(args.stores):
        for n in sizes:
            figures[f"reset_pg_ratio_{label(n)}"] = round(
                seconds[("this", "postgresql", n)] / seconds[("this", "sqlite", n)], 3)
    ran = ", ".join(f"{n:,}" for n in sizes)
    for store in STORES:  # the rows bench/all.py's table has, not measured by this run, say why
        for n in (10_000, 100_000):
            if f"reset_us_per_pair_{store}_{label(n)}" not in figures:
                figures[f"reset_us_per_pair_{store}_{label(n)}_error"] = (
                    f"not run: this run's sizes were {ran}, stores {', '.join(args.stores)}")
    write_figures(args.json, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
