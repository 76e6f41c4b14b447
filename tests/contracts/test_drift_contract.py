"""connectors.d/drift.yaml against a strict fake Drift (tests/contracts/fake_drift.py).

Drift publishes no OpenAPI description, so the fake is the contract: it
refuses unknown parameters and body keys, a lookup that names no email (Drift
cannot list its contacts) and a missing token, and answers as Drift's
reference pages show.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_drift import FakeDrift
from spec_check import check, shipped

from syncd.connector import ApiError, AuthError, Connector, ConnectorError


def connect(app: FakeDrift, token: str | None = None) -> Connector:
    return shipped("drift", "contacts", secrets={"access_token": token or app.token}, base_url=app.url)


@pytest.mark.anyio
async def test_every_drift_operation_keeps_to_drifts_reference(vendor_fake: Any) -> None:
    app = vendor_fake(FakeDrift, None, contacts=3)
    first = min(app.contacts)
    async with connect(app) as c:
        assert "list" not in c.object.operations  # Drift cannot list: a write-only target
        fetched = await c.get(str(first))
        missing = await c.get("99")
        found = await c.find("email", "Drift.0001@Example.com")
        nobody = await c.find("email", "nobody@example.com")
        created = await c.create({"email": "ada@example.com", "name": "Ada Lovelace", "phone": "+442079460000"})
        updated = await c.update(created.id, {"name": "Ada King", "phone": "+442079460001"})
        gone = await c.delete(str(first))
        gone_again = await c.delete(str(first))

    assert fetched is not None and fetched.fields == {
        "email": "drift.0000@example.com", "name": "Drift Person0", "phone": None, "external_id": None,
        "created_at": fetched.fields["created_at"]}
    assert fetched.fields["created_at"].startswith("2023-11-14T")  # createdAt, epoch milliseconds
    assert missing is None
    assert [r.id for r in found] == [str(first + 1)] and nobody == []
    assert created.fields["email"] == "ada@example.com" and created.fields["name"] == "Ada Lovelace"
    assert updated is not None and updated.fields["name"] == "Ada King"
    assert app.by_email()["ada@example.com"]["attributes"]["phone"] == "+442079460001"
    assert (gone, gone_again) == (True, False)

    [lookup, _] = [r for r in app.requests if r.method == "GET" and r.path == "/contacts"]
    assert lookup.query == {"email": ["drift.0001@example.com"], "limit": ["100"]}
    [post] = [r for r in app.requests if r.method == "POST"]
    assert post.body == {"attributes": {"email": "ada@example.com", "name": "Ada Lovelace",
                                        "phone": "+442079460000"}}
    [patch] = [r for r in app.requests if r.method == "PATCH"]
    assert patch.path == f"/contacts/{created.id}"
    assert patch.body == {"attributes": {"name": "Ada King", "phone": "+442079460001"}}


@pytest.mark.anyio
async def test_drift_refuses_a_duplicate_email_and_a_bad_token(vendor_fake: Any) -> None:
    app = vendor_fake(FakeDrift, None, contacts=1)
    async with connect(app) as c:
        with pytest.raises(ApiError) as duplicate:
            await c.create({"email": "drift.0000@example.com"})
    async with connect(app, token="wrong-token") as c:
        with pytest.raises(ConnectorError) as refused:
            await c.get("1")
    assert duplicate.value.status == 409
    assert isinstance(refused.value, AuthError)


def test_the_fake_drift_refuses_what_drift_does_not_offer(vendor_fake: Any) -> None:
    app = vendor_fake(FakeDrift, None, contacts=2)
    auth = {"Authorization": f"Bearer {app.token}"}
    listing = httpx.get(app.url + "/contacts", headers=auth)  # no "list all contacts"
    paged = httpx.get(app.url + "/contacts", params={"email": "x@example.com", "cursor": "2"}, headers=auth)
    flat = httpx.post(app.url + "/contacts", json={"email": "x@example.com"}, headers=auth)
    no_email = httpx.post(app.url + "/contacts", json={"attributes": {"name": "X"}}, headers=auth)
    assert [r.status_code for r in (listing, paged, flat, no_email)] == [400] * 4


def test_syncd_check_proves_drift_credentials_without_a_list(vendor_fake: Any, tmp_path: Path) -> None:
    app = vendor_fake(FakeDrift, None, contacts=2)
    env = {"DRIFT_TOKEN": app.token}
    args = ("drift", "--settings", "access_token=${env:DRIFT_TOKEN}", "--settings", f"base_url={app.url}")
    result = check(tmp_path, *args, env=env)

    assert result.returncode == 0, result.stderr
    [side] = json.loads(result.stdout)
    assert side["ok"] is True and side["records"] == 0
    assert side["write_only"] == "get of id 0: not found, as expected"
    assert [(r.method, r.path) for r in app.requests] == [("GET", "/contacts/0")]  # no page asked for
    assert app.token not in result.stdout + result.stderr

    refused = check(tmp_path, *args, env={"DRIFT_TOKEN": "wrong-token"})
    assert refused.returncode == 1 and "401" in refused.stdout
