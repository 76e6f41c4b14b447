"""Read every contact of the peer benchmark's fake CRM through syncd's engine.

Plugs into ../shared/bench/peers (see its README, "Plugging in a new tool"):
reads $FAKECRM_URL with bearer $FAKECRM_TOKEN through bench/fakecrm.yaml and
the real connector engine (auth, cursor pagination, retries, extraction and
normalisation of id, email, names, phone, tags and updated_at), and prints
the number of records read as its last line. ``--json PATH`` also writes
the count and the read's seconds (start-up aside) there.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import anyio
from figures import write_figures

from syncd._secret import Secret
from syncd.config import load_connector_file
from syncd.connector import Connector

SPEC = Path(__file__).with_name("fakecrm.yaml")


async def read_all() -> int:
    spec = load_connector_file(SPEC)
    settings = {
        "url": os.environ.get("FAKECRM_URL", "http://127.0.0.1:8765"),
        "token": Secret(os.environ.get("FAKECRM_TOKEN", "test-token"), "${env:FAKECRM_TOKEN}"),
    }
    count = errors = 0
    async with Connector(spec, "contacts", settings) as contacts:
        async for page in contacts.list():
            count += len(page.records)
            errors += len(page.errors)
    if errors:
        print(f"{errors} records could not be read", file=sys.stderr)
    return count


def main() -> None:
    # argv by hand, not argparse: the harness runs this line as it is, and
    # its import is start-up the peers' figures would carry too
    json_path = sys.argv[sys.argv.index("--json") + 1] if "--json" in sys.argv else None
    started = time.perf_counter()
    count = anyio.run(read_all)
    write_figures(json_path, {"read_records": count, "read_in_process_s": time.perf_counter() - started})
    print(count)


if __name__ == "__main__":
    main()
