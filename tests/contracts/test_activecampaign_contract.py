"""connectors.d/activecampaign.yaml against a strict fake ActiveCampaign
(tests/contracts/fake_activecampaign.py).

ActiveCampaign publishes no OpenAPI description of its own, so the fake is
the contract: it refuses unknown parameters (``orders[udate]`` among them) and
body keys, a page over 100, and a wrong key, and answers as the reference
pages show.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_activecampaign import FakeActiveCampaign
from spec_check import check, shipped

from syncd.connector import ApiError, AuthError, Connector, ConnectorError


def connect(app: FakeActiveCampaign, key: str | None = None) -> Connector:
    return shipped("activecampaign", "contacts", secrets={"api_key": key or app.api_key}, base_url=app.url)


@pytest.mark.anyio
async def test_every_activecampaign_operation_keeps_to_the_reference(vendor_fake: Any) -> None:
    app = vendor_fake(FakeActiveCampaign, None, contacts=250)
    async with connect(app) as c:
        listed = [r for page in [p async for p in c.list()] for r in page.records]
        for n, cid in enumerate((7, 230, 120)):
            app.modify(cid, lastName=f"Changed {n}")
        changed = [r.id for page in [p async for p in c.changes(datetime(2025, 1, 1, tzinfo=UTC))]
                   for r in page.records]
        fetched = await c.get("7")
        missing = await c.get("9999")
        by_email = await c.find("email", "Person.0042@Example.com")
        by_name = await c.find("first_name", "Person12")
        created = await c.create({"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace",
                                  "phone": "+442079460000"})
        updated = await c.update(created.id, {"last_name": "King"})
        gone = await c.delete("8")

    assert len(listed) == 250 and [r.id for r in listed] == [str(i) for i in range(1, 251)]
    assert listed[0].fields == {"email": "person.0000@example.com", "first_name": "Person0",
                                "last_name": "Example", "phone": "+15550100000"}
    assert listed[0].updated_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)  # -05:00 offset, read as such
    assert changed == ["7", "120", "230"]  # id order: the list has no order on udate
    assert fetched is not None and fetched.fields["last_name"] == "Changed 0"
    assert missing is None
    assert [r.id for r in by_email] == ["43"]
    assert [r.id for r in by_name] == ["13"]  # search matches Person12, Person120…; exact kept
    assert created.id == "251" and created.fields["email"] == "ada@example.com"
    assert updated is not None and updated.fields["last_name"] == "King" and updated.fields["first_name"] == "Ada"
    assert gone is True and 8 not in app.contacts

    pages = [r for r in app.requests if r.path == "/api/3/contacts" and r.method == "GET"
             and "filters[updated_after]" not in r.query and "email" not in r.query and "search" not in r.query]
    assert [(r.arg("limit"), r.arg("offset"), r.arg("orders[id]")) for r in pages] == [
        ("100", "0", "ASC"), ("100", "100", "ASC"), ("100", "200", "ASC")]
    [since] = {r.arg("filters[updated_after]") for r in app.requests if "filters[updated_after]" in r.query}
    assert since == "2025-01-01T00:00:00Z"
    [email_lookup] = [r for r in app.requests if "email" in r.query]
    assert "search" not in email_lookup.query
    [post] = [r for r in app.requests if r.method == "POST"]
    assert post.body == {"contact": {"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace",
                                     "phone": "+442079460000"}}
    [put] = [r for r in app.requests if r.method == "PUT"]
    assert put.path == "/api/3/contacts/251" and put.body == {"contact": {"lastName": "King"}}


@pytest.mark.anyio
async def test_activecampaign_refuses_a_duplicate_email_and_a_wrong_key(vendor_fake: Any) -> None:
    app = vendor_fake(FakeActiveCampaign, None, contacts=1)
    async with connect(app) as c:
        with pytest.raises(ApiError) as duplicate:
            await c.create({"email": "person.0000@example.com"})
    async with connect(app, key="wrong-key") as c:
        with pytest.raises(ConnectorError) as refused:
            await c.get("1")
    assert duplicate.value.status == 422 and "already exists" in str(duplicate.value)
    assert isinstance(refused.value, AuthError)


def test_the_fake_activecampaign_refuses_what_the_reference_does_not_offer(vendor_fake: Any) -> None:
    app = vendor_fake(FakeActiveCampaign, None, contacts=1)
    key = {"Api-Token": app.api_key}
    by_udate = httpx.get(app.url + "/contacts", params={"orders[udate]": "ASC"}, headers=key)
    too_many = httpx.get(app.url + "/contacts", params={"limit": 101}, headers=key)
    flat = httpx.post(app.url + "/contacts", json={"email": "x@example.com"}, headers=key)
    unknown = httpx.put(app.url + "/contacts/1", json={"contact": {"tags": ["vip"]}}, headers=key)
    assert [r.status_code for r in (by_udate, too_many, flat, unknown)] == [400, 400, 400, 422]


def test_syncd_check_reads_activecampaign(vendor_fake: Any, tmp_path: Path) -> None:
    app = vendor_fake(FakeActiveCampaign, None, contacts=230)
    result = check(tmp_path, "activecampaign", "--settings", "api_key=${env:AC_KEY}",
                   "--settings", f"base_url={app.url}", "--all-pages", env={"AC_KEY": app.api_key})

    assert result.returncode == 0, result.stderr
    [side] = json.loads(result.stdout)
    assert (side["side"], side["records"], side["pages"], side["record_errors"]) == (
        "activecampaign.contacts", 230, 3, [])
    assert side["write_only"] is None
    assert app.api_key not in result.stdout + result.stderr
