"""connectors.d/pipedrive.yaml against a fake Pipedrive API v2 built from Pipedrive's reference pages.

Pipedrive publishes no OpenAPI description this project can fetch, so the
fake (tests/contracts/fake_pipedrive.py, its pages cited there) is the
contract: it refuses what Pipedrive refuses (unknown parameters or fields, a
wrong token, a missing name) with Pipedrive's error body.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_pipedrive import FakePipedrive
from spec_check import SPECS, check, shipped

from syncd.config import load_connector_file
from syncd.connector import ApiError, Connector, RecordError, read_quota

SPEC = SPECS / "pipedrive.yaml"


def connect(app: FakePipedrive, token: str | None = None) -> Connector:
    return shipped("pipedrive", "persons", secrets={"api_token": token or app.token}, base_url=app.url)


@pytest.mark.anyio
async def test_every_pipedrive_operation_keeps_to_pipedrives_reference(vendor_fake: Any) -> None:
    app = vendor_fake(FakePipedrive, None, persons=620)
    ids = list(app.persons)
    async with connect(app) as c:
        listed = [r for page in [p async for p in c.list()] for r in page.records]
        for n, pid in enumerate((ids[300], ids[5], ids[610])):
            app.modify(pid, name=f"Changed {n}")
        changed = [r.id for page in [p async for p in c.changes(datetime(2025, 1, 1, tzinfo=UTC))]
                   for r in page.records]
        created = await c.create({"email": "Ada@Example.com", "phone": "+44 20 7946 0000"})
        fetched = await c.get(created.id)
        found = await c.find("email", "ada@example.com")
        updated = await c.update(created.id, {"name": "Augusta Ada King", "email": "ada@king.example"})
        assert await c.delete(created.id) is True

    assert len(listed) == 620 and [r.id for r in listed] == [str(i) for i in ids]
    assert listed[0].fields == {"email": "person.0000@example.com", "first_name": "Person", "last_name": "0",
                                "name": "Person 0", "phone": "+15550100000", "owner_id": 123, "org_id": 1234,
                                "labels": ["Customer"]}  # label 5, by name
    assert listed[0].updated_at == datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
    assert changed == [str(ids[300]), str(ids[5]), str(ids[610])]  # oldest change first
    assert created.fields["name"] == "Ada@Example.com" and created.fields["phone"] == "+442079460000"
    assert fetched is not None and fetched.fields["email"] == "ada@example.com"
    assert [r.id for r in found] == [created.id]
    assert updated is not None and (updated.fields["first_name"], updated.fields["last_name"],
                                    updated.fields["email"]) == ("Augusta", "Ada King", "ada@king.example")
    assert int(created.id) not in app.persons

    pages = [r for r in app.requests if r.path == "/api/v2/persons" and r.method == "GET"]
    assert [r.arg("limit") for r in pages][:2] == ["500", "500"] and pages[0].arg("cursor") is None
    since = [r for r in pages if r.arg("updated_since")]
    assert since[0].query == {"limit": ["500"], "updated_since": ["2025-01-01T00:00:00Z"],
                              "sort_by": ["update_time"], "sort_direction": ["asc"]}
    [search] = [r for r in app.requests if r.path == "/api/v2/persons/search"]
    assert search.query == {"term": ["ada@example.com"], "fields": ["email"], "exact_match": ["true"],
                            "limit": ["500"]}
    [post] = [r for r in app.requests if r.method == "POST"]
    assert post.body == {"name": "Ada@Example.com", "emails": [{"primary": True, "value": "Ada@Example.com"}],
                         "phones": [{"primary": True, "value": "+44 20 7946 0000"}]}
    assert all(r.headers["x-api-token"] == app.token and "api_token" not in r.query for r in app.requests)
    assert all(r.method != "PUT" for r in app.requests)


@pytest.mark.anyio
async def test_writing_the_primary_email_keeps_the_persons_other_addresses(vendor_fake: Any) -> None:
    # Pipedrive's PATCH replaces the whole emails list: the update reads the
    # person first and changes the primary entry only.
    app = vendor_fake(FakePipedrive, None, persons=3)
    app.modify(2, emails=[{"value": "home@example.com", "primary": False, "label": "home"},
                          {"value": "old@example.com", "primary": True, "label": "work"}],
               phones=[{"value": "+1 555 0100", "primary": True, "label": "mobile"},
                       {"value": "+1 555 0199", "primary": False, "label": "work"}])
    async with connect(app) as c:
        updated = await c.update("2", {"email": "new@example.com", "phone": "+15550111"})
    get, patch = [r for r in app.requests if r.path == "/api/v2/persons/2"]
    assert (get.method, patch.method) == ("GET", "PATCH")
    assert patch.body == {
        "emails": [{"value": "home@example.com", "primary": False, "label": "home"},
                   {"value": "new@example.com", "primary": True, "label": "work"}],
        "phones": [{"value": "+15550111", "primary": True, "label": "mobile"},
                   {"value": "+1 555 0199", "primary": False, "label": "work"}]}
    assert [e["value"] for e in app.persons[2]["emails"]] == ["home@example.com", "new@example.com"]
    assert updated is not None and updated.fields["email"] == "new@example.com"


@pytest.mark.anyio
async def test_pipedrive_labels_are_read_and_written_by_name(vendor_fake: Any) -> None:
    app = vendor_fake(FakePipedrive, None, persons=3)
    async with connect(app) as c:
        updated = await c.update("2", {"labels": ["Hot lead", "Customer"]})
        with pytest.raises(RecordError, match="no name 'VIP' among the pipedrive.labels.list records, and the "
                                              "spec cannot create one .known: Cold lead, Customer, Hot lead"):
            await c.update("3", {"labels": ["VIP"]})
    [patch] = [r for r in app.requests if r.method == "PATCH"]
    assert patch.body == {"label_ids": [6, 5]}  # the ids, as numbers
    assert app.persons[2]["label_ids"] == [6, 5]
    assert updated is not None and updated.fields["labels"] == ["Customer", "Hot lead"]
    assert [r.path for r in app.requests].count("/api/v2/personFields") == 1
    assert app.persons[3]["label_ids"] == []  # nothing written for the unknown label


def test_pipedrives_rate_headers_are_the_quota_the_spec_reads(vendor_fake: Any) -> None:
    app = vendor_fake(FakePipedrive, None, persons=1)
    quota = load_connector_file(SPEC).rate_limit.quota
    for _ in range(3):
        answer = httpx.get(app.url + "/persons", headers={"x-api-token": app.token})

    reading = read_quota(quota, answer.headers, 1_000.0)
    end, used = app.window  # 3, unless a 2-second window ended between the requests
    assert reading is not None and (reading.used, reading.limit) == (used, 20)
    assert 1_000.0 < reading.resets_at <= 1_002.0  # x-ratelimit-reset: seconds left in the window


@pytest.mark.anyio
async def test_a_wrong_pipedrive_token_is_pipedrives_401(vendor_fake: Any) -> None:
    app = vendor_fake(FakePipedrive, None, persons=1)
    async with connect(app, token="wrong") as c:
        with pytest.raises(ApiError) as caught:
            await c.get("1")
    assert caught.value.status == 401 and "unauthorized access" in str(caught.value)


@pytest.mark.anyio
async def test_the_fake_refuses_what_pipedrive_refuses(vendor_fake: Any) -> None:
    app = vendor_fake(FakePipedrive, None, persons=1)
    auth = {"x-api-token": app.token}
    answers = [httpx.get(app.url + "/persons", params={"start": "0"}, headers=auth),
               httpx.get(app.url + "/persons", params={"limit": "501"}, headers=auth),
               httpx.get(app.url + "/persons", params={"updated_since": "2025-01-01 10:20:00"}, headers=auth),
               httpx.post(app.url + "/persons", json={"emails": [{"value": "a@b.example"}]}, headers=auth),
               httpx.patch(app.url + "/persons/1", json={"email": "a@b.example"}, headers=auth)]

    assert [a.status_code for a in answers] == [400] * 5
    assert all(a.json()["success"] is False and a.json()["error"] for a in answers)


def test_syncd_check_reads_pipedrive(vendor_fake: Any, tmp_path: Path) -> None:
    app = vendor_fake(FakePipedrive, None, persons=700)
    result = check(tmp_path, "pipedrive", "--settings", "api_token=${env:PD_TOKEN}", "--settings",
                   f"base_url={app.url}", "--all-pages", env={"PD_TOKEN": app.token})

    assert result.returncode == 0, result.stderr
    [side] = json.loads(result.stdout)
    assert (side["side"], side["records"], side["pages"], side["record_errors"]) == ("pipedrive.persons", 700, 2, [])
    assert app.token not in result.stdout + result.stderr
