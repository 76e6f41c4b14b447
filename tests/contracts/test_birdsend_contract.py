"""connectors.d/birdsend.yaml against a strict fake BirdSend (tests/contracts/fake_birdsend.py).

BirdSend publishes no OpenAPI description, so the fake is the contract: it
refuses unknown parameters, body keys and fields and a wrong token as
BirdSend answers them, and answers as BirdSend's pages show. BirdSend has no
notes, tasks, appointments or webhooks to test (see the spec's header); the
last test holds the spec to that.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_birdsend import FakeBirdSend
from spec_check import SPECS, check, shipped

from syncd.config import load_connector_file
from syncd.connector import ApiError, Connector

SPEC = SPECS / "birdsend.yaml"


def connect(app: FakeBirdSend, token: str | None = None) -> Connector:
    return shipped("birdsend", "contacts", secrets={"token": token or app.token}, base_url=app.url)


@pytest.mark.anyio
async def test_every_birdsend_operation_keeps_to_birdsends_reference(vendor_fake: Any) -> None:
    app = vendor_fake(FakeBirdSend, None, contacts=250)
    async with connect(app) as c:
        listed = [r for page in [p async for p in c.list()] for r in page.records]
        fetched = await c.get("1007")
        missing = await c.get("99999")
        found = await c.find("email", "Reader.0042@Example.com")
        created = await c.create({"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"})
        updated = await c.update(created.id, {"phone": "+44 20 7946 0000", "email": "ada.l@example.com"})
        assert await c.delete("1003") is True

    assert len(listed) == 250 and listed[0].id == "1001" and listed[-1].id == "1250"
    assert listed[0].fields == {"email": "reader.0000@example.com", "first_name": "Reader0", "last_name": "Example",
                                "phone": "+442070000000", "tags": ["newsletter"]}
    assert listed[1].fields["tags"] == []
    assert fetched is not None and fetched.fields["first_name"] == "Reader6"
    assert missing is None
    # the keyword matches reader.0042 only among 250 (it is part of no other email)
    assert [r.id for r in found] == ["1043"]
    assert created.id == "1251" and created.fields["last_name"] == "Lovelace"
    assert updated is not None and updated.fields["phone"] == "+442079460000"  # as syncd compares phones
    assert app.contacts[1251]["email"] == "ada.l@example.com" and 1003 not in app.contacts

    pages = [r for r in app.requests if r.method == "GET" and r.path == "/v1/contacts" and "keyword" not in r.query]
    assert [(r.arg("page"), r.arg("per_page")) for r in pages] == [("1", "100"), ("2", "100"), ("3", "100")]
    [search] = [r for r in app.requests if "keyword" in r.query]
    assert (search.arg("search_by"), search.arg("keyword")) == ("email", "reader.0042@example.com")
    [post] = [r for r in app.requests if r.method == "POST"]
    assert post.body == {"email": "ada@example.com", "fields": {"first_name": "Ada", "last_name": "Lovelace"}}
    [patch] = [r for r in app.requests if r.method == "PATCH"]
    assert patch.body == {"fields": {"phone": "+44 20 7946 0000"}, "email": "ada.l@example.com"}
    assert {r.headers["authorization"] for r in app.requests} == {f"Bearer {app.token}"}


@pytest.mark.anyio
async def test_birdsend_refusals_are_its_documented_errors(vendor_fake: Any) -> None:
    app = vendor_fake(FakeBirdSend, None, contacts=3)
    async with connect(app) as c:
        with pytest.raises(ApiError) as taken:
            await c.create({"email": "reader.0001@example.com", "first_name": "Again"})
    async with connect(app, token="bs-pat-wrong") as c:
        with pytest.raises(ApiError) as refused:
            await c.get("1001")
    assert taken.value.status == 422 and "already been taken" in str(taken.value)
    assert refused.value.status == 401 and "Unauthenticated" in str(refused.value)


def test_the_fake_birdsend_refuses_what_birdsend_refuses(vendor_fake: Any) -> None:
    app = vendor_fake(FakeBirdSend, None, contacts=1)
    auth = {"Authorization": f"Bearer {app.token}"}
    unknown = httpx.get(app.url + "/contacts", params={"limit": 5}, headers=auth)
    too_many = httpx.get(app.url + "/contacts", params={"per_page": 500}, headers=auth)
    bad_field = httpx.post(app.url + "/contacts", json={"email": "x@example.com", "fields": {"fname": "X"}},
                           headers=auth)
    tags_in_update = httpx.patch(app.url + "/contacts/1001", json={"tags": ["vip"]}, headers=auth)
    no_email = httpx.post(app.url + "/contacts", json={"fields": {"first_name": "X"}}, headers=auth)
    assert [r.status_code for r in (unknown, too_many, bad_field, tags_in_update, no_email)] == [422] * 5
    assert tags_in_update.json()["errors"] == {"tags": ["This key is not allowed here."]}


def test_birdsends_spec_declares_only_what_birdsend_publishes() -> None:
    # No child objects (no notes, tasks or appointments in BirdSend's API), no
    # webhooks (none documented), no changes read (no modification date).
    spec = load_connector_file(SPEC)
    assert list(spec.objects) == ["contacts"]
    assert spec.webhooks is None
    contacts = spec.objects["contacts"]
    assert sorted(contacts.operations) == ["create", "delete", "find", "get", "list", "update"]
    assert contacts.updated_at is None
    assert spec.rate_limit.requests_per_second == 5


def test_syncd_check_reads_birdsend(vendor_fake: Any, tmp_path: Path) -> None:
    app = vendor_fake(FakeBirdSend, None, contacts=230)
    result = check(tmp_path, "birdsend", "--settings", "token=${env:BIRDSEND_TOKEN}", "--settings",
                   f"base_url={app.url}", "--all-pages", env={"BIRDSEND_TOKEN": app.token})

    assert result.returncode == 0, result.stderr
    [side] = json.loads(result.stdout)
    assert (side["side"], side["records"], side["pages"], side["record_errors"]) == ("birdsend.contacts", 230, 3, [])
    assert app.token not in result.stdout + result.stderr
