"""The shipped HubSpot spec, against a fake that answers as the real API does.

A connector author's story: write connectors.d/hubspot.yaml from HubSpot's
reference, then run ``syncd check hubspot --all-pages`` with the token in the
environment and see every contact come back, fields extracted the way an
integration will compare them.  Then the sync layer's view: ``changes(since)``
after a user edits a few records, and the writes (create, find, update,
delete) as the API takes them.  (Mailchimp's are in
tests/contracts/test_mailchimp_contract.py, judged by its description.)
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fake_hubspot import CONTACTS, FakeHubSpot
from spec_check import check, shipped

from syncd.connector import ApiError, Connector

SINCE = datetime(2025, 1, 1, tzinfo=UTC)  # after every record the fakes start with


def hubspot(app: FakeHubSpot, token: str | None = None) -> Connector:
    return shipped("hubspot", "contacts", secrets={"token": token or app.token}, base_url=app.url)


# --- syncd check, the real command -------------------------------------------------


def hubspot_check(app: FakeHubSpot, tmp_path: Path, token: str) -> subprocess.CompletedProcess[str]:
    return check(tmp_path, "hubspot", "--settings", "token=${env:HS_TOKEN}",
                 "--settings", f"base_url={app.url}", "--all-pages", env={"HS_TOKEN": token})


def test_check_reads_every_hubspot_contact(hubspot_app: Any, tmp_path: Path) -> None:
    app = hubspot_app(contacts=250)
    result = hubspot_check(app, tmp_path, app.token)

    assert result.returncode == 0, result.stderr
    [side] = json.loads(result.stdout)
    assert side["ok"] and side["side"] == "hubspot.contacts"
    assert (side["records"], side["pages"], side["record_errors"]) == (250, 3, [])
    assert side["first_records"][0] == {
        "id": "101", "updated_at": "2024-03-01T09:00:00Z",
        "fields": {"email": "contact.0000@example.com", "first_name": "First0", "last_name": "Last0",
                   "phone": "+15550100000", "stage": "subscriber"},
    }
    assert [r["fields"]["stage"] for r in side["first_records"]] == ["subscriber", "lead", "customer"]
    pages = [r for r in app.requests if r.path == CONTACTS]
    assert [r.arg("limit") for r in pages] == ["100"] * 3  # HubSpot's maximum, never more
    assert app.token not in result.stdout + result.stderr


def test_check_with_a_wrong_hubspot_token_names_http_401(hubspot_app: Any, tmp_path: Path) -> None:
    app = hubspot_app(contacts=5)
    wrong = "pat-na1-00000000-dead-beef-0000-000000000000"
    result = hubspot_check(app, tmp_path, wrong)

    assert result.returncode == 1
    [side] = json.loads(result.stdout)
    assert not side["ok"]
    assert "HTTP 401" in side["error"] and "Authentication credentials not found" in side["error"]
    assert wrong not in result.stdout + result.stderr


# --- changes and writes, through the engine ------------------------------------------


@pytest.mark.anyio
async def test_hubspot_changes_are_the_contacts_edited_since(hubspot_app: Any) -> None:
    app = hubspot_app(contacts=250)
    for cid, name in (("150", "Ada"), ("120", "Grace"), ("200", "Edsger")):
        app.modify(cid, firstname=name)

    async with hubspot(app) as c:
        pages = [page async for page in c.changes(SINCE)]

    records = [r for page in pages for r in page.records]
    assert [(r.id, r.fields["first_name"]) for r in records] == [("150", "Ada"), ("120", "Grace"), ("200", "Edsger")]
    assert all(r.updated_at is not None and r.updated_at > SINCE for r in records)
    [search] = [r for r in app.requests if r.path.endswith("/search")]
    reach = int(SINCE.timestamp() * 1000) - 60_000  # the spec's lookback: the search index lags its writes
    assert search.body["filterGroups"] == [{"filters": [
        {"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(reach)}]}]
    assert search.body["limit"] == 200


@pytest.mark.anyio
async def test_hubspot_changes_page_through_the_search_results(hubspot_app: Any) -> None:
    app = hubspot_app(contacts=250)
    for cid in list(app.contacts):
        app.modify(cid, lifecyclestage="customer")

    async with hubspot(app) as c:
        pages = [page async for page in c.changes(SINCE)]

    assert [len(p.records) for p in pages] == [200, 50]
    assert len({r.id for p in pages for r in p.records}) == 250
    assert [r.body.get("after") for r in app.requests if r.path.endswith("/search")] == ["0", "200"]


@pytest.mark.anyio
async def test_hubspot_create_find_update_delete(hubspot_app: Any) -> None:
    app = hubspot_app(contacts=3)
    async with hubspot(app) as c:
        created = await c.create({"email": "Ada@Example.com", "first_name": "Ada", "last_name": "Lovelace",
                                  "phone": "+44 20 7946 0000", "stage": "lead"})
        assert created.fields == {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace",
                                  "phone": "+442079460000", "stage": "lead"}
        assert [r.id for r in await c.find("email", "ADA@example.com")] == [created.id]
        assert [r.id for r in await c.find("first_name", "Ada")] == [created.id]
        updated = await c.update(created.id, {"first_name": "Augusta"})
        assert updated is not None and updated.fields["first_name"] == "Augusta"
        fetched = await c.get(created.id)
        assert fetched is not None and fetched.fields["stage"] == "lead" and fetched.fields["first_name"] == "Augusta"
        assert await c.delete(created.id) is True
        assert await c.get(created.id) is None
        assert await c.delete(created.id) is False  # already archived


@pytest.mark.anyio
async def test_hubspot_batch_create_and_update(hubspot_app: Any) -> None:
    # 110 new contacts: two batches. The second holds one that exists already,
    # so HubSpot refuses it whole (409) and syncd creates its 10 contacts one by one.
    app = hubspot_app(contacts=3)
    items = [{"email": f"New.{i}@Example.com", "first_name": f"N{i}", "stage": "lead"} for i in range(110)]
    items[107]["email"] = "contact.0001@example.com"
    async with hubspot(app) as c:
        created = await c.create_many(items)
        clash = created.pop(107)
        assert isinstance(clash, ApiError) and clash.status == 409
        assert [r.fields["email"] for r in created if not isinstance(r, Exception)] == [
            f"new.{i}@example.com" for i in range(110) if i != 107]
        batches = [r for r in app.requests if r.path.endswith("/batch/create")]
        assert [len(r.body["inputs"]) for r in batches] == [100, 10]
        assert batches[1].body["inputs"][0] == {"properties": {"email": "New.100@Example.com", "firstname": "N100",
                                                               "lifecyclestage": "lead"}, "associations": []}
        assert len([r for r in app.requests if r.path == "/crm/v3/objects/contacts"]) == 10
        assert len(app.live()) == 3 + 109

        # Updates pair by id; one unknown id (HTTP 207) is tried alone and fails alone.
        ids = [r.id for r in created[:3] if not isinstance(r, Exception)]
        changes = [(cid, {"last_name": f"L{cid}"}) for cid in ids]
        updated = await c.update_many([*changes, ("999999", {"last_name": "X"})])
        assert [getattr(r, "fields", {}).get("last_name") for r in updated[:3]] == [f"L{cid}" for cid in ids]
        assert isinstance(updated[3], ApiError) and updated[3].status == 404
        [batch] = [r for r in app.requests if r.path.endswith("/batch/update")]
        assert batch.body["inputs"][0] == {"id": ids[0], "properties": {"lastname": f"L{ids[0]}"}}
