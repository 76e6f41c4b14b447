"""BirdSend ↔ HubSpot end to end: the shipped specs, both fakes over real HTTP, real ``syncd once`` runs.

The issue asks for notes following their contacts in this pairing; BirdSend's
published API has no notes, tasks or appointments (connectors.d/birdsend.yaml
says where it looked), so this pairing syncs contacts, and the HubSpot notes
and tasks follow their contacts in tests/e2e/test_hubspot_children_e2e.py,
against the sample app, which has them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from vendor_support import WRITES, syncd_once  # first: it makes the vendor fakes importable

from fake_birdsend import FakeBirdSend
from fake_hubspot_engagements import FakeHubSpotEngagements

from syncd.sampleapp import write_sample_config

FIELDS = [{"left": name, "right": name} for name in ("email", "first_name", "last_name", "phone")]


@dataclass
class Apps:
    birdsend: FakeBirdSend
    hubspot: FakeHubSpotEngagements
    config: Path

    def once(self) -> dict[str, Any]:
        tokens = {"BS_TOKEN": self.birdsend.token, "HS_TOKEN": self.hubspot.token}
        return syncd_once(self.config, tokens, tokens.values())

    def writes(self) -> list[str]:
        """The requests that changed something (a HubSpot search by POST only reads)."""
        return [f"{r.method} {r.path}" for app in (self.birdsend, self.hubspot) for r in app.requests
                if r.method in WRITES and not r.path.endswith("/search")]

    def clear(self) -> None:
        for app in (self.birdsend, self.hubspot):
            with app.lock:
                app.requests.clear()


def birdsend_people(app: FakeBirdSend) -> dict[str, dict[str, Any]]:
    return {c["email"]: c["fields"] for c in app.contacts.values()}


def hubspot_people(app: FakeHubSpotEngagements) -> dict[str, dict[str, Any]]:
    return {(c["properties"].get("email") or "").lower(): c["properties"] for c in app.live()}


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[Apps]:
    with FakeBirdSend(contacts=5) as birdsend, FakeHubSpotEngagements(contacts=4) as hubspot:
        # one person in both apps already, under differently cased emails
        birdsend.add("contact.0001@example.com", first_name="First1", last_name="Last1")
        integration = {
            "integration": "birdsend_hubspot",
            "left": {"connector": "birdsend", "object": "contacts",
                     "settings": {"token": "${env:BS_TOKEN}", "base_url": birdsend.url}},
            "right": {"connector": "hubspot", "object": "contacts",
                      "settings": {"token": "${env:HS_TOKEN}", "base_url": hubspot.url}},
            "match": {"left": "email", "right": "email"},
            "create": "both",
            "conflict": "newest_wins",
            "fields": FIELDS,
        }
        config = write_sample_config(tmp_path / "config", integration, daemon={"state": {"path": "state.db"}})
        yield Apps(birdsend, hubspot, config)
        for app in (birdsend, hubspot):
            assert not app.server_errors, app.server_errors[0]


def test_birdsend_and_hubspot_contacts_sync_both_ways_without_duplicates(apps: Apps) -> None:
    summary = apps.once()

    assert summary["created"] == {"left": 3, "right": 5}, summary
    people, crm = birdsend_people(apps.birdsend), hubspot_people(apps.hubspot)
    assert sorted(people) == sorted(crm) and len(people) == 9  # 5 + 4, one of them in both
    assert crm["reader.0002@example.com"]["firstname"] == "Reader2"
    assert crm["reader.0002@example.com"]["phone"] == "+442070000002"
    assert people["contact.0003@example.com"] == {"first_name": "First3", "last_name": "Last3",
                                                  "phone": "+15550100003"}
    # BirdSend took each contact with its fields, as its reference shows a create
    posted = [r.body for r in apps.birdsend.requests if r.method == "POST"]
    assert {"email": "contact.0000@example.com",
            "fields": {"first_name": "First0", "last_name": "Last0", "phone": "+15550100000"}} in posted

    # an update each way
    reader = apps.birdsend.by_email("reader.0004@example.com")
    apps.birdsend.modify(reader["contact_id"], last_name="Renamed in BirdSend")
    [hs_id] = [c["id"] for c in apps.hubspot.live() if c["properties"]["email"] == "Contact.0002@Example.COM"]
    apps.hubspot.modify(hs_id, firstname="Renamed in HubSpot")
    apps.once()
    assert hubspot_people(apps.hubspot)["reader.0004@example.com"]["lastname"] == "Renamed in BirdSend"
    assert birdsend_people(apps.birdsend)["contact.0002@example.com"]["first_name"] == "Renamed in HubSpot"

    # a rerun: nothing to write, and still one contact per person on each side
    apps.once()  # the echo of the last writes is read back once
    apps.clear()
    summary = apps.once()
    assert apps.writes() == []
    assert summary["created"] == {"left": 0, "right": 0}
    assert len(apps.birdsend.contacts) == len(apps.hubspot.live()) == 9
