"""Peak memory of ``syncd once`` against the number of snapshots in the state.

For each N: two sample apps as their own processes on 127.0.0.1, both with
the same N generated contacts (the same ids and values), joined by the
integration of ``sync_cycle.py``. The state is seeded with ``syncd reset
bench --read-only`` (a process, as an operator runs it): it reads both sides
in full and takes them as in step, pairing the N contacts by email, so the
state holds 2N snapshots and N links exactly as a sync would have left them,
without N creates (a real initial sync of 1,000,000 would take an hour
here; the seed of 1,000,000 took 7 minutes on 2 loaded cores, see
``reset_pairing.py``, where it had paired 68,500 after 35 minutes before issue
15's fix). Then, each ``syncd once --json`` as a process under GNU time
(peak RSS: the kernel's high-water mark, VmHWM):

- ``quiet``: a no-change cycle (reads the changes since the cursor: none);
- ``full``: a full no-change cycle (``full_every`` come due: both sides read
  in full, each record told unchanged by its digest, deletions looked for);
- ``incremental``: a cycle after 10 contacts were changed on the left (10
  updates written to the right).

It prints seconds and peak RSS by N, and the growth per snapshot between
the smallest and the largest N. A cycle that writes when it should not (or
not the 10 updates) stops the benchmark.

    .venv/bin/python bench/memory.py                    # N = 10,000, 100,000 and 1,000,000 (about 40 min:
                                                        #   the million's seed 7 min, its full cycle ~20)
    .venv/bin/python bench/memory.py --quick            # N = 10,000 and 100,000
    .venv/bin/python bench/memory.py --sizes 300 1000 --json out.json   # the smoke test
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from figures import write_figures
from sync_cycle import SPEC_OVERRIDE, TOKEN, integration, syncd, writes

from syncd.sampleapp import write_sample_config

CHANGED = 10  # contacts changed before the incremental cycle


def label(n: int) -> str:
    """10_000 -> "10k", 1_000_000 -> "1m": the JSON keys' form."""
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    if n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def start_app(n: int, folder: Path, name: str) -> tuple[subprocess.Popen[bytes], str]:
    """A sample app with *n* generated contacts, as ``sync_cycle.start_app``
    starts one, given time to generate a million (minutes on a loaded box)."""
    port_file = folder / f"{name}.port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncd.sampleapp", "--n", str(n), "--port", "0", "--quiet",
         "--token", TOKEN, "--port-file", str(port_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120 + n / 1000
    while not (port_file.exists() and port_file.read_text().strip()):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the {name} sample app did not start")
        time.sleep(0.2)
    return proc, f"http://127.0.0.1:{port_file.read_text().strip()}"


def change_some(url: str, n: int) -> None:
    """Change the first name of CHANGED contacts spread over the left app."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        for i in range(CHANGED):
            record_id = str(1_000_000 + i * max(n // CHANGED, 1))
            answer = client.patch(f"/contacts/{record_id}", json={"first_name": f"Changed{i}"})
            answer.raise_for_status()


def measure(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="syncd-memory-") as tmp:
        folder = Path(tmp)
        apps = [start_app(n, folder, side) for side in ("left", "right")]
        try:
            (left, left_url), (_, right_url) = apps
            config = folder / "config"
            (config / "connectors.d").mkdir(parents=True)
            shipped = (Path(__file__).parents[1] / "connectors.d" / "sampleapp.yaml").read_text()
            (config / "connectors.d" / "sampleapp.yaml").write_text(shipped.replace(*SPEC_OVERRIDE))

            def configure(full_every: str) -> None:
                write_sample_config(config, integration(left_url, right_url, full_every=full_every))

            configure("1 day")
            row: dict[str, float] = {"n": n}
            seed_s, row["seed_rss_mb"], out = syncd(config, "reset", "bench", "--read-only", "--json")
            [summary] = json.loads(out)
            if summary["read"] != {"left": n, "right": n} or writes(out):
                raise SystemExit(f"the seed did not read {n} records a side without writing: {summary}")
            row["seed_s"] = seed_s
            for cycle in ("quiet", "full", "incremental"):
                if cycle == "full":
                    configure("1 second")
                    time.sleep(1.1)
                if cycle == "incremental":
                    configure("1 day")
                    change_some(left_url, n)
                wall, rss, out = syncd(config, "once", "--json")
                expected = CHANGED if cycle == "incremental" else 0
                if writes(out) != expected:
                    raise SystemExit(f"the {cycle} cycle at N={n} wrote {writes(out)} records, not {expected}")
                row[f"{cycle}_s"], row[f"{cycle}_rss_mb"] = wall, rss
            return row
        finally:
            for proc, _ in apps:
                proc.terminate()
                proc.wait(timeout=60)


CYCLES = ("seed", "quiet", "full", "incremental")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--quick", action="store_true", help="N = 10,000 and 100,000")
    ap.add_argument("--json", metavar="PATH", help="write the figures as a flat JSON object")
    args = ap.parse_args()
    sizes = [10_000, 100_000] if args.quick else args.sizes
    rows = []
    for n in sizes:
        rows.append(measure(n))
        r = rows[-1]
        print(f"N={n:,}: " + ", ".join(f"{c} {r[f'{c}_s']:.2f} s {r[f'{c}_rss_mb']:.0f} MB" for c in CYCLES),
              flush=True)
    print("\n| snapshots (N a side) | " + " | ".join(f"{c} s | {c} peak RSS MB" for c in CYCLES) + " |")
    print("| ---: |" + " ---: | ---: |" * len(CYCLES))
    for r in rows:
        print(f"| {2 * r['n']:,} ({r['n']:,}) | "
              + " | ".join(f"{r[f'{c}_s']:.2f} | {r[f'{c}_rss_mb']:.0f}" for c in CYCLES) + " |")
    figures: dict[str, Any] = {}
    for r in rows:
        key = label(int(r["n"]))
        # The cycles a daemon runs all day: the peak of the three.
        figures[f"rss_mb_{key}"] = round(max(r[f"{c}_rss_mb"] for c in CYCLES[1:]), 1)
        for c in CYCLES:
            figures[f"{c}_s_{key}"] = round(r[f"{c}_s"], 3)
            figures[f"{c}_rss_mb_{key}"] = round(r[f"{c}_rss_mb"], 1)
    if len(rows) > 1:
        small, big = rows[0], rows[-1]
        snapshots = 2 * (big["n"] - small["n"])
        print(f"\ngrowth of peak RSS per snapshot, N={small['n']:,} to N={big['n']:,}:")
        for c in CYCLES:
            per = (big[f"{c}_rss_mb"] - small[f"{c}_rss_mb"]) * 1024 * 1024 / snapshots
            figures[f"{c}_bytes_per_snapshot"] = round(per, 1)
            print(f"  {c}: {per:,.1f} bytes")
    sizes = ", ".join(f"{int(r['n']):,}" for r in rows)
    for n in (10_000, 100_000, 1_000_000):  # the sizes bench/all.py's table has rows for
        if f"rss_mb_{label(n)}" not in figures:  # its row says why, rather than the bench failing
            figures[f"rss_mb_{label(n)}_error"] = f"not run: this run's sizes were {sizes}"
    write_figures(args.json, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
