"""Probing a connector: can it authenticate and read, and what does it read?

Used by ``syncd check``: reads the first page (or every page) of an
object's ``list`` operation and reports what came back and how long it took.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from syncd.connector._connector import Connector
from syncd.connector._errors import RecordError
from syncd.connector._fields import Record


@dataclass(slots=True)
class ProbeResult:
    pages: int = 0
    records: int = 0
    first_records: list[Record] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)
    more_pages: bool = False
    seconds: float = 0.0
    first_page_seconds: float = 0.0
    retries: int = 0


async def probe(connector: Connector, *, all_pages: bool = False, keep: int = 3) -> ProbeResult:
    """Read the first page (or all pages) of ``list``; errors propagate."""
    result = ProbeResult()
    start = time.perf_counter()
    pages = connector.list(read_ahead=all_pages)
    try:
        async for page in pages:
            if result.pages == 0:
                result.first_page_seconds = time.perf_counter() - start
            result.pages += 1
            result.records += len(page.records)
            room = keep - len(result.first_records)
            if room > 0:
                result.first_records.extend(page.records[:room])
            result.errors.extend(page.errors)
            if not all_pages:
                # Without read-ahead the next page is asked for only when
                # iterated, so knowing whether one exists would cost a request.
                result.more_pages = connector.last_run_has_more
                break
    finally:
        await pages.aclose()
    result.seconds = time.perf_counter() - start
    result.retries = connector.sender.retries
    return result
