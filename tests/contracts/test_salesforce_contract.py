"""connectors.d/salesforce.yaml against a strict fake Salesforce org (tests/contracts/fake_salesforce.py).

Salesforce publishes no OpenAPI description of its core REST API for general
use, so the fake is the contract: it parses only the SOQL shapes the spec
sends and refuses the rest with MALFORMED_QUERY, refuses unknown and
read-only fields, a missing LastName, an expired session and a rotated-out
refresh token with Salesforce's documented errors, and answers as the
reference pages show.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_salesforce import API_LIMIT, FakeSalesforce
from spec_check import SPECS, check, shipped

from syncd.config import load_connector_file
from syncd.connector import ApiError, AuthError, Connector, ConnectorError, read_quota

SPEC = SPECS / "salesforce.yaml"
pytestmark = pytest.mark.anyio


def connect(app: FakeSalesforce, obj: str = "contacts", refresh_token: str | None = None) -> Connector:
    return shipped("salesforce", obj, secrets={"client_secret": app.client_secret,
                                               "refresh_token": refresh_token or "5Aep861fake.refresh.token.0"},
                   base_url=app.url, client_id=app.client_id, token_url=app.token_url)


async def test_every_salesforce_contact_operation_keeps_to_salesforces_reference(vendor_fake: Any) -> None:
    app = vendor_fake(FakeSalesforce, None, contacts=2100, leads=0)
    with app.lock:
        quoted = app._add("Contact", {"Email": "o'brien@example.com", "LastName": "O'Brien"},
                          datetime(2025, 6, 1, tzinfo=UTC))
    async with connect(app) as c:
        listed = [r for page in [p async for p in c.list()] for r in page.records]
        ids = [r.id for r in listed]
        for n, rid in enumerate((ids[5], ids[2050], ids[151])):
            app.modify("Contact", rid, LastName=f"Changed {n}")
        changed = [r.id for page in [p async for p in c.changes(datetime(2025, 1, 1, tzinfo=UTC))]
                   for r in page.records]
        fetched = await c.get(ids[6])
        missing = await c.get("003Dn0000999999AAA")
        found = await c.find("email", "O'Brien@Example.com")
        created = await c.create({"email": "grace@example.com", "first_name": "Grace", "last_name": "Hopper",
                                  "title": "Rear Admiral", "email_opt_out": True})
        updated = await c.update(ids[7], {"email": "new.7@example.com", "first_name": "Ada", "phone": None})
        deleted, again = await c.delete(ids[8]), await c.delete(ids[8])

    assert len(listed) == 2101 and ids == sorted(ids)
    assert listed[0].fields == {
        "email": "person.0000@example.com", "first_name": "Person0", "last_name": "Example",
        "phone": "+14155550000", "mobile": None, "title": "Engineer", "department": None, "account_id": None,
        "lead_source": None, "email_opt_out": False}
    assert listed[0].updated_at == datetime(2024, 3, 1, 8, 0, tzinfo=UTC)  # "2024-03-01T08:00:00.000+0000"
    assert changed == [quoted["Id"], ids[5], ids[2050], ids[151]]  # by SystemModstamp, then Id
    assert fetched is not None and fetched.fields["email"] == "person.0006@example.com"
    assert missing is None
    assert [r.id for r in found] == [quoted["Id"]]
    # Salesforce answers the create with {"id", "success", "errors"}: the record is what get read back
    assert created.id.startswith("003") and len(created.id) == 18
    assert created.fields == {"email": "grace@example.com", "first_name": "Grace", "last_name": "Hopper",
                              "phone": None, "mobile": None, "title": "Rear Admiral", "department": None,
                              "account_id": None, "lead_source": None, "email_opt_out": True}
    assert updated is None  # PATCH answers 204
    row = app.rows["Contact"][ids[7]]
    assert (row["Email"], row["FirstName"], row["Phone"]) == ("new.7@example.com", "Ada", None)
    assert (deleted, again) == (True, False)  # the second: 404 ENTITY_IS_DELETED

    queries = [r for r in app.requests if r.path == "/services/data/v68.0/query"]
    assert [r.arg("q") for r in queries][0].endswith("FROM Contact ORDER BY Id")
    [since] = [r.arg("q") for r in queries if "SystemModstamp >" in (r.arg("q") or "")]
    # 2025-01-01T00:00:00Z less the spec's lookback (5 minutes: a long transaction's stamp is its start)
    assert since.endswith("FROM Contact WHERE SystemModstamp > 2024-12-31T23:55:00Z ORDER BY SystemModstamp, Id")
    [soql] = [r.arg("q") for r in queries if "Email =" in (r.arg("q") or "")]
    assert soql.endswith("WHERE Email = 'o\\'brien@example.com' ORDER BY Id")  # escaped, lower-cased by syncd
    # the second batch: the host-relative nextRecordsUrl, with no parameters
    more = [r for r in app.requests if r.path.startswith("/services/data/v68.0/query/01g")]
    assert [r.path.rsplit("-", 1)[1] for r in more] == ["2000"] and not more[0].query
    [post] = [r for r in app.requests if r.method == "POST" and r.path.endswith("/sobjects/Contact")]
    assert post.body == {"Email": "grace@example.com", "FirstName": "Grace", "LastName": "Hopper",
                         "Title": "Rear Admiral", "HasOptedOutOfEmail": True}
    [patch] = [r for r in app.requests if r.method == "PATCH"]
    assert patch.body == {"Email": "new.7@example.com", "FirstName": "Ada", "Phone": None}
    read_back = [r for r in app.requests if r.method == "GET" and r.path.endswith(created.id)]
    assert len(read_back) == 1 and (read_back[0].arg("fields") or "").startswith("Id,Email,")


async def test_a_salesforce_batch_update_reads_one_outcome_per_record_in_order(vendor_fake: Any) -> None:
    app = vendor_fake(FakeSalesforce, None, contacts=3, leads=0)
    a, b, c3 = list(app.rows["Contact"])
    async with connect(app) as c:
        results = await c.update_many([(a, {"title": "CTO"}), (b, {"last_name": None}),
                                       ("003Dn0000999999AAA", {"title": "Ghost"}), (c3, {"first_name": "Lin"})])
    assert results[0] is None and results[3] is None  # applied, as an update answered 204
    assert isinstance(results[1], ConnectorError) and not isinstance(results[1], ApiError)
    assert str(results[1]) == ("salesforce.contacts.update_batch: the batch did not apply this record: "
                               "REQUIRED_FIELD_MISSING: Required fields are missing: [LastName]")
    assert isinstance(results[2], ConnectorError) and "MALFORMED_ID" in str(results[2])
    assert (app.rows["Contact"][a]["Title"], app.rows["Contact"][c3]["FirstName"]) == ("CTO", "Lin")
    [batch] = [r for r in app.requests if r.path.endswith("/composite/sobjects")]
    assert batch.method == "PATCH" and batch.body["allOrNone"] is False
    assert batch.body["records"][0] == {"attributes": {"type": "Contact"}, "id": a, "Title": "CTO"}
    assert len([r for r in app.requests if r.method == "PATCH"]) == 1  # nothing sent again alone


async def test_salesforce_leads_are_read_and_created_with_their_company(vendor_fake: Any) -> None:
    app = vendor_fake(FakeSalesforce, None, contacts=0, leads=3)
    async with connect(app, "leads") as c:
        listed = [r for page in [p async for p in c.list()] for r in page.records]
        created = await c.create({"email": "lin@example.com", "last_name": "Lin", "company": "Acme",
                                  "status": "Working - Contacted"})
        with pytest.raises(ApiError) as refused:
            await c.create({"email": "nocompany@example.com", "last_name": "Nobody"})

    assert [r.fields["company"] for r in listed] == ["Company 0", "Company 1", "Company 2"]
    assert listed[0].fields["status"] == "Open - Not Contacted"
    assert created.id.startswith("00Q") and created.fields["company"] == "Acme"
    assert created.fields["status"] == "Working - Contacted"
    assert refused.value.status == 400 and "REQUIRED_FIELD_MISSING" in str(refused.value)


def test_sforce_limit_info_is_the_quota_the_spec_reads(vendor_fake: Any) -> None:
    app = vendor_fake(FakeSalesforce, None, contacts=1, leads=0)
    quota = load_connector_file(SPEC).rate_limit.quota
    token = httpx.post(app.token_url, data={"grant_type": "refresh_token", "client_id": app.client_id,
                                            "client_secret": app.client_secret,
                                            "refresh_token": "5Aep861fake.refresh.token.0"}).json()
    assert token["instance_url"] == app.url and token["refresh_token"] != "5Aep861fake.refresh.token.0"
    for _ in range(3):
        answer = httpx.get(app.url + "/services/data/v68.0/query", params={"q": "SELECT Id FROM Contact"},
                           headers={"Authorization": f"Bearer {token['access_token']}"})
    assert answer.headers["Sforce-Limit-Info"] == f"api-usage=3/{API_LIMIT}"
    reading = read_quota(quota, answer.headers, time.time())
    assert reading is not None and (reading.used, reading.limit) == (3, API_LIMIT)


def test_the_fake_salesforce_refuses_what_salesforce_refuses(vendor_fake: Any) -> None:
    app = vendor_fake(FakeSalesforce, None, contacts=1, leads=0)
    token = httpx.post(app.token_url, data={"grant_type": "refresh_token", "client_id": app.client_id,
                                            "client_secret": app.client_secret,
                                            "refresh_token": "5Aep861fake.refresh.token.0"}).json()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    query = app.url + "/services/data/v68.0/query"

    def soql(q: str, headers: dict[str, str] = bearer) -> httpx.Response:
        return httpx.get(query, params={"q": q}, headers=headers)

    injected = soql("SELECT Id FROM Contact WHERE Email = 'x' OR Email != ''")
    unescaped = soql("SELECT Id FROM Contact WHERE Email = 'o'brien@example.com'")
    fraction = soql("SELECT Id FROM Contact WHERE SystemModstamp > 2025-01-01T00:00:00.500Z")
    column = soql("SELECT Id, Nickname FROM Contact")
    expired = soql("SELECT Id FROM Contact", {"Authorization": "Bearer 00Dexpired"})
    no_last = httpx.post(app.url + "/services/data/v68.0/sobjects/Contact", json={"Email": "a@example.com"},
                         headers=bearer)
    read_only = httpx.patch(app.url + f"/services/data/v68.0/sobjects/Contact/{next(iter(app.rows['Contact']))}",
                            json={"SystemModstamp": "2025-01-01T00:00:00.000+0000"}, headers=bearer)
    assert [r.status_code for r in (injected, unescaped, fraction, column, expired, no_last, read_only)] == \
        [400, 400, 400, 400, 401, 400, 400]
    assert [r.json()[0]["errorCode"] for r in (injected, unescaped, fraction, column, expired, no_last, read_only)] \
        == ["MALFORMED_QUERY", "MALFORMED_QUERY", "MALFORMED_QUERY", "INVALID_FIELD", "INVALID_SESSION_ID",
            "REQUIRED_FIELD_MISSING", "INVALID_FIELD_FOR_INSERT_UPDATE"]


async def test_a_rotated_out_salesforce_refresh_token_is_a_final_auth_error(vendor_fake: Any) -> None:
    app = vendor_fake(FakeSalesforce, None, contacts=1, leads=0)
    async with connect(app) as c:
        assert [r.id async for page in c.list() for r in page.records]
    assert app.token_requests == 1 and app.refresh_token != "5Aep861fake.refresh.token.0"
    # the config's token again, with no token store: Salesforce revokes the chain
    async with connect(app) as c:
        with pytest.raises(AuthError) as caught:
            await c.get("003Dn0000000001AAA")
    assert "invalid_grant" in str(caught.value) and "settings.refresh_token" in str(caught.value)
    assert app.refresh_token is None


def test_syncd_check_reads_salesforce(vendor_fake: Any, tmp_path: Path) -> None:
    app = vendor_fake(FakeSalesforce, None, contacts=2500, leads=0)
    result = check(tmp_path, "salesforce", "--object", "contacts", "--settings", f"base_url={app.url}",
                   "--settings", f"client_id={app.client_id}", "--settings", f"token_url={app.token_url}",
                   "--settings", "client_secret=${env:SF_SECRET}", "--settings", "refresh_token=${env:SF_REFRESH}",
                   "--all-pages", env={"SF_SECRET": app.client_secret, "SF_REFRESH": "5Aep861fake.refresh.token.0"})

    assert result.returncode == 0, result.stderr
    [side] = json.loads(result.stdout)
    assert (side["side"], side["records"], side["pages"], side["record_errors"]) == ("salesforce.contacts", 2500, 2, [])
    assert app.client_secret not in result.stdout + result.stderr
