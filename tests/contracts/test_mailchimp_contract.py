"""connectors.d/mailchimp.yaml against Mailchimp's own description of the Marketing API, 3.0.76.

The fake Mailchimp (tests/contracts/fake_mailchimp.py) has the description
attached (tests/contracts/vendor/mailchimp-marketing-3.0.76.yaml): every
request the spec makes must be one Mailchimp documents, and every reply the
fake gives one too.  Tags go through their own endpoint (a field's
``write_request``), added ones active and removed ones inactive.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fake_mailchimp import FakeMailchimp, subscriber_hash
from spec_check import check, shipped

from syncd.connector import ApiError, Connector

DESCRIPTION = "mailchimp-marketing-3.0.76.yaml"
SINCE = datetime(2025, 1, 1, tzinfo=UTC)  # after every member the fake starts with


def connect(app: FakeMailchimp, api_key: str | None = None) -> Connector:
    return shipped("mailchimp", "members", secrets={"api_key": api_key or app.api_key}, list_id=app.list_id,
                   base_url=app.url)


def tag_requests(app: FakeMailchimp) -> list[Any]:
    return [r.body["tags"] for r in app.requests if r.path.endswith("/tags")]


@pytest.mark.anyio
async def test_every_mailchimp_operation_keeps_to_mailchimps_description(vendor_fake: Any) -> None:
    app = vendor_fake(FakeMailchimp, DESCRIPTION, members=1234)
    edited = [subscriber_hash(f"member.{i:04d}@example.com") for i in (7, 900, 1100)]
    async with connect(app) as c:
        listed = [r for page in [p async for p in c.list()] for r in page.records]
        for sid, name in zip(edited, ("Ada", "Grace", "Edsger")):
            app.modify(sid, FNAME=name)
        changed = [r for page in [p async for p in c.changes(SINCE)] for r in page.records]
        created = await c.create({"email": "Ada@Example.com", "first_name": "Ada", "tags": ["customer", "beta"]})
        fetched = await c.get(created.id)
        found = await c.find("email", "ADA@example.com")
        updated = await c.update(created.id, {"last_name": "Lovelace", "phone": "+44 20 7946 0000",
                                              "status": "unsubscribed"})
        retagged = await c.update(created.id, {"tags": ["beta", "vip"]})
        assert await c.delete(created.id) is True
        archived = await c.get(created.id)
        assert await c.delete(created.id) is False  # already archived: 404

    assert len(listed) == 1234 and len({r.id for r in listed}) == 1234
    newest = listed[0]  # latest change first: member 1233
    assert newest.id == subscriber_hash("member.1233@example.com")
    assert newest.updated_at == datetime(2024, 2, 2, 4, 33, tzinfo=UTC)
    assert newest.fields == {"email": "member.1233@example.com", "first_name": "First1233", "last_name": "Last1233",
                             "phone": "+15550101233", "status": "unsubscribed", "tags": ["customer"],
                             "city": None, "country": None}
    assert (listed[1].fields["city"], listed[1].fields["country"]) == ("Springfield", "US")
    assert sorted((r.id, r.fields["first_name"]) for r in changed) == sorted(zip(edited, ("Ada", "Grace", "Edsger")))
    assert created.id == hashlib.md5(b"ada@example.com").hexdigest()  # the subscriber hash
    assert created.fields["status"] == "subscribed"
    assert sorted(created.fields["tags"]) == ["beta", "customer"]
    assert fetched is not None and sorted(fetched.fields["tags"]) == ["beta", "customer"]
    assert [r.id for r in found] == [created.id]
    assert updated is not None and (updated.fields["last_name"], updated.fields["phone"], updated.fields["status"]) \
        == ("Lovelace", "+442079460000", "unsubscribed")
    assert retagged is not None and retagged.fields["tags"] == ["beta", "vip"]
    assert archived is not None and archived.deleted and archived.fields["status"] == "archived"

    pages = [r for r in app.requests if r.method == "GET" and r.path.endswith("/members")]
    assert [(r.arg("count"), r.arg("offset")) for r in pages[:2]] == [("1000", "0"), ("1000", "1000")]
    assert (pages[2].arg("since_last_changed"), pages[2].arg("sort_field"), pages[2].arg("sort_dir")) == (
        "2025-01-01T00:00:00Z", "last_changed", "DESC")
    [put] = [r for r in app.requests if r.method == "PUT"]
    assert put.path == f"/3.0/lists/{app.list_id}/members/{created.id}"
    assert put.body == {"status_if_new": "subscribed", "email_address": "Ada@Example.com",
                        "merge_fields": {"FNAME": "Ada"}}  # tags go by their own request
    assert tag_requests(app) == [
        [{"name": "customer", "status": "active"}, {"name": "beta", "status": "active"}],
        [{"name": "beta", "status": "active"}, {"name": "vip", "status": "active"},
         {"name": "customer", "status": "inactive"}],
    ]
    assert app.most_in_flight <= 10
    assert app.contract.violations == []
    assert set(app.contract.operations) == {
        "getListsIdMembers", "putListsIdMembersId", "postListMemberTags", "getListsIdMembersId",
        "getSearchMembers", "patchListsIdMembersId", "deleteListsIdMembersId"}


@pytest.mark.anyio
async def test_a_tag_change_with_other_fields_takes_the_previous_tags_from_the_update(vendor_fake: Any) -> None:
    # Member 2 has customer and newsletter. PATCH leaves tags alone, so its answer
    # holds the tags before the change: newsletter is removed (inactive), vip added.
    app = vendor_fake(FakeMailchimp, DESCRIPTION, members=3)
    sid = subscriber_hash("member.0002@example.com")
    async with connect(app) as c:
        updated = await c.update(sid, {"first_name": "Grace", "tags": ["customer", "vip"]})

    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in app.requests] == [("PATCH", sid), ("POST", "tags")]
    assert "tags" not in app.requests[0].body  # Mailchimp ignores tags in an update
    assert tag_requests(app) == [[{"name": "customer", "status": "active"}, {"name": "vip", "status": "active"},
                                  {"name": "newsletter", "status": "inactive"}]]
    assert app.tag_names(sid) == ["customer", "vip"]
    assert updated is not None and updated.fields["tags"] == ["customer", "vip"]
    assert updated.fields["first_name"] == "Grace"
    assert app.contract.violations == []


@pytest.mark.anyio
async def test_removing_every_tag_sends_each_inactive(vendor_fake: Any) -> None:
    app = vendor_fake(FakeMailchimp, DESCRIPTION, members=3)
    sid = subscriber_hash("member.0002@example.com")
    async with connect(app) as c:
        updated = await c.update(sid, {"tags": []})

    # only tags: the member is read (get), not sent an empty update
    assert [r.method for r in app.requests] == ["GET", "POST"]
    assert tag_requests(app) == [[{"name": "customer", "status": "inactive"},
                                  {"name": "newsletter", "status": "inactive"}]]
    assert app.tag_names(sid) == [] and updated is not None and updated.fields["tags"] == []
    assert app.contract.violations == []


@pytest.mark.anyio
async def test_creating_a_member_that_exists_updates_it(vendor_fake: Any) -> None:
    # PUT is Mailchimp's add-or-update: a create repeated (an answer lost on the
    # way back) finds the member it made instead of failing with Member Exists.
    app = vendor_fake(FakeMailchimp, DESCRIPTION, members=3)
    async with connect(app) as c:
        first = await c.create({"email": "grace@example.com", "first_name": "Grace", "status": "pending"})
        again = await c.create({"email": "Grace@Example.com", "first_name": "Grace", "last_name": "Hopper"})

    assert first.id == again.id == subscriber_hash("grace@example.com")
    assert len(app.members) == 4
    assert (again.fields["status"], again.fields["last_name"]) == ("pending", "Hopper")  # status_if_new: new only
    assert app.contract.violations == []


@pytest.mark.anyio
async def test_a_wrong_mailchimp_key_is_a_documented_401(vendor_fake: Any) -> None:
    app = vendor_fake(FakeMailchimp, DESCRIPTION, members=1)
    async with connect(app, api_key="ffffffffffffffffffffffffffffffff-us0") as c:
        with pytest.raises(ApiError) as caught:
            await c.get(next(iter(app.members)))
    assert caught.value.status == 401 and "API Key Invalid" in str(caught.value)
    assert app.contract.violations == []


def test_the_api_host_is_the_data_centre_at_the_end_of_the_key() -> None:
    key = "0123456789abcdef0123456789abcdef-us6"
    connector = shipped("mailchimp", "members", secrets={"api_key": key}, list_id="a1b2c3d4e5")
    request = connector.request("get", {**connector.context, "id": subscriber_hash("ada@example.com")})

    assert connector.base_url == "https://us6.api.mailchimp.com/3.0"
    assert str(request.url).startswith("https://us6.api.mailchimp.com/3.0/lists/a1b2c3d4e5/members/")
    assert "0123456789abcdef" not in str(request.url)  # only the data centre leaves the key


def test_syncd_check_reads_mailchimp_within_its_description(vendor_fake: Any, tmp_path: Path) -> None:
    app = vendor_fake(FakeMailchimp, DESCRIPTION, members=1234)
    result = check(tmp_path, "mailchimp", "--settings", "api_key=${env:MC_API_KEY}",
                   "--settings", f"list_id={app.list_id}", "--settings", f"base_url={app.url}",
                   "--all-pages", "--records", "4", env={"MC_API_KEY": app.api_key})

    assert result.returncode == 0, result.stderr
    [side] = json.loads(result.stdout)
    assert (side["side"], side["records"], side["pages"], side["record_errors"]) == ("mailchimp.members", 1234, 2, [])
    first = side["first_records"]  # latest change first: members 1233, 1232, 1231, 1230
    assert first[0]["id"] == subscriber_hash("member.1233@example.com")
    assert first[0]["updated_at"] == "2024-02-02T04:33:00Z"  # 1,233 minutes after the first
    assert [r["fields"]["phone"] for r in first[1:3]] == ["+442079461232", "5550101231"]
    assert [r["fields"]["tags"] for r in first] == [["customer"], [], ["vip"], ["customer", "newsletter"]]
    assert app.most_in_flight <= 10
    assert app.api_key not in result.stdout + result.stderr
    assert app.contract.violations == []
