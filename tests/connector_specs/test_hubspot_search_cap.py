"""HubSpot's search cap: one search query returns 10,000 contacts at most.

connectors.d/hubspot.yaml reads changes through the search endpoint with
``max_results: 10000`` and ``restart``: a query that reaches the cap is
followed by a new one from the last contact's modified date. Here the fake's
cap is 300 and the spec's the same (the one number edited; everything else
is the shipped spec), so a poll of a few hundred changed contacts crosses it
twice. The read must return every changed contact once: none twice at a
boundary, none lost when several share the boundary's modified date.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fake_hubspot import FakeHubSpot
from spec_check import shipped

from syncd.connector import Connector, PaginationError

SINCE = datetime(2025, 1, 1, tzinfo=UTC)  # after every contact the fake starts with
CAP = 300


CAPPED = {"max_results: 10000\n        restart:": f"max_results: {CAP}\n        restart:"}


def capped(app: FakeHubSpot, scratch: Path, **edit: str) -> Connector:
    return shipped("hubspot", "contacts", secrets={"token": app.token}, base_url=app.url, scratch=scratch,
                   edit={**CAPPED, **edit})


async def changed_ids(c: Connector) -> list[str]:
    return [r.id for page in [p async for p in c.changes(SINCE)] for r in page.records]


def searches(app: FakeHubSpot) -> list[tuple[str, str]]:
    """Each search request's (since filter value, after)."""
    return [(r.body["filterGroups"][0]["filters"][0]["value"], r.body["after"])
            for r in app.requests if r.path.endswith("/search")]


@pytest.mark.anyio
async def test_changes_past_the_search_cap_return_every_contact_once(
        hubspot_app: Callable[..., FakeHubSpot], tmp_path: Path) -> None:
    app = hubspot_app(contacts=700, search_cap=CAP)
    order = list(app.contacts)[::-1]  # changed newest id first: the read's order is the dates'
    for cid in order:
        app.modify(cid, lastname="Changed")

    async with capped(app, tmp_path) as c:
        ids = await changed_ids(c)

    assert ids == order
    windows = searches(app)
    # three queries: 300, 300 (the boundary contact again, skipped: 299 new), 101
    assert [after for _, after in windows] == ["0", "200", "0", "200", "0"]
    starts = [int(since) for since, _ in windows]
    last_of = {cid: app.contacts[cid]["properties"]["lastmodifieddate"] for cid in order}
    assert starts[2] == int(datetime.fromisoformat(last_of[order[299]]).timestamp() * 1000)
    assert starts[4] == int(datetime.fromisoformat(last_of[order[598]]).timestamp() * 1000)


@pytest.mark.anyio
async def test_contacts_sharing_the_boundary_date_are_neither_lost_nor_repeated(
        hubspot_app: Callable[..., FakeHubSpot], tmp_path: Path) -> None:
    # 250 edited one by one, then 120 in one bulk edit (one modified date),
    # then 80 more: the first query ends 50 contacts into the bulk edit; the
    # second starts at its date and returns all 120 (70 of them new).
    app = hubspot_app(contacts=450, search_cap=CAP)
    ids = list(app.contacts)
    for cid in ids[:250]:
        app.modify(cid, lastname="One")
    app.modify_together(ids[250:370], lastname="Bulk")
    for cid in ids[370:]:
        app.modify(cid, lastname="Two")

    async with capped(app, tmp_path) as c:
        read = await changed_ids(c)

    assert sorted(read, key=int) == ids and len(read) == len(set(read))
    bulk = app.contacts[ids[250]]["properties"]["lastmodifieddate"]
    # 200 + 100, then one page of 200 from the bulk edit's date (its 120, 50 skipped, and 80)
    assert searches(app)[1:] == [(searches(app)[0][0], "200"),
                                 (str(int(datetime.fromisoformat(bulk).timestamp() * 1000)), "0")]


@pytest.mark.anyio
async def test_a_since_in_whole_seconds_rereads_the_boundary_second_and_skips_it(
        hubspot_app: Callable[..., FakeHubSpot], tmp_path: Path) -> None:
    # The filter written with since_epoch (milliseconds at a whole second):
    # each new query starts at the boundary's second and returns again the
    # contacts of that second read before it, which are skipped.
    app = hubspot_app(contacts=700, search_cap=CAP)
    ids = list(app.contacts)
    for group in range(7):  # a hundred edits a second
        app.last_touch = app.last_touch.replace(microsecond=0) + timedelta(seconds=1)
        for cid in ids[group * 100:(group + 1) * 100]:
            app.modify(cid, lastname="Changed")

    async with capped(app, tmp_path, **{'value: "{{ to_string(since_ms) }}"':
                                        'value: "{{ to_string(since_epoch) }}000"'}) as c:
        read = await changed_ids(c)

    assert read == ids
    assert [int(since) % 1000 for since, _ in searches(app)] == [0] * len(searches(app))
    # 300; from the third hundred's second: it again (skipped) and 200 new; the
    # same from the fifth's; from the seventh's: only it, all skipped
    assert len({since for since, _ in searches(app)}) == 4


@pytest.mark.anyio
async def test_more_contacts_than_the_cap_at_one_date_fail_the_read(
        hubspot_app: Callable[..., FakeHubSpot], tmp_path: Path) -> None:
    # No query can get past 350 contacts modified in the same millisecond.
    app = hubspot_app(contacts=400, search_cap=CAP)
    ids = list(app.contacts)
    app.modify_together(ids[:350], lastname="Imported")

    async with capped(app, tmp_path) as c:
        with pytest.raises(PaginationError) as caught:
            await changed_ids(c)

    assert "max_results=300" in str(caught.value) and "properties.lastmodifieddate" in str(caught.value)
    assert len(searches(app)) == 4  # the second query, from the same date, shows it: no third


@pytest.mark.anyio
async def test_a_find_matching_more_than_the_cap_fails_instead_of_stopping_short(
        hubspot_app: Callable[..., FakeHubSpot], tmp_path: Path) -> None:
    # find has max_results but no restart (it has no since-window to move).
    app = hubspot_app(contacts=1300, search_cap=CAP)  # a quarter of them leads: 325
    async with shipped("hubspot", "contacts", secrets={"token": app.token}, base_url=app.url, scratch=tmp_path,
                       edit={"body_field: after, max_results: 10000}":
                             f"body_field: after, max_results: {CAP}}}"}) as c:
        assert len(await c.find("email", "contact.0001@example.com")) == 1
        with pytest.raises(PaginationError) as caught:
            await c.find("stage", "lead")
    assert "max_results=300" in str(caught.value)
    assert [r.body["after"] for r in app.requests if r.path.endswith("/search")][1:] == ["0", "100", "200"]


@pytest.mark.slow
@pytest.mark.anyio
async def test_the_shipped_spec_reads_past_hubspots_real_cap(hubspot_app: Callable[..., Any]) -> None:
    # The shipped spec unedited against HubSpot's own 10,000 (about 6 s).
    app = hubspot_app(contacts=10_050)
    for cid in list(app.contacts):
        app.modify(cid, lastname="Changed")
    async with shipped("hubspot", "contacts", secrets={"token": app.token}, base_url=app.url) as c:
        ids = await changed_ids(c)
    assert sorted(ids, key=int) == list(app.contacts)
