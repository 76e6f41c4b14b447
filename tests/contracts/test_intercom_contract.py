"""connectors.d/intercom.yaml against Intercom's own OpenAPI description, version 2.11.

The fake Intercom (tests/contracts/fake_intercom.py, its contacts copied from
the description's example) has the description attached
(tests/contracts/vendor/intercom-2.11.yaml): every request the spec makes
must be one Intercom documents, and every reply the fake gives one too.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_intercom import FakeIntercom
from spec_check import SPECS, check, shipped

from syncd.config import load_connector_file
from syncd.connector import ApiError, Connector, RecordError, read_quota

DESCRIPTION = "intercom-2.11.yaml"
SPEC = SPECS / "intercom.yaml"


def connect(app: FakeIntercom, token: str | None = None) -> Connector:
    return shipped("intercom", "contacts", secrets={"token": token or app.token}, base_url=app.url)


@pytest.mark.anyio
async def test_every_intercom_operation_keeps_to_intercoms_description(vendor_fake: Any) -> None:
    app = vendor_fake(FakeIntercom, DESCRIPTION, contacts=320)
    ids = list(app.contacts)
    app.tag(ids[1], "vip", "beta")
    async with connect(app) as c:
        listed = [r for page in [p async for p in c.list()] for r in page.records]
        for n, cid in enumerate((ids[5], ids[300], ids[151])):
            app.modify(cid, name=f"Changed {n}")
        changed = [r.id for page in [p async for p in c.changes(datetime(2025, 1, 1, tzinfo=UTC))]
                   for r in page.records]
        created = await c.create({"email": "Ada@Example.com", "name": "Ada Lovelace", "phone": "+44 20 7946 0000"})
        fetched = await c.get(created.id)
        found = await c.find("email", "ada@example.com")
        updated = await c.update(created.id, {"name": "Augusta Ada King", "unsubscribed": True})
        assert await c.delete(created.id) is True

    assert len(listed) == 320 and [r.id for r in listed] == ids
    assert listed[0].fields == {"email": "person.0000@example.com", "name": "Person 0", "phone": "+15550100000",
                                "external_id": "ext-0", "role": "lead", "unsubscribed": False, "owner_id": None,
                                "tags": []}
    assert listed[1].fields["tags"] == ["beta", "vip"]  # names, read through the workspace's tags
    assert listed[0].updated_at == datetime(2024, 3, 1, 8, 0, tzinfo=UTC)  # Unix seconds, read as such
    assert changed == [ids[1], ids[5], ids[151], ids[300]]
    assert created.fields["role"] == "user" and created.fields["phone"] == "+442079460000"
    assert fetched is not None and fetched.fields["email"] == "ada@example.com"
    assert [r.id for r in found] == [created.id]
    assert updated is not None and (updated.fields["name"], updated.fields["unsubscribed"]) == ("Augusta Ada King", True)
    assert created.id not in app.contacts

    pages = [r for r in app.requests if r.path == "/contacts" and r.method == "GET"]
    assert [r.arg("per_page") for r in pages] == ["150"] * 3 and pages[0].arg("starting_after") is None
    [search] = [r for r in app.requests if r.path == "/contacts/search"][:1]
    assert search.body["query"] == {"field": "updated_at", "operator": ">",
                                    "value": int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())}
    assert all(r.headers["intercom-version"] == "2.11" for r in app.requests)
    assert app.contract.violations == []
    assert set(app.contract.operations) == {"ListContacts", "SearchContacts", "CreateContact", "ShowContact",
                                            "UpdateContact", "DeleteContact", "listTags"}
    assert len([r for r in app.requests if r.path == "/tags"]) == 1  # the tags are read once


@pytest.mark.anyio
async def test_intercom_tags_are_read_by_name_and_a_cut_tag_list_is_refused(vendor_fake: Any) -> None:
    app = vendor_fake(FakeIntercom, DESCRIPTION, contacts=320)
    ids = list(app.contacts)
    app.tag(ids[0], "vip")
    app.tag(ids[3], *(f"tag-{n:02d}" for n in range(11)))  # Intercom lists 10 of them
    async with connect(app) as c:
        pages = c.list()
        first = await anext(pages)
        app.tag(ids[310], "added-during-the-read")  # on the third page (the second is read ahead)
        rest = [p async for p in pages]
        again = await c.get(ids[310])
        unknown = app.contacts[ids[199]]["tags"]
        unknown["all"] = [{"type": "tag", "id": "999", "url": "/tags/999"}]  # a tag deleted since
        with pytest.raises(RecordError, match="id '999' is not among the intercom.tags.list records"):
            await c.get(ids[199])
    records = {r.id: r for page in [first, *rest] for r in page.records}
    assert records[ids[0]].fields["tags"] == ["vip"]
    assert records[ids[310]].fields["tags"] == ["added-during-the-read"]
    assert again is not None and again.fields["tags"] == ["added-during-the-read"]
    [cut] = first.errors
    assert (cut.record_id, cut.field) == (ids[3], "tags")
    assert "Intercom lists only the first 10 tags" in str(cut) and ids[3] not in records
    # read at the first page, again for the new id, again for the unknown one; not once a page
    assert len([r for r in app.requests if r.path == "/tags"]) == 3
    assert app.contract.violations == []


@pytest.mark.anyio
async def test_intercom_tags_can_be_created_by_name(vendor_fake: Any) -> None:
    app = vendor_fake(FakeIntercom, DESCRIPTION, contacts=1)
    async with shipped("intercom", "tags", secrets={"token": app.token}, base_url=app.url) as tags:
        created = await tags.create({"name": "vip"})
        same = await tags.create({"name": "vip"})
        listed = [r for page in [p async for p in tags.list()] for r in page.records]
    assert created.id == same.id and created.fields == {"name": "vip"}
    assert [(r.id, r.fields["name"]) for r in listed] == [(created.id, "vip")]
    assert app.contract.violations == [] and "createTag" in app.contract.operations


def test_intercoms_rate_headers_are_the_quota_the_spec_reads(vendor_fake: Any) -> None:
    app = vendor_fake(FakeIntercom, DESCRIPTION, contacts=1)
    quota = load_connector_file(SPEC).rate_limit.quota
    for _ in range(3):
        answer = httpx.get(app.url + "/contacts", headers={"Authorization": f"Bearer {app.token}"})

    reading = read_quota(quota, answer.headers, time.time())
    end, used = app.window  # 3, unless a 10-second window ended between the requests
    assert reading is not None and (reading.used, reading.limit, reading.resets_at) == (used, 1666, end)
    assert app.contract.violations == []


@pytest.mark.anyio
async def test_intercom_changes_page_through_the_search(vendor_fake: Any) -> None:
    app = vendor_fake(FakeIntercom, DESCRIPTION, contacts=200)
    for cid in app.contacts:
        app.modify(cid, role="user")
    async with connect(app) as c:
        pages = [p async for p in c.changes(datetime(2025, 1, 1, tzinfo=UTC))]

    assert [len(p.records) for p in pages] == [150, 50]
    searches = [r.body["pagination"] for r in app.requests if r.path == "/contacts/search"]
    assert searches[0] == {"per_page": 150} and searches[1]["starting_after"]
    assert app.contract.violations == []


@pytest.mark.anyio
async def test_a_wrong_intercom_token_is_a_documented_401(vendor_fake: Any) -> None:
    app = vendor_fake(FakeIntercom, DESCRIPTION, contacts=1)
    async with connect(app, token="wrong") as c:
        with pytest.raises(ApiError) as caught:
            await c.get(next(iter(app.contacts)))
    assert caught.value.status == 401 and "Access Token Invalid" in str(caught.value)
    assert app.contract.violations == []


def test_syncd_check_reads_intercom_within_its_description(vendor_fake: Any, tmp_path: Path) -> None:
    app = vendor_fake(FakeIntercom, DESCRIPTION, contacts=200)
    result = check(tmp_path, "intercom", "--settings", "token=${env:IC_TOKEN}", "--settings", f"base_url={app.url}",
                   "--all-pages", env={"IC_TOKEN": app.token})

    assert result.returncode == 0, result.stderr
    [side] = json.loads(result.stdout)
    assert (side["side"], side["records"], side["pages"], side["record_errors"]) == ("intercom.contacts", 200, 2, [])
    assert app.token not in result.stdout + result.stderr
    assert app.contract.violations == []


def test_syncd_check_reads_intercoms_tags_when_asked_for_them(vendor_fake: Any, tmp_path: Path) -> None:
    # Without --object it checks the contacts (the tags object only names the
    # contacts' tag ids); --object tags checks the tags.
    app = vendor_fake(FakeIntercom, DESCRIPTION, contacts=3)
    app.tag(next(iter(app.contacts)), "vip", "beta")
    result = check(tmp_path, "intercom", "--object", "tags", "--settings", "token=${env:IC_TOKEN}",
                   "--settings", f"base_url={app.url}", env={"IC_TOKEN": app.token})

    assert result.returncode == 0, result.stderr
    [side] = json.loads(result.stdout)
    assert (side["side"], side["records"], side["record_errors"]) == ("intercom.tags", 2, [])


@pytest.mark.anyio
async def test_intercom_tags_are_written_one_request_a_tag_creating_a_new_one(vendor_fake: Any) -> None:
    app = vendor_fake(FakeIntercom, DESCRIPTION, contacts=3)
    ids = list(app.contacts)
    app.tag(ids[1], "vip", "beta")
    vip, beta = (t["id"] for t in app.tags.values())
    async with connect(app) as c:
        updated = await c.update(ids[1], {"name": "Grace", "tags": ["vip", "customer"]})  # beta out, customer in
        created = await c.create({"email": "ada@example.com", "tags": ["vip"]})
        only_tags = await c.update(ids[2], {"tags": ["beta"]})
    [customer] = [t["id"] for t in app.tags.values() if t["name"] == "customer"]
    writes = [(r.method, r.path, r.body) for r in app.requests if r.method != "GET" and r.path != "/contacts/search"]
    assert writes == [
        ("POST", "/tags", {"name": "customer"}),  # a name Intercom lacks is created first
        ("PUT", f"/contacts/{ids[1]}", {"name": "Grace"}),
        ("POST", f"/contacts/{ids[1]}/tags", {"id": customer}),
        ("DELETE", f"/contacts/{ids[1]}/tags/{beta}", None),
        ("POST", "/contacts", {"role": "user", "email": "ada@example.com"}),
        ("POST", f"/contacts/{created.id}/tags", {"id": vip}),
        # only tags change: the contact is read (for its tags before), not updated
        ("POST", f"/contacts/{ids[2]}/tags", {"id": beta}),
    ]
    assert updated is not None and updated.fields["tags"] == ["vip", "customer"]  # as given: the app holds them
    assert created.fields["tags"] == ["vip"] and only_tags is not None and only_tags.fields["tags"] == ["beta"]
    assert [t["id"] for t in app.contacts[ids[1]]["tags"]["all"]] == [vip, customer]
    assert app.contract.violations == []
    assert {"attachTagToContact", "detachTagFromContact", "createTag"} <= set(app.contract.operations)
