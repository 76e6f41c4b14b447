"""Pages fetched at once (a list's ``concurrency``) against the sequential bare-httpx limit.

One sample app serves N pages of 100 contacts by offset (``/offset/contacts``,
with ``total_items``) and adds 50 ms to every page, as a remote API's
latency would. In one process, alternating, R rounds of:

* ``bare``: a sequential loop of httpx (``httpx.Client``) asking for each page
  and decoding its JSON: the most a reader of one page at a time can do;
* ``syncd c1``: syncd's connector reading the list (auth, pagination,
  retries, extraction and normalisation of every field) at ``concurrency: 1``,
  the default: one page at a time, the next asked for while this one is used;
* ``syncd c4``, ``syncd c8``: the same at ``concurrency: 4`` and ``8``.

Medians of the rounds; records/s and the ratios to ``bare`` and to ``c1``.
The spec is the shipped sample app spec with its contacts read by offset
and without its ``rate_limit`` (50 requests a second would cap c4 and c8
below what the server allows).

    .venv/bin/python bench/parallel_read.py                  # 200 pages, 3 rounds
    .venv/bin/python bench/parallel_read.py --quick          # 12 pages: a smoke test
    .venv/bin/python bench/parallel_read.py --json out.json  # the figures, flat
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import yaml

from syncd._secret import Secret
from syncd.config import ConnectorSpec, load_connector_file
from syncd.connector import Connector
from syncd.sampleapp import AuthMode, SampleApp

REPO = Path(__file__).resolve().parents[1]
PAGE = 100
DELAY = 0.05
TOKEN = "bench-token"


def spec_file(folder: Path, concurrency: int) -> ConnectorSpec:
    spec = yaml.safe_load((REPO / "connectors.d" / "sampleapp.yaml").read_text())
    spec.pop("rate_limit", None)
    spec["objects"]["contacts"]["list"] = {
        "path": "/offset/contacts", "params": {"count": PAGE}, "records": "members",
        "pagination": {"type": "offset", "param": "offset", "limit_param": "count", "total": "total_items"},
        "concurrency": concurrency,
    }
    path = folder / f"sampleapp-c{concurrency}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return load_connector_file(path)


def bare(app: SampleApp) -> int:
    count = offset = 0
    with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        while True:
            body = client.get(f"{app.url}/offset/contacts", params={"offset": offset, "count": PAGE}).json()
            count += len(body["members"])
            offset += len(body["members"])
            if not body["members"] or offset >= body["total_items"]:
                return count


def syncd(app: SampleApp, spec: ConnectorSpec) -> int:
    async def read() -> int:
        count = 0
        settings = {"url": app.url, "token": Secret(TOKEN, "${env:TOKEN}")}
        async with Connector(spec, "contacts", settings) as contacts:
            async for page in contacts.list():
                count += len(page.records)
        return count

    return anyio.run(read)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=int, default=200, help="pages of 100 contacts (default 200)")
    ap.add_argument("--repeats", type=int, default=3, help="rounds, alternating the readers (default 3)")
    ap.add_argument("--quick", action="store_true", help="a smoke test: --pages 12")
    ap.add_argument("--json", type=Path, help="also write the figures as one flat JSON object here")
    args = ap.parse_args()
    if args.quick:
        args.pages = 12
    n = args.pages * PAGE
    with tempfile.TemporaryDirectory(prefix="parallel-read-") as tmp, \
            SampleApp(n=n, auth=AuthMode.BEARER, token=TOKEN) as app:
        app.faults.add(delay=DELAY, times=None, method="GET", path_prefix="/offset/contacts")
        specs = {c: spec_file(Path(tmp), c) for c in (1, 4, 8)}
        readers: dict[str, Callable[[], int]] = {
            "bare": lambda: bare(app),
            **{f"c{c}": (lambda s=s: syncd(app, s)) for c, s in specs.items()},
        }
        times: dict[str, list[float]] = {name: [] for name in readers}
        for round_ in range(args.repeats):
            order = list(readers) if round_ % 2 == 0 else list(reversed(readers))
            for name in order:
                started = time.perf_counter()
                count = readers[name]()
                times[name].append(time.perf_counter() - started)
                if count != n:
                    sys.exit(f"{name} read {count} records, not {n}")
    median = {name: statistics.median(t) for name, t in times.items()}
    rate = {name: n / s for name, s in median.items()}
    print(f"{args.pages} pages of {PAGE} contacts, {DELAY * 1000:.0f} ms added to each page; "
          f"medians of {args.repeats} rounds, alternating\n")
    print("| reader | s | records/s | / bare | / syncd c1 |")
    print("| --- | --- | --- | --- | --- |")
    labels = {"bare": "sequential bare httpx", "c1": "syncd, concurrency 1", "c4": "syncd, concurrency 4",
              "c8": "syncd, concurrency 8"}
    for name in readers:
        print(f"| {labels[name]} | {median[name]:.2f} | {rate[name]:,.0f} | {rate[name] / rate['bare']:.2f}x "
              f"| {rate[name] / rate['c1']:.2f}x |")
    figures: dict[str, Any] = {
        "parallel_pages": args.pages,
        "parallel_bare_records_per_s": round(rate["bare"]),
        "parallel_c1_records_per_s": round(rate["c1"]),
        "parallel_c4_records_per_s": round(rate["c4"]),
        "parallel_c8_records_per_s": round(rate["c8"]),
        "parallel_c1_vs_bare": round(rate["c1"] / rate["bare"], 2),
        "parallel_c4_vs_bare": round(rate["c4"] / rate["bare"], 2),
        "parallel_c8_vs_bare": round(rate["c8"] / rate["bare"], 2),
        "parallel_c4_vs_c1": round(rate["c4"] / rate["c1"], 2),
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
    }
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
