"""Pagination: every style reads every contact once, and a broken API is refused, not looped on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from collections.abc import Iterator
from typing import Any

import pytest

from syncd.connector import PaginationError
from syncd.sampleapp import SampleApp

pytestmark = pytest.mark.anyio

PAGE = 7
RELATIVE_NEXT = "paging.next.after && join('', ['{prefix}', paging.next.after])"

STYLES: dict[str, dict[str, Any]] = {
    "cursor-param": {
        "path": "/cursor/contacts", "params": {"limit": PAGE}, "records": "results",
        "pagination": {"type": "cursor", "cursor": "paging.next.after", "param": "after"}},
    "cursor-body-field": {
        "method": "POST", "path": "/search/contacts", "body": {"limit": PAGE}, "records": "results",
        "pagination": {"type": "cursor", "cursor": "paging.next.after", "body_field": "after"}},
    "next-url-absolute": {
        "path": "/next/contacts", "params": {"limit": PAGE}, "records": "data",
        "pagination": {"type": "next_url", "next": "links.next"}},
    "next-url-absolute-link": {
        "path": "/cursor/contacts", "params": {"limit": PAGE}, "records": "results",
        "pagination": {"type": "next_url", "next": "paging.next.link"}},
    "next-url-root-relative": {
        "path": "/cursor/contacts", "params": {"limit": PAGE}, "records": "results",
        "pagination": {"type": "next_url",
                       "next": RELATIVE_NEXT.format(prefix=f"/cursor/contacts?limit={PAGE}&after=")}},
    "next-url-path-relative": {
        "path": "/cursor/contacts", "params": {"limit": PAGE}, "records": "results",
        "pagination": {"type": "next_url",
                       "next": RELATIVE_NEXT.format(prefix=f"contacts?limit={PAGE}&after=")}},
    "link-header": {
        "path": "/link/contacts", "params": {"per_page": PAGE}, "records": "@",
        "pagination": {"type": "link_header"}},
    "offset-with-total": {
        "path": "/offset/contacts", "params": {"count": PAGE}, "records": "members",
        "pagination": {"type": "offset", "param": "offset", "limit_param": "count", "total": "total_items"}},
    "offset-without-total": {
        "path": "/offset/contacts", "params": {"count": PAGE}, "records": "members",
        "pagination": {"type": "offset", "param": "offset", "limit_param": "count"}},
    "offset-without-limit-param": {  # the page size is learnt from the first page
        "path": "/offset/contacts", "params": {"count": PAGE}, "records": "members",
        "pagination": {"type": "offset", "param": "offset"}},
    "page-number-with-total": {
        "path": "/pages/contacts", "params": {"per_page": PAGE}, "records": "items",
        "pagination": {"type": "page_number", "param": "page", "total_pages": "meta.total_pages"}},
    "page-number-without-total": {
        "path": "/pages/contacts", "params": {"per_page": PAGE}, "records": "items",
        "pagination": {"type": "page_number", "param": "page"}},
    "page-number-over-link-api": {
        "path": "/link/contacts", "params": {"per_page": PAGE}, "records": "@",
        "pagination": {"type": "page_number", "param": "page", "start": 1}},
    "single": {"path": "/all/contacts"},
}


async def read(c: Any, pages: Any = None) -> tuple[list[Any], list[str]]:
    got = [page async for page in (pages if pages is not None else c.list())]
    return got, [r.id for page in got for r in page.records]


def list_requests(app: SampleApp) -> list[Any]:
    return [r for r in app.requests if r.path != "/_health"]


SIZES = (0, 1, 28, 30)  # none, one, whole pages only, a short last page


@pytest.fixture(scope="module")
def read_only_apps() -> Iterator[dict[int, SampleApp]]:
    """One app per size, shared by the tests that only read (each clears the log)."""
    apps = {n: SampleApp(n=n).start() for n in SIZES}
    yield apps
    for app in apps.values():
        app.stop()
    for app in apps.values():
        assert not app.server_errors, app.server_errors


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("style", list(STYLES))
async def test_every_style_reads_every_contact_exactly_once(read_only_apps: dict[int, SampleApp], make_spec: Any,
                                                            connect: Any, style: str, n: int) -> None:
    app = read_only_apps[n]
    app.requests.clear()
    async with connect(make_spec(replace_list=STYLES[style]), app) as c:
        pages, ids = await read(c)
    assert sorted(ids) == sorted(app.store.ids())
    assert len(ids) == len(set(ids)) == n
    assert [p.number for p in pages] == list(range(1, len(pages) + 1))
    assert all(p.errors == [] for p in pages)
    requests = list_requests(app)
    assert len(requests) == len(pages)
    if style == "single":
        assert len(pages) == 1
    else:
        # one page per PAGE contacts, plus at most one empty page to learn the end
        assert -(-n // PAGE) <= len(pages) <= max(1, -(-n // PAGE) + 1)
    if style.startswith("next-url"):  # after the first, every request is the next link as given
        assert all(r.path == requests[0].path for r in requests)


async def test_cursor_in_the_body_keeps_the_static_body(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=16)
    async with connect(make_spec(replace_list=STYLES["cursor-body-field"]), app) as c:
        await read(c)
    bodies = [r.body for r in app.requests.matching("POST", "/search/contacts")]
    assert bodies[0] == {"limit": PAGE}
    assert [set(b) for b in bodies[1:]] == [{"limit", "after"}] * 2
    assert bodies[1]["after"] != bodies[2]["after"]


async def test_api_key_in_the_query_survives_next_links(sample_app: Any, make_spec: Any, connect: Any) -> None:
    # A next URL carries the API's own parameters; the auth flow adds the key again.
    app = sample_app(n=20, auth="api_key_query", token="query-key-123")
    spec = make_spec(replace_list=STYLES["next-url-absolute"],
                     auth={"type": "api_key", "in": "query", "name": "api_key", "value": "{{ settings.token }}"})
    async with connect(spec, app) as c:
        _, ids = await read(c)
    assert len(ids) == 20
    assert [r.query["api_key"] for r in app.requests] == ["query-key-123"] * 3


async def test_stuck_cursor_is_a_pagination_error(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=30)
    stuck = {**STYLES["cursor-param"], "path": "/stuck/contacts"}
    async with connect(make_spec(replace_list=stuck), app) as c:
        with pytest.raises(PaginationError) as caught:
            await read(c)
    assert caught.value.operation == "testapp.contacts.list"
    assert "already used" in str(caught.value)
    assert len(app.requests) == 2  # noticed at once, not after max_pages


async def test_stuck_next_url_is_a_pagination_error(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=30)
    stuck = {**STYLES["next-url-absolute-link"], "path": "/stuck/contacts"}
    async with connect(make_spec(replace_list=stuck), app) as c:
        with pytest.raises(PaginationError, match="next page URL"):
            await read(c)
    assert len(app.requests) == 2  # the second page links to itself


@pytest.mark.parametrize("style", ["offset", "page_number"])
async def test_api_ignoring_the_page_parameter_is_a_pagination_error(
        sample_app: Any, make_spec: Any, connect: Any, style: str) -> None:
    # /cursor/contacts knows neither offset nor page: it sends page 1 again.
    app = sample_app(n=30)
    pagination = {"type": style, "param": style if style == "offset" else "page"}
    spec = make_spec(replace_list={"path": "/cursor/contacts", "params": {"limit": PAGE},
                                   "records": "results", "pagination": pagination})
    seen: list[str] = []
    async with connect(spec, app) as c:
        with pytest.raises(PaginationError, match="ignores the"):
            async for page in c.list():
                seen.extend(r.id for r in page.records)
    assert seen == app.store.ids()[:PAGE]  # page 1 once; the repeat never reaches the caller
    assert len(app.requests) == 2


async def test_max_pages_exceeded_is_a_pagination_error(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=30)
    capped = {**STYLES["cursor-param"], "pagination": {**STYLES["cursor-param"]["pagination"], "max_pages": 2}}
    got: list[str] = []
    async with connect(make_spec(replace_list=capped), app) as c:
        with pytest.raises(PaginationError, match="max_pages=2"):
            async for page in c.list():
                got.extend(r.id for r in page.records)
    assert len(app.requests) == 2
    assert got == app.store.ids()[:2 * PAGE]  # both allowed pages reach the caller first


async def test_max_pages_reached_exactly_is_complete(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=30)  # 5 pages of 7
    capped = {**STYLES["page-number-with-total"],
              "pagination": {**STYLES["page-number-with-total"]["pagination"], "max_pages": 5}}
    async with connect(make_spec(replace_list=capped), app) as c:
        pages, ids = await read(c)
    assert len(pages) == 5 and sorted(ids) == app.store.ids()


# -- changes(since) -----------------------------------------------------------

def _since(app: SampleApp) -> datetime:
    # the store's clock: every write after this is strictly newer
    return datetime.fromisoformat(app.store.now())


CHANGES_BY_BODY = {
    "method": "POST", "path": "/search/contacts", "body": {"limit": 3, "updated_after": "{{ since }}"},
    "records": "results", "pagination": {"type": "cursor", "cursor": "paging.next.after", "body_field": "after"}}


@pytest.mark.parametrize("where", ["query", "body"])
async def test_changes_returns_only_records_updated_after_since(sample_app: Any, make_spec: Any, connect: Any,
                                                                where: str) -> None:
    app = sample_app(n=30)
    since = _since(app)
    changed = ["1000005", "1000017", "1000029", "1000003"]
    for cid in changed:
        app.store.update(cid, first_name="Changed")
    spec = make_spec(operations={"changes": CHANGES_BY_BODY} if where == "body" else None)
    async with connect(spec, app) as c:
        pages, ids = await read(c, c.changes(since))
    assert sorted(ids) == sorted(changed)
    assert ids == changed  # in the order they were updated
    records = [r for p in pages for r in p.records]
    assert all(r.fields["first_name"] == "Changed" and r.updated_at and r.updated_at > since for r in records)
    if where == "body":
        assert len(pages) == 2  # 3 + 1: the cursor kept the since filter


async def test_changes_since_long_ago_reads_everything(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=20)
    async with connect(make_spec(), app) as c:
        _, ids = await read(c, c.changes(datetime(2000, 1, 1, tzinfo=UTC)))
    assert sorted(ids) == app.store.ids()


@pytest.mark.parametrize(("since", "text", "epoch", "ms"), [
    (datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
     "2024-05-01T12:00:00.123Z", 1714564800, 1714564800123),
    (datetime(2024, 5, 1, 12, 0, 0), "2024-05-01T12:00:00Z", 1714564800, 1714564800000),  # naive = UTC
    (datetime(2023, 11, 26, 15, 6, 40, 7000, tzinfo=UTC), "2023-11-26T15:06:40.007Z", 1701011200, 1701011200007),
])
async def test_changes_renders_since_epoch_and_ms(sample_app: Any, make_spec: Any, connect: Any,
                                                  since: datetime, text: str, epoch: int, ms: int) -> None:
    app = sample_app(n=5)
    spec = make_spec(contacts={"changes": {"params": {
        "updated_after": "{{ since }}", "se": "{{ since_epoch }}", "sm": "{{ since_ms }}"}}})
    async with connect(spec, app) as c:
        await read(c, c.changes(since))
    query = app.requests.last().query
    assert query == {"limit": str(PAGE), "updated_after": text, "se": str(epoch), "sm": str(ms)}


async def test_list_without_changes_operation_says_so(sample_app: Any, make_spec: Any, connect: Any) -> None:
    from syncd.connector import ConnectorError

    app = sample_app(n=3)
    async with connect(make_spec(contacts={"changes": None}), app) as c:
        assert not c.has_changes
        with pytest.raises(ConnectorError, match="no 'changes' operation"):
            await read(c, c.changes(datetime.now(UTC)))
    assert len(app.requests) == 0
