"""connectors.d/google-contacts.yaml against a strict fake People API
(tests/contracts/fake_google_contacts.py), every exchange judged by Google's
own discovery document (tests/contracts/discovery_contract.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from discovery_contract import DiscoveryContract
from fake_google_contacts import FakeGoogleContacts
from spec_check import check, shipped

from syncd.config import load_config
from syncd.connector import Connector, SyncTokenExpired
from syncd.sampleapp import AuthMode, SampleApp
from syncd.sync import Cycles

DISCOVERY = "people-v1-discovery.json"
RIGHT_TOKEN = "right-token-4567"
EVERY_METHOD = {"people.people.connections.list", "people.people.get", "people.people.searchContacts",
                "people.people.createContact", "people.people.updateContact", "people.people.deleteContact"}


@pytest.fixture
def google(vendor_fake: Any) -> Callable[..., FakeGoogleContacts]:
    """``google(contacts=3)``: a running fake judged by the discovery document
    (vendor_fake fails the test on any violation or error inside the fake)."""
    return lambda **kwargs: vendor_fake(FakeGoogleContacts, DiscoveryContract(DISCOVERY), **kwargs)


def connect(app: FakeGoogleContacts) -> Connector:
    return shipped("google-contacts", "contacts", base_url=app.url, token_url=app.token_url,
                   secrets={"client_id": app.client_id, "client_secret": app.client_secret,
                            "refresh_token": app.refresh_token})


def authorised(app: FakeGoogleContacts) -> dict[str, str]:
    """The header of a request made by hand, with an access token from the fake's token endpoint."""
    token = httpx.post(app.token_url, data={"grant_type": "refresh_token", "client_id": app.client_id,
                                            "client_secret": app.client_secret,
                                            "refresh_token": app.refresh_token}).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


async def records(pages: Any) -> list[Any]:
    return [r for page in [p async for p in pages] for r in page.records]


@pytest.mark.anyio
async def test_reads_keep_to_the_discovery_document_and_changes_come_by_sync_token(google: Any) -> None:
    app = google(contacts=2100)
    async with connect(app) as c:
        listed = await records(c.list())
        token = c.last_sync_token
        first = listed[0].id
        app.edit(first, names=[{"givenName": "Ada", "familyName": "Lovelace"}],
                 organizations=[{"name": "Analytical Engines", "title": "Programmer"}])
        app.remove(listed[5].id)
        added = app.add({"emailAddresses": [{"value": "new@example.com"}]})
        changed = await records(c.changes(None, token))
        after = c.last_sync_token
        nothing = await records(c.changes(None, after))
        fetched = await c.get(first)
        missing = await c.get(listed[5].id)
        app.expire_sync_tokens()
        with pytest.raises(SyncTokenExpired) as expired:
            await records(c.changes(None, after))

    assert len(listed) == 2100 and token is not None
    assert listed[0].fields == {"email": "person.0000@example.com", "first_name": "Person0", "last_name": "Example",
                                "phone": "+442079460000", "company": None, "title": None, "notes": None}
    assert [(r.id, r.deleted) for r in changed] == [(first, False), (listed[5].id, True),
                                                    (added["resourceName"], False)]
    assert changed[0].fields["company"] == "Analytical Engines" and changed[0].fields["title"] == "Programmer"
    assert after not in (None, token) and nothing == []
    assert fetched is not None and fetched.fields["first_name"] == "Ada" and missing is None
    assert expired.value.status == 400 and "Sync token is expired" in str(expired.value)
    assert changed[0].updated_at is not None
    pages = [r for r in app.requests if r.path == "/v1/people/me/connections"]
    assert [(r.arg("pageSize"), r.arg("requestSyncToken"), r.arg("syncToken") is not None) for r in pages] == [
        ("1000", "true", False)] * 3 + [("1000", "true", True)] * 3
    assert {r.path for r in app.requests if r.method == "GET" and ":" not in r.path
            and r.path.startswith("/v1/people/c")} == {f"/v1/{first}", f"/v1/{listed[5].id}"}


@pytest.mark.anyio
async def test_writes_send_the_etag_and_name_exactly_the_fields_sent(google: Any) -> None:
    app = google(contacts=3)
    person = app.people[next(iter(app.people))]
    app.edit(person["resourceName"], emailAddresses=[{"value": "work@example.com", "type": "work"},
                                                     {"value": "home@example.com", "type": "home"}])
    async with connect(app) as c:
        created = await c.create({"email": "grace@example.com", "first_name": "Grace", "last_name": "Hopper",
                                  "company": "Navy", "phone": "+12025550100"})
        updated = await c.update(person["resourceName"], {"email": "new.work@example.com", "last_name": "Changed"})
        gone = await c.delete(created.id)
        again = await c.delete(created.id)

    assert created.id.startswith("people/c") and created.fields["first_name"] == "Grace"
    assert created.fields["company"] == "Navy" and created.fields["phone"] == "+12025550100"
    assert updated is not None and updated.fields["email"] == "new.work@example.com"
    stored = app.people[person["resourceName"]]
    assert [e["value"] for e in stored["emailAddresses"]] == ["new.work@example.com", "home@example.com"]
    assert stored["names"][0]["givenName"] == "Person0" and stored["names"][0]["familyName"] == "Changed"
    assert stored["phoneNumbers"][0]["value"] == "+44 20 7946 0000"  # not named, not cleared
    assert app.ignored == []
    [patch] = [r for r in app.requests if r.method == "PATCH"]
    assert patch.arg("updatePersonFields") == "emailAddresses,names"
    assert patch.body["etag"].startswith("%") and patch.body["metadata"]["sources"][0]["type"] == "CONTACT"
    assert (gone, again) == (True, False)
    assert set(app.contract.operations) == {"people.people.createContact", "people.people.get",
                                            "people.people.updateContact", "people.people.deleteContact"}


@pytest.mark.anyio
async def test_find_warms_the_search_cache_up_first(google: Any) -> None:
    app = google(contacts=3)
    async with connect(app) as c:
        created = await c.create({"email": "Late@Example.com", "first_name": "Late"})
        found = await c.find("email", "late@example.com")

    assert [r.id for r in found] == [created.id]  # the warm-up brought the cache past the create
    searches = [(r.arg("query"), r.arg("pageSize")) for r in app.requests if r.path == "/v1/people:searchContacts"]
    assert searches == [("", "30"), ("late@example.com", "30")] and app.warmups == 1
    assert set(app.contract.operations) >= {"people.people.searchContacts"}


def test_without_a_warm_up_the_fake_search_lags_a_write(google: Any) -> None:
    # What the warm-up is for (Google's guide): the fake's cache lags writes until one.
    app = google(contacts=1)
    bearer = authorised(app)
    app.add({"emailAddresses": [{"value": "late@example.com"}]})
    search = {"query": "late@", "readMask": "emailAddresses"}
    before = httpx.get(f"{app.url}/v1/people:searchContacts", params=search, headers=bearer).json()
    httpx.get(f"{app.url}/v1/people:searchContacts", params={"query": "", "readMask": "names"}, headers=bearer)
    after = httpx.get(f"{app.url}/v1/people:searchContacts", params=search, headers=bearer).json()
    assert before == {} and [r["person"]["emailAddresses"][0]["value"] for r in after["results"]] == [
        "late@example.com"]


def test_the_fake_and_the_discovery_document_refuse_what_google_refuses(google: Any) -> None:
    app = google(contacts=2)
    bearer = authorised(app)
    name = next(iter(app.people))
    no_mask = httpx.get(f"{app.url}/v1/{name}", headers=bearer)
    no_fields = httpx.patch(f"{app.url}/v1/{name}:updateContact", json={"etag": app.people[name]["etag"]},
                            headers=bearer)
    stale = httpx.patch(f"{app.url}/v1/{name}:updateContact", params={"updatePersonFields": "names"},
                        json={"metadata": {"sources": [{"type": "CONTACT", "etag": "#old"}]}}, headers=bearer)
    no_auth = httpx.get(f"{app.url}/v1/people/me/connections", params={"personFields": "names"})
    typo = httpx.post(f"{app.url}/v1/people:createContact", params={"personFields": "names,emails"},
                      json={"emailAddresses": [{"valeu": "x@example.com"}]}, headers=bearer)
    assert [r.status_code for r in (no_mask, no_fields, stale, no_auth, typo)] == [400, 400, 400, 401, 400]
    assert stale.json()["error"]["status"] == "FAILED_PRECONDITION"
    assert app.contract.violations == ["people.people.get: required parameter personFields or "
                                       "requestMask.includeField is missing",
                                       "people.people.updateContact: required parameter updatePersonFields "
                                       "is missing",
                                       "people.people.connections.list: no Authorization: Bearer header "
                                       "(the method needs OAuth scopes)",
                                       "people.people.createContact: personFields='names,emails': 'emails' is "
                                       "not a valid path of this field mask",
                                       "people.people.createContact request at emailAddresses/0: Additional "
                                       "properties are not allowed ('valeu' was unexpected)"]
    app.contract.violations.clear()  # judged as they should be: refused


def write_pair(directory: Path, app: FakeGoogleContacts, right: SampleApp) -> Any:
    (directory / "integrations.d").mkdir(parents=True)
    (directory / "syncd.yaml").write_text("state: {path: state/syncd.db}\n")
    (directory / "integrations.d" / "pair.yaml").write_text(f"""\
integration: pair
left:
  connector: google-contacts
  object: contacts
  settings:
    base_url: "{app.url}"
    token_url: "{app.token_url}"
    client_id: "${{env:GOOGLE_CLIENT_ID}}"
    client_secret: "${{env:GOOGLE_CLIENT_SECRET}}"
    refresh_token: "${{env:GOOGLE_REFRESH_TOKEN}}"
right:
  connector: sampleapp
  object: contacts
  settings: {{url: "{right.url}", token: "${{env:RIGHT_TOKEN}}"}}
match: {{left: email, right: email}}
fields:
  - {{left: email, right: email}}
  - {{left: first_name, right: first_name}}
  - {{left: last_name, right: last_name}}
deletions: {{from: left, then: delete, max_delete_percent: 100}}
""")
    return load_config(directory, environ={
        "GOOGLE_CLIENT_ID": app.client_id, "GOOGLE_CLIENT_SECRET": app.client_secret,
        "GOOGLE_REFRESH_TOKEN": app.refresh_token, "RIGHT_TOKEN": RIGHT_TOKEN})


@pytest.mark.anyio
async def test_cycles_read_google_by_sync_token_and_read_everything_when_it_expires(
        google: Any, sample_app: Callable[..., SampleApp], tmp_path: Path) -> None:
    app = google(contacts=4)
    right = sample_app(n=0, auth=AuthMode.BEARER, token=RIGHT_TOKEN)
    config = write_pair(tmp_path, app, right)
    names = list(app.people)
    with Cycles.open(config) as cycles:
        await cycles.run("pair", origin="once")
        app.edit(names[0], names=[{"givenName": "Ada", "familyName": "Lovelace"}])
        app.remove(names[1])
        changed = await cycles.run("pair", origin="once")
        app.expire_sync_tokens()
        app.remove(names[2])
        with structlog.testing.capture_logs() as logs:
            fallback = await cycles.run("pair", origin="once")
        token = cycles.store.side_state("pair", "left").sync_token

    assert not changed.aborted and changed.read["left"] == 2 and changed.deleted["right"] == 1
    assert not fallback.aborted and fallback.deleted["right"] == 1 and token is not None
    assert sorted((c["email"], c["first_name"]) for c in right.store.all()) == [
        ("person.0000@example.com", "Ada"), ("person.0003@example.com", "Person3")]
    assert [e["event"] for e in logs].count("sync token refused: reading everything") == 1
    sent = [r.arg("syncToken") is not None for r in app.requests if r.path == "/v1/people/me/connections"]
    assert sent == [False, True, True, False]


def test_syncd_check_reads_google_contacts(google: Any, tmp_path: Path) -> None:
    app = google(contacts=1200)
    result = check(tmp_path, "google-contacts", "--settings", "client_id=${env:GID}",
                   "--settings", "client_secret=${env:GSECRET}", "--settings", "refresh_token=${env:GREFRESH}",
                   "--settings", f"base_url={app.url}", "--settings", f"token_url={app.token_url}", "--all-pages",
                   env={"GID": app.client_id, "GSECRET": app.client_secret, "GREFRESH": app.refresh_token})

    assert result.returncode == 0, result.stderr
    [side] = json.loads(result.stdout)
    assert (side["side"], side["records"], side["pages"], side["record_errors"]) == (
        "google-contacts.contacts", 1200, 2, [])
    for secret in (app.client_secret, app.refresh_token, *app.access_tokens):
        assert secret not in result.stdout + result.stderr
