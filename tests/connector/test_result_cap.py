"""max_results and restart, for every pagination style: against the sample app.

The sample app has no cap of its own: the spec's ``max_results`` is what
stops a query, so these show the engine's part alone. A ``changes`` read
with ``restart`` goes on from the last record's ``updated_at`` in a new
query and returns each record once; a read without ``restart`` that reaches
the cap fails instead of passing for complete. (HubSpot's spec against a
fake that enforces the cap: tests/connector_specs/test_hubspot_search_cap.py.)
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from syncd.connector import PaginationError

pytestmark = pytest.mark.anyio

SINCE = datetime(2000, 1, 1, tzinfo=UTC)
CAP = 10
RESTART = {"max_results": CAP, "restart": {"since_from": "updated_at"}}

# Each style pages the app's contacts updated after `since`, oldest first, 7 a page.
STYLES: dict[str, dict[str, Any]] = {
    "cursor-body-field": {
        "method": "POST", "path": "/search/contacts", "body": {"limit": 7, "updated_after": "{{ since }}"},
        "records": "results", "pagination": {"type": "cursor", "cursor": "paging.next.after", "body_field": "after"}},
    "cursor-param": {
        "path": "/cursor/contacts", "params": {"limit": 7, "updated_after": "{{ since }}"}, "records": "results",
        "pagination": {"type": "cursor", "cursor": "paging.next.after", "param": "after"}},
    "offset": {
        "path": "/offset/contacts", "params": {"count": 7, "updated_after": "{{ since }}"}, "records": "members",
        "pagination": {"type": "offset", "param": "offset", "limit_param": "count", "total": "total_items"}},
    "page-number": {
        "path": "/pages/contacts", "params": {"per_page": 7, "updated_after": "{{ since }}"}, "records": "items",
        "pagination": {"type": "page_number", "param": "page"}},
    "link-header": {
        "path": "/link/contacts", "params": {"per_page": 7, "updated_after": "{{ since }}"}, "records": "@",
        "pagination": {"type": "link_header"}},
}


def capped(style: str, **pagination: Any) -> dict[str, Any]:
    op = dict(STYLES[style])
    op["pagination"] = {**op["pagination"], **pagination}
    return op


async def changed(c: Any) -> list[str]:
    return [r.id for page in [p async for p in c.changes(SINCE)] for r in page.records]


@pytest.mark.parametrize("style", STYLES)
async def test_a_capped_changes_read_restarts_and_returns_every_record_once(
        sample_app: Any, make_spec: Any, connect: Any, style: str) -> None:
    app = sample_app(n=45)
    async with connect(make_spec(operations={"changes": capped(style, **RESTART)}), app) as c:
        ids = await changed(c)
    assert sorted(ids) == app.store.ids() and len(ids) == 45
    # two pages of 7 fill a query: a new one from the 14th record's date, the 28th's, the 42nd's
    windows = {(r.body or {}).get("updated_after") or r.query["updated_after"] for r in app.requests}
    assert len(windows) == 4


@pytest.mark.parametrize("operation", ["list", "changes"])
async def test_a_read_that_reaches_max_results_without_restart_fails(
        sample_app: Any, make_spec: Any, connect: Any, operation: str) -> None:
    app = sample_app(n=25)
    op = capped("cursor-param", max_results=CAP)
    if operation == "list":
        op["params"] = {"limit": 7}
    async with connect(make_spec(operations={operation: op}), app) as c:
        read = 0
        with pytest.raises(PaginationError, match="max_results=10 records with more left"):
            async for page in (c.list() if operation == "list" else c.changes(SINCE)):
                read += len(page.records)
    assert read == 14  # the pages read: two of 7, the query stopped there
    assert len(app.requests) == 2


async def test_a_window_that_cannot_move_is_an_error_not_a_loop(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    # since_from on a value every record shares: no query gets past it.
    app = sample_app(n=25)
    op = capped("cursor-param", max_results=CAP, restart={"since_from": "'2001-01-01T00:00:00Z'"})
    async with connect(make_spec(operations={"changes": op}), app) as c:
        with pytest.raises(PaginationError, match="a new query from there would return them again"):
            await changed(c)
    assert len(app.requests) == 4  # two queries of two pages
