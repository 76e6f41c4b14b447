"""Where a bulk read's time goes: syncd's read against bare loops, in one process.

Reads every contact of the peer benchmark's fake CRM ($FAKECRM_URL, bearer
$FAKECRM_TOKEN; started here from ../shared/bench/peers/fakecrm.py when
unset) several ways, alternating rounds in one process so that machine
noise hits each alike, and prints the best and median seconds of each and
its ratio to the first:

    sync-httpx      httpx.Client, orjson, nothing else (the sequential limit)
    async-httpx     httpx.AsyncClient (httpcore's pool), orjson, nothing else
    syncd-raw       syncd's connector with extraction switched off
    syncd           syncd's connector as it runs: read ahead, extract, normalise

Start-up is not in these figures (bench/peers.sh measures whole processes).

    .venv/bin/python bench/read_stages.py                  # 100,000 contacts, 5 rounds
    ROUNDS=9 .venv/bin/python bench/read_stages.py syncd sync-httpx
    .venv/bin/python bench/read_stages.py --quick --json /tmp/stages.json   # 20,000 contacts, 2 rounds

``--json PATH`` writes each read's median seconds (``stages_syncd_s``...)
and its speed against the first (``stages_syncd_vs_sync_httpx``).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import httpx
import orjson
from figures import write_figures

from syncd._secret import Secret
from syncd.config import load_connector_file
from syncd.connector import Connector

HERE = Path(__file__).parent
FAKECRM = HERE.parent.parent / "shared" / "bench" / "peers" / "fakecrm.py"
N = int(os.environ.get("FAKECRM_N", "100000"))


@contextmanager
def fakecrm(n: int) -> Iterator[tuple[str, str]]:
    if "FAKECRM_URL" in os.environ:
        yield os.environ["FAKECRM_URL"], os.environ.get("FAKECRM_TOKEN", "test-token")
        return
    if not FAKECRM.exists():
        raise SystemExit(f"the peers' fake CRM is not at {FAKECRM} (../shared/bench/peers; or set FAKECRM_URL)")
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        server = subprocess.Popen([sys.executable, str(FAKECRM), "--n", str(n), "--port", "0",
                                   "--port-file", str(port_file)], stderr=subprocess.DEVNULL)
        try:
            for _ in range(600):
                if port_file.exists() and port_file.read_text().strip():
                    break
                time.sleep(0.1)
            yield f"http://127.0.0.1:{port_file.read_text().strip()}", "test-token"
        finally:
            server.terminate()
            server.wait()


def variants(url: str, token: str) -> dict[str, Callable[[], int]]:
    headers = {"Authorization": f"Bearer {token}"}
    spec = load_connector_file(HERE / "fakecrm.yaml")

    def sync_httpx() -> int:
        n, params = 0, {"limit": 100}
        with httpx.Client(headers=headers) as client:
            while True:
                body = orjson.loads(client.get(f"{url}/contacts", params=params).content)
                n += len(body["results"])
                after = body.get("paging", {}).get("next", {}).get("after")
                if not after:
                    return n
                params = {"limit": 100, "after": after}

    async def async_httpx() -> int:
        n, params = 0, {"limit": 100}
        async with httpx.AsyncClient(headers=headers) as client:
            while True:
                body = orjson.loads((await client.get(f"{url}/contacts", params=params)).content)
                n += len(body["results"])
                after = body.get("paging", {}).get("next", {}).get("after")
                if not after:
                    return n
                params = {"limit": 100, "after": after}

    async def syncd(extract: bool) -> int:
        n = 0
        settings = {"url": url, "token": Secret(token, "${env:FAKECRM_TOKEN}")}
        async with Connector(spec, "contacts", settings) as contacts:
            if not extract:
                contacts.extractor.page = lambda raws: raws  # type: ignore[method-assign]
            async for page in contacts.list():
                n += len(page.records)
        return n

    return {
        "sync-httpx": sync_httpx,
        "async-httpx": lambda: anyio.run(async_httpx),
        "syncd-raw": lambda: anyio.run(syncd, False),
        "syncd": lambda: anyio.run(syncd, True),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("variants", nargs="*", help="reads to run, the first the baseline (default: all four)")
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", "5")), help="rounds (5; $ROUNDS)")
    ap.add_argument("--quick", action="store_true", help="20,000 contacts ($FAKECRM_N), 2 rounds, a fake CRM of its own")
    ap.add_argument("--json", metavar="PATH", help="write the figures as a flat JSON object")
    args = ap.parse_args()
    n, rounds = N, args.rounds
    if args.quick and "FAKECRM_URL" not in os.environ:
        n, rounds = int(os.environ.get("FAKECRM_N", "20000")), 2
    with fakecrm(n) as (url, token):
        runs = variants(url, token)
        chosen = args.variants or list(runs)
        unknown = [name for name in chosen if name not in runs]
        if unknown:
            ap.error(f"unknown read {', '.join(unknown)}; known: {', '.join(runs)}")
        times: dict[str, list[float]] = {name: [] for name in chosen}
        for _ in range(rounds):
            for name in chosen:
                gc.collect()
                started = time.perf_counter()
                count = runs[name]()
                times[name].append(time.perf_counter() - started)
                assert count == n, f"{name} read {count} of {n}"
    base = statistics.median(times[chosen[0]])
    print(f"{n:,} contacts, {rounds} rounds, one process")
    print("| read | best s | median s | vs " + chosen[0] + " (median) |")
    print("| --- | ---: | ---: | ---: |")
    figures: dict[str, float] = {"stages_n": n, "stages_rounds": rounds}
    for name, seconds in times.items():
        median = statistics.median(seconds)
        print(f"| {name} | {min(seconds):.3f} | {median:.3f} | {base / median:.2f}x |")
        key = name.replace("-", "_")
        figures[f"stages_{key}_s"] = median
        if name != chosen[0]:
            figures[f"stages_{key}_vs_{chosen[0].replace('-', '_')}"] = base / median
    write_figures(args.json, figures)


if __name__ == "__main__":
    main()
