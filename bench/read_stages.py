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
"""

from __future__ import annotations

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

from syncd._secret import Secret
from syncd.config import load_connector_file
from syncd.connector import Connector

HERE = Path(__file__).parent
FAKECRM = HERE.parent.parent / "shared" / "bench" / "peers" / "fakecrm.py"
N = int(os.environ.get("FAKECRM_N", "100000"))


@contextmanager
def fakecrm() -> Iterator[tuple[str, str]]:
    if "FAKECRM_URL" in os.environ:
        yield os.environ["FAKECRM_URL"], os.environ.get("FAKECRM_TOKEN", "test-token")
        return
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        server = subprocess.Popen([sys.executable, str(FAKECRM), "--n", str(N), "--port", "0",
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
    rounds = int(os.environ.get("ROUNDS", "5"))
    with fakecrm() as (url, token):
        runs = variants(url, token)
        chosen = sys.argv[1:] or list(runs)
        times: dict[str, list[float]] = {name: [] for name in chosen}
        for _ in range(rounds):
            for name in chosen:
                gc.collect()
                started = time.perf_counter()
                count = runs[name]()
                times[name].append(time.perf_counter() - started)
                assert count == N, f"{name} read {count} of {N}"
    base = statistics.median(times[chosen[0]])
    print(f"{N:,} contacts, {rounds} rounds, one process")
    print("| read | best s | median s | vs " + chosen[0] + " (median) |")
    print("| --- | ---: | ---: | ---: |")
    for name, seconds in times.items():
        median = statistics.median(seconds)
        print(f"| {name} | {min(seconds):.3f} | {median:.3f} | {base / median:.2f}x |")


if __name__ == "__main__":
    main()
