"""connectors.d/brevo.yaml against a strict fake Brevo (tests/contracts/fake_brevo.py).

Brevo publishes no OpenAPI description in the stored data, so the fake is
the contract: it refuses unknown parameters and fields and a wrong key with
Brevo's documented errors, and answers as Brevo's reference pages show.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_brevo import FakeBrevo
from spec_check import SPECS, check, shipped

from syncd.config import load_connector_file
from syncd.connector import ApiError, Connector, read_quota

SPEC = SPECS / "brevo.yaml"


def connect(app: FakeBrevo, key: str | None = None) -> Connector:
    return shipped("brevo", "contacts", secrets={"api_key": key or app.api_key}, base_url=app.url)


@pytest.mark.anyio
async def test_every_brevo_operation_keeps_to_brevos_reference(vendor_fake: Any) -> None:
    app = vendor_fake(FakeBrevo, None, contacts=2100)
    async with connect(app) as c:
        listed = [r for page in [p async for p in c.list()] for r in page.records]
        for n, cid in enumerate((6, 2001, 152)):
            app.modify(cid, LASTNAME=f"Changed {n}")
        changed = [r.id for page in [p async for p in c.changes(datetime(2025, 1, 1, tzinfo=UTC))]
                   for r in page.records]
        fetched = await c.get("7")
        missing = await c.get("99999")
        found = await c.find("email", "Person.0042@Example.com")
        updated = await c.update("7", {"email": "new.7@example.com", "first_name": "Ada", "email_blacklisted": True})
        created = await c.create({"email": "grace@example.com", "first_name": "Grace", "last_name": "Hopper",
                                  "sms_blacklisted": True})
        with pytest.raises(ApiError) as duplicate:
            await c.create({"email": "grace@example.com"})

    assert len(listed) == 2100 and [r.id for r in listed] == [str(i) for i in range(1, 2101)]
    assert listed[0].fields == {"email": "person.0000@example.com", "first_name": "Person0", "last_name": "Example",
                                "phone": "+33612340000", "email_blacklisted": False, "sms_blacklisted": False}
    assert listed[0].updated_at == datetime(2024, 3, 1, 8, 0, tzinfo=UTC)  # +01:00 offset, read as such
    assert changed == ["6", "152", "2001"]
    assert fetched is not None and fetched.fields["email"] == "person.0006@example.com"
    assert missing is None
    assert [r.id for r in found] == ["43"]
    assert updated is None  # Brevo answers 204
    assert app.contacts[7]["email"] == "new.7@example.com" and app.contacts[7]["emailBlacklisted"] is True
    assert app.contacts[7]["attributes"]["FIRSTNAME"] == "Ada"

    # Brevo answers the create with {"id": 2101}: the record is what get read back
    assert created.id == "2101" and created.fields == {
        "email": "grace@example.com", "first_name": "Grace", "last_name": "Hopper", "phone": None,
        "email_blacklisted": False, "sms_blacklisted": True}
    [post, read_back] = [r for r in app.requests if r.method == "POST" or r.path == "/v3/contacts/2101"][:2]
    assert post.body == {"email": "grace@example.com",
                         "attributes": {"EMAIL": "grace@example.com", "FIRSTNAME": "Grace", "LASTNAME": "Hopper"},
                         "smsBlacklisted": True}
    assert (read_back.method, read_back.arg("identifierType")) == ("GET", "contact_id")
    assert duplicate.value.status == 400 and "Contact already exist" in str(duplicate.value)
    assert len(app.contacts) == 2101

    pages = [r for r in app.requests if (r.method, r.path) == ("GET", "/v3/contacts")
             and r.arg("modifiedSince") is None and r.arg("filter") is None]
    assert [(r.arg("limit"), r.arg("offset")) for r in pages][:3] == [("1000", "0"), ("1000", "1000"),
                                                                     ("1000", "2000")]
    [since] = {r.arg("modifiedSince") for r in app.requests if r.arg("modifiedSince")}
    assert since == "2025-01-01T00:00:00Z"
    [put] = [r for r in app.requests if r.method == "PUT"]
    assert put.body == {"attributes": {"EMAIL": "new.7@example.com", "FIRSTNAME": "Ada"}, "emailBlacklisted": True}


def test_brevos_rate_headers_are_the_quota_the_spec_reads(vendor_fake: Any) -> None:
    app = vendor_fake(FakeBrevo, None, contacts=1)
    quota = load_connector_file(SPEC).rate_limit.quota
    for _ in range(3):
        answer = httpx.get(app.url + "/contacts", headers={"api-key": app.api_key})
    now = time.time()
    reading = read_quota(quota, answer.headers, now)
    assert reading is not None and (reading.used, reading.limit) == (3, 36000)
    assert now < reading.resets_at <= now + 3600


def test_the_fake_brevo_refuses_what_brevo_refuses(vendor_fake: Any) -> None:
    app = vendor_fake(FakeBrevo, None, contacts=1)
    key = {"api-key": app.api_key}
    unknown = httpx.get(app.url + "/contacts", params={"per_page": 5}, headers=key)
    no_zone = httpx.get(app.url + "/contacts", params={"modifiedSince": "2025-01-01T00:00:00"}, headers=key)
    bad_field = httpx.put(app.url + "/contacts/1", json={"email": "x@example.com"}, headers=key)
    bad_attribute = httpx.put(app.url + "/contacts/1", json={"attributes": {"FNAME": "Ada"}}, headers=key)
    assert [r.status_code for r in (unknown, no_zone, bad_field, bad_attribute)] == [400] * 4
    assert bad_field.json()["code"] == "invalid_parameter"


@pytest.mark.anyio
async def test_a_wrong_brevo_key_is_a_documented_401(vendor_fake: Any) -> None:
    app = vendor_fake(FakeBrevo, None, contacts=1)
    async with connect(app, key="xkeysib-wrong") as c:
        with pytest.raises(ApiError) as caught:
            await c.get("1")
    assert caught.value.status == 401 and "Key not found" in str(caught.value)


def test_syncd_check_reads_brevo(vendor_fake: Any, tmp_path: Path) -> None:
    app = vendor_fake(FakeBrevo, None, contacts=1500)
    result = check(tmp_path, "brevo", "--settings", "api_key=${env:BREVO_KEY}", "--settings", f"base_url={app.url}",
                   "--all-pages", env={"BREVO_KEY": app.api_key})

    assert result.returncode == 0, result.stderr
    [side] = json.loads(result.stdout)
    assert (side["side"], side["records"], side["pages"], side["record_errors"]) == ("brevo.contacts", 1500, 2, [])
    assert app.api_key not in result.stdout + result.stderr
