"""Probing a connector: can it authenticate and read, and what does it read?

Used by ``syncd check``: reads the first page (or every page) of an
object's ``list`` operation and reports what came back and how long it took.
An object without ``list`` (a write-only target) has no page to read: its
probe asks for one record that does not exist, which proves the address
and the credentials without touching any record (:func:`probe_write_only`).
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
    # A write-only object (no list): the request that proved the credentials
    # instead of a page, e.g. "get of id 0: not found".
    write_only: str | None = None


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


# The id and value asked for by the probe of a write-only object: no app
# should hold a record with either (a record found is shown, all the same).
MISSING_ID = "0"
MISSING_VALUE = "syncd-check.invalid"


async def probe_write_only(connector: Connector, *, keep: int = 3) -> ProbeResult:
    """Authenticate against an object without ``list``: ``get`` of an id
    that does not exist (a 404 is the expected answer), else ``find`` of a
    value no record has; errors (a 401, a wrong address) propagate."""
    result = ProbeResult()
    start = time.perf_counter()
    if "get" in connector.object.operations:
        record = await connector.get(MISSING_ID)
        records = [record] if record is not None else []
        asked = f"get of id {MISSING_ID}"
    else:
        field = next(iter(connector.object.fields))
        records = await connector.find(field, MISSING_VALUE)
        asked = f"find of {field} = {MISSING_VALUE}"
    result.seconds = result.first_page_seconds = time.perf_counter() - start
    result.pages = 1
    result.records = len(records)
    result.first_records = records[:keep]
    result.retries = connector.sender.retries
    result.write_only = f"{asked}: " + (f"{len(records)} record(s)" if records else "not found, as expected")
    return result
