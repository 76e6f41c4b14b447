"""connectors.d/hubspot.yaml against HubSpot's own OpenAPI description of CRM contacts v3.

Every request the spec makes (list, changes, get, find, create, update, the
batch writes, delete) goes to the stateful fake HubSpot with HubSpot's
description attached (tests/contracts/vendor/hubspot-crm-contacts-v3.yaml):
the request must be one HubSpot documents, and each reply must be one too.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fake_hubspot import FakeHubSpot
from spec_check import check, shipped

from syncd.connector import ApiError, Connector

DESCRIPTION = "hubspot-crm-contacts-v3.yaml"


def connect(app: FakeHubSpot, token: str | None = None) -> Connector:
    return shipped("hubspot", "contacts", secrets={"token": token or app.token}, base_url=app.url)


@pytest.mark.anyio
async def test_every_hubspot_operation_keeps_to_hubspots_description(vendor_fake: Any) -> None:
    app = vendor_fake(FakeHubSpot, DESCRIPTION, contacts=120)
    async with connect(app) as c:
        listed = [r for page in [p async for p in c.list()] for r in page.records]
        for cid in ("150", "120", "200"):
            app.modify(cid, firstname=f"Changed{cid}")
        changed = [r.id for page in [p async for p in c.changes(datetime(2025, 1, 1, tzinfo=UTC))]
                   for r in page.records]
        created = await c.create({"email": "ada@example.com", "first_name": "Ada", "stage": "lead"})
        fetched = await c.get(created.id)
        found = await c.find("email", "ada@example.com")
        updated = await c.update(created.id, {"last_name": "Lovelace"})
        batch = await c.create_many([{"email": f"new.{i}@example.com", "first_name": f"N{i}"} for i in range(3)])
        ids = [r.id for r in batch if not isinstance(r, Exception)]
        renamed = await c.update_many([(i, {"last_name": "Batch"}) for i in ids])
        assert await c.delete(created.id) is True

    assert len(listed) == 120 and changed == ["150", "120", "200"]
    assert fetched is not None and fetched.fields["stage"] == "lead"
    assert [r.id for r in found] == [created.id]
    assert updated is not None and updated.fields["last_name"] == "Lovelace"
    assert len(ids) == 3 and all(getattr(r, "fields", {}).get("last_name") == "Batch" for r in renamed)
    assert app.contract.violations == []
    assert set(app.contract.operations) == {
        "get-/crm/v3/objects/contacts_getPage", "post-/crm/v3/objects/contacts/search_doSearch",
        "post-/crm/v3/objects/contacts_create", "get-/crm/v3/objects/contacts/{contactId}_getById",
        "patch-/crm/v3/objects/contacts/{contactId}_update", "post-/crm/v3/objects/contacts/batch/create_create",
        "post-/crm/v3/objects/contacts/batch/update_update", "delete-/crm/v3/objects/contacts/{contactId}_archive"}


@pytest.mark.anyio
async def test_hubspot_refusals_are_documented_errors(vendor_fake: Any) -> None:
    # An unknown contact (404), a batch with an existing email (409, then one by one),
    # a search past the result cap (400) and a wrong token (401): HubSpot's Error shape.
    app = vendor_fake(FakeHubSpot, DESCRIPTION, contacts=250, search_cap=200)
    for cid in list(app.contacts):
        app.modify(cid, lastname="Changed")
    async with connect(app) as c:
        assert await c.get("999999") is None
        created = await c.create_many([{"email": "contact.0001@example.com"}, {"email": "fresh@example.com"}])
        with pytest.raises(ApiError) as capped:
            [page async for page in c.changes(datetime(2025, 1, 1, tzinfo=UTC))]
    async with connect(app, token="pat-na1-00000000-dead-beef-0000-000000000000") as c:
        with pytest.raises(ApiError) as refused:
            await c.get("101")

    assert isinstance(created[0], ApiError) and created[0].status == 409
    assert (capped.value.status, refused.value.status) == (400, 401)
    assert {r.path for r in app.requests if r.method == "POST"} >= {
        "/crm/v3/objects/contacts/batch/create", "/crm/v3/objects/contacts", "/crm/v3/objects/contacts/search"}
    assert app.contract.violations == []


@pytest.mark.anyio
async def test_changes_restarted_at_the_search_cap_keep_to_hubspots_description(
        vendor_fake: Any, tmp_path: Path) -> None:
    # The cap made 200 in the fake and the spec (the spec's one number edited):
    # the queries after the first, from a later modified date, are HubSpot's too.
    app = vendor_fake(FakeHubSpot, DESCRIPTION, contacts=450, search_cap=200)
    for cid in list(app.contacts):
        app.modify(cid, lastname="Changed")
    async with shipped("hubspot", "contacts", secrets={"token": app.token}, base_url=app.url, scratch=tmp_path,
                       edit={"max_results: 10000\n        restart:": "max_results: 200\n        restart:"}) as c:
        changed = [r.id for page in [p async for p in c.changes(datetime(2025, 1, 1, tzinfo=UTC))]
                   for r in page.records]

    assert changed == list(app.contacts)
    assert len({json.dumps(r.body["filterGroups"]) for r in app.requests if r.path.endswith("/search")}) == 3
    assert app.contract.violations == []


def test_syncd_check_reads_hubspot_within_its_description(vendor_fake: Any, tmp_path: Path) -> None:
    app = vendor_fake(FakeHubSpot, DESCRIPTION, contacts=150)
    result = check(tmp_path, "hubspot", "--settings", "token=${env:HS_TOKEN}", "--settings", f"base_url={app.url}",
                   "--all-pages", env={"HS_TOKEN": app.token})

    assert result.returncode == 0, result.stderr
    [side] = json.loads(result.stdout)
    assert (side["records"], side["pages"]) == (150, 2)
    assert app.contract.violations == []
