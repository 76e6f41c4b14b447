"""HubSpot contacts ↔ Mailchimp members, through the shipped specs and real ``syncd once`` processes.

The fake HubSpot (tests/connector_specs/fake_hubspot.py) and the fake
Mailchimp (tests/contracts/fake_mailchimp.py) serve over HTTP on 127.0.0.1,
each with its vendor's own API description attached as the judge of every
request and reply (tests/contracts/vendor_contract.py).  The integration is
the one a user would write: names and phone both ways, HubSpot's lifecycle
stage as Mailchimp's status (subscriber ↔ subscribed, other ↔ unsubscribed),
and a rule tagging customers in Mailchimp, whose tags are written through
Mailchimp's tags endpoint (a removed tag sent inactive).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parents[1]
for helpers in ("connector_specs", "contracts"):  # the fakes and the judge, imported as they import each other
    if str(TESTS / helpers) not in sys.path:
        sys.path.insert(0, str(TESTS / helpers))

from fake_hubspot import FakeHubSpot  # noqa: E402
from fake_mailchimp import FakeMailchimp, subscriber_hash  # noqa: E402
from vendor_contract import VendorContract  # noqa: E402

REPO = TESTS.parent
INTEGRATION = """\
integration: crm-to-newsletter
left:
  connector: hubspot
  object: contacts
  settings: {{token: "${{env:HS_TOKEN}}", base_url: "{hubspot}"}}
right:
  connector: mailchimp
  object: members
  settings: {{api_key: "${{env:MC_API_KEY}}", list_id: {list_id}, base_url: "{mailchimp}"}}
match: {{left: email, right: email}}
create: both
fields:
  - {{left: email, right: email}}
  - {{left: first_name, right: first_name}}
  - {{left: last_name, right: last_name}}
  - {{left: phone, right: phone}}
  - left: stage
    right: status
    values: {{subscriber: subscribed, other: unsubscribed}}
rules:
  - {{from: left, if: "stage == 'customer'", then: [{{add_tag: customer}}]}}
  - {{from: left, if: "stage != 'customer'", then: [{{remove_tag: customer}}]}}
"""


@pytest.fixture
def apps() -> Iterator[tuple[FakeHubSpot, FakeMailchimp]]:
    hubspot, mailchimp = FakeHubSpot(contacts=4), FakeMailchimp(members=4)
    hubspot.contract = VendorContract("hubspot-crm-contacts-v3.yaml")
    mailchimp.contract = VendorContract("mailchimp-marketing-3.0.76.yaml")
    hubspot.start()
    mailchimp.start()
    yield hubspot, mailchimp
    hubspot.stop()
    mailchimp.stop()
    for fake in (hubspot, mailchimp):
        assert not fake.server_errors, fake.server_errors[0]
        assert isinstance(fake.contract, VendorContract)
        assert fake.contract.violations == [], "\n".join(fake.contract.violations)


def once(config: Path, hubspot: FakeHubSpot, mailchimp: FakeMailchimp) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    result = subprocess.run([sys.executable, "-m", "syncd", "once", "--json", "-c", str(config)],
                            capture_output=True, text=True, timeout=120, cwd=REPO,
                            env={**env, "HS_TOKEN": hubspot.token, "MC_API_KEY": mailchimp.api_key})
    assert result.returncode == 0, result.stdout + result.stderr
    assert hubspot.token not in result.stdout + result.stderr
    assert mailchimp.api_key not in result.stdout + result.stderr
    [summary] = json.loads(result.stdout)
    return summary


def hubspot_by_email(app: FakeHubSpot) -> dict[str, dict[str, Any]]:
    return {r["properties"]["email"].lower(): r["properties"] for r in app.live()}


def members_by_email(app: FakeMailchimp) -> dict[str, dict[str, Any]]:
    return {m["email_address"].lower(): m for m in app.members.values() if m["status"] != "archived"}


def tag_posts(app: FakeMailchimp) -> list[tuple[str, Any]]:
    return [(r.path.split("/")[-2], r.body["tags"]) for r in app.requests if r.path.endswith("/tags")]


def test_hubspot_and_mailchimp_pair_up_both_ways(apps: tuple[FakeHubSpot, FakeMailchimp], tmp_path: Path) -> None:
    hubspot, mailchimp = apps
    # One person in both apps from the start: matched by email, not created twice.
    hubspot._add({"email": "Member.0003@example.com", "firstname": "Third", "lifecyclestage": "lead"},
                 datetime(2024, 3, 1, 12, tzinfo=UTC))
    config = tmp_path / "config"
    (config / "integrations.d").mkdir(parents=True)
    (config / "syncd.yaml").write_text("state: {path: state/syncd.db}\nlog: {level: debug}\n")
    (config / "integrations.d" / "crm-to-newsletter.yaml").write_text(INTEGRATION.format(
        hubspot=hubspot.url, mailchimp=mailchimp.url, list_id=mailchimp.list_id))

    # 1. Initial sync: HubSpot's 4 new contacts to Mailchimp, Mailchimp's 3 unmatched members to HubSpot.
    summary = once(config, hubspot, mailchimp)
    assert summary["created"] == {"left": 3, "right": 4} and summary["errors"] == 0
    people = hubspot_by_email(hubspot)
    members = members_by_email(mailchimp)
    assert set(people) == set(members) and len(people) == 8
    # stage → status, and a customer tagged
    assert members["contact.0000@example.com"]["status"] == "subscribed"  # subscriber
    assert members["contact.0001@example.com"]["status"] == "subscribed"  # lead: no status, the new-member default
    assert [t["name"] for t in members["contact.0002@example.com"]["tags"]] == ["customer"]
    assert members["contact.0000@example.com"]["tags"] == []
    # status → stage: Mailchimp's unsubscribed member is "other" in HubSpot
    assert people["member.0001@example.com"]["lifecyclestage"] == "other"
    assert people["member.0000@example.com"]["lifecyclestage"] == "subscriber"
    assert "lifecyclestage" not in people["member.0002@example.com"]  # cleaned: no stage for it
    assert (people["member.0002@example.com"]["firstname"], people["member.0002@example.com"]["phone"]) == (
        "First2", "+442079460002")
    assert members["contact.0001@example.com"]["merge_fields"]["PHONE"] == "+15550100001"
    assert ("customer", "active") in [(t["name"], t["status"]) for _, tags in tag_posts(mailchimp) for t in tags]
    assert hubspot_by_email(hubspot)["member.0003@example.com"]["firstname"] == "Third"  # matched, HubSpot's kept

    # 2. Mailchimp → HubSpot: a member renamed (and tagged vip there by hand).
    customer = subscriber_hash("contact.0002@example.com")
    mailchimp.set_tags(customer, ["customer", "vip"])
    mailchimp.modify(customer, FNAME="Grace")
    summary = once(config, hubspot, mailchimp)
    assert summary["updated"] == {"left": 1, "right": 0} and summary["errors"] == 0
    assert hubspot_by_email(hubspot)["contact.0002@example.com"]["firstname"] == "Grace"

    # 3. HubSpot → Mailchimp: the customer becomes an opportunity: renamed, and untagged customer.
    posted = len(tag_posts(mailchimp))
    hubspot.modify(hubspot_by_email(hubspot)["contact.0002@example.com"]["hs_object_id"],
                   lastname="Hopper", lifecyclestage="opportunity")
    summary = once(config, hubspot, mailchimp)
    assert summary["updated"] == {"left": 0, "right": 1} and summary["errors"] == 0
    member = members_by_email(mailchimp)["contact.0002@example.com"]
    assert member["merge_fields"]["LNAME"] == "Hopper"
    assert mailchimp.tag_names(customer) == ["vip"]  # vip, added in Mailchimp, stays
    assert tag_posts(mailchimp)[posted:] == [(customer, [{"name": "vip", "status": "active"},
                                                         {"name": "customer", "status": "inactive"}])]

    # 4. Nothing changed: nothing written, nothing created twice.
    before = len(mailchimp.requests), len(hubspot.requests)
    summary = once(config, hubspot, mailchimp)
    assert summary["created"] == {"left": 0, "right": 0} and summary["updated"] == {"left": 0, "right": 0}
    assert summary["errors"] == 0
    writes = [r for r in (*mailchimp.requests[before[0]:], *hubspot.requests[before[1]:])
              if r.method in ("PUT", "PATCH", "DELETE") or (r.method == "POST" and not r.path.endswith("/search"))]
    assert writes == []
    assert len(hubspot.live()) == len(members_by_email(mailchimp)) == 8
