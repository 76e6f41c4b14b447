"""One process of test_shared_ratelimit.py's two: sends a GET for each id
given, all at once, through an AccountRegistry of its own on the PostgreSQL
state's shared rates, once a line comes on stdin (both start together), and
prints when each request left the client, on ``time.monotonic`` (one clock
for every process of the host).

``python shared_rate_sender.py SPEC_FILE APP_URL APP_TOKEN DATABASE_URL ID,ID,…``
"""

from __future__ import annotations

import json
import sys

import anyio

from syncd._secret import Secret
from syncd.config import load_connector_file
from syncd.connector import AccountRegistry, Connector
from syncd.state._pg_shared import SharedRates
from test_ratelimit import SendTimes, get_all


async def main(spec_file: str, url: str, token: str, database: str, ids: list[str]) -> list[float]:
    registry = AccountRegistry(rates=SharedRates(database))
    sent = SendTimes()
    try:
        settings = {"url": url, "token": Secret(token, "${env:TOKEN}")}
        async with Connector(load_connector_file(spec_file), "contacts", settings, accounts=registry,
                             transport=sent) as c:
            print("ready", flush=True)
            await anyio.to_thread.run_sync(sys.stdin.readline)
            await get_all([(c, cid) for cid in ids])
    finally:
        registry.close()
    return sent.times


if __name__ == "__main__":
    spec_file, url, token, database, ids = sys.argv[1:6]
    print(json.dumps(anyio.run(main, spec_file, url, token, database, ids.split(","))), flush=True)
