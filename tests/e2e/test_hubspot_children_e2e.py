"""HubSpot notes and tasks follow their contacts: the shipped hubspot.yaml, real ``syncd once`` runs.

The other side is the sample app (its notes and tasks are child objects
too); HubSpot is the fake with notes and tasks over real HTTP
(tests/contracts/fake_hubspot_engagements.py), its contacts' notes read
through the notes search and created with their association.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from vendor_support import WRITES, syncd_once  # first: it makes the vendor fakes importable

from fake_hubspot_engagements import FakeHubSpotEngagements

from syncd.sampleapp import AuthMode, SampleApp, write_sample_config

TOKEN = "sample-secret-token-0123"


@dataclass
class Pair:
    sample: SampleApp
    hubspot: FakeHubSpotEngagements
    config: Path

    def once(self) -> dict[str, Any]:
        return syncd_once(self.config, {"SAMPLE_TOKEN": TOKEN, "HS_TOKEN": self.hubspot.token},
                          (TOKEN, self.hubspot.token))

    def hubspot_id(self, email: str) -> str:
        [cid] = [c["id"] for c in self.hubspot.live() if (c["properties"].get("email") or "").lower() == email]
        return cid

    def sample_id(self, email: str) -> str:
        [cid] = [str(c["id"]) for c in self.sample.store.all() if c["email"].lower() == email]
        return cid

    def hubspot_notes(self, email: str) -> list[str]:
        return sorted(n["properties"]["hs_note_body"] for n in self.hubspot.of("notes", self.hubspot_id(email)))

    def sample_notes(self, email: str) -> list[str]:
        return sorted(n["body"] for n in self.sample.children.all("notes", self.sample_id(email)))

    def writes(self) -> list[str]:
        hubspot = [f"{r.method} {r.path}" for r in self.hubspot.requests
                   if r.method in WRITES and not r.path.endswith("/search")]
        sample = [f"{r.method} {r.path}" for r in self.sample.requests.all()
                  if r.method in WRITES and r.path != "/search/contacts"]
        return hubspot + sample


@pytest.fixture
def pair(sample_app: Callable[..., SampleApp], tmp_path: Path) -> Iterator[Pair]:
    sample = sample_app(n=3, auth=AuthMode.BEARER, token=TOKEN, seed=7)
    with FakeHubSpotEngagements(contacts=0) as hubspot:
        integration = {
            "integration": "sample_hubspot",
            "left": {"connector": "sampleapp", "object": "contacts",
                     "settings": {"url": sample.url, "token": "${env:SAMPLE_TOKEN}"}},
            "right": {"connector": "hubspot", "object": "contacts",
                      "settings": {"token": "${env:HS_TOKEN}", "base_url": hubspot.url}},
            "match": {"left": "email", "right": "email"},
            "create": "both",
            "conflict": "newest_wins",
            "fields": [{"left": n, "right": n} for n in ("email", "first_name", "last_name")],
            "children": [
                {"left": "notes", "right": "notes", "fields": [{"left": "body", "right": "body"}]},
                {"left": "tasks", "right": "tasks", "fields": [{"left": "title", "right": "subject"}]},
            ],
        }
        config = write_sample_config(tmp_path / "config", integration, daemon={"state": {"path": "state.db"}})
        yield Pair(sample, hubspot, config)
        assert not hubspot.server_errors, hubspot.server_errors[0]


def test_notes_and_tasks_follow_their_contacts_to_hubspot_and_back(pair: Pair) -> None:
    a, b, c = sorted(contact["email"].lower() for contact in pair.sample.store.all())
    pair.sample.children.create("notes", pair.sample_id(a), {"body": "call back on Monday"})
    pair.sample.children.create("notes", pair.sample_id(a), {"body": "prefers email"})
    pair.sample.children.create("tasks", pair.sample_id(b), {"title": "send the quote", "done": False})

    summary = pair.once()
    assert summary["children"]["notes"]["created"] == {"left": 0, "right": 2}, summary
    assert pair.hubspot_notes(a) == ["call back on Monday", "prefers email"]
    assert pair.hubspot_notes(b) == pair.hubspot_notes(c) == []
    [task] = pair.hubspot.of("tasks", pair.hubspot_id(b))
    assert task["properties"]["hs_task_subject"] == "send the quote"
    # each note went to HubSpot associated with its contact, dated by the create
    creates = [r.body for r in pair.hubspot.requests if (r.method, r.path) == ("POST", "/crm/v3/objects/notes")]
    assert {json.dumps(n["associations"]) for n in creates} == {json.dumps(
        [{"to": {"id": pair.hubspot_id(a)}, "types": [
            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}]}])}
    assert all(n["properties"]["hs_timestamp"] for n in creates)

    # a note logged in HubSpot, and one edited there, come back to their contact
    pair.hubspot.log("notes", pair.hubspot_id(c), hs_note_body="met at the fair")
    [first] = [n for n in pair.hubspot.of("notes", pair.hubspot_id(a))
               if n["properties"]["hs_note_body"] == "call back on Monday"]
    pair.hubspot.edit("notes", first["id"], hs_note_body="call back on Tuesday")
    pair.once()
    assert pair.sample_notes(c) == ["met at the fair"]
    assert pair.sample_notes(a) == ["call back on Tuesday", "prefers email"]

    # a rerun writes nothing and duplicates nothing
    pair.once()  # the echo of the last writes is read back once
    with pair.hubspot.lock:
        pair.hubspot.requests.clear()
    pair.sample.requests.clear()
    summary = pair.once()
    assert pair.writes() == []
    assert summary["children"]["notes"]["created"] == {"left": 0, "right": 0}
    for email in (a, b, c):
        assert pair.hubspot_notes(email) == pair.sample_notes(email)


def test_a_note_the_search_does_not_find_yet_is_not_taken_as_deleted(pair: Pair) -> None:
    # HubSpot's search lags its writes: the note syncd just created may be
    # missing from the next read of its contact's notes. syncd asks for it by
    # id before taking it as deleted, so deletions: then: delete does not
    # delete the note it came from.
    (pair.config / "integrations.d" / "sample_hubspot.yaml").write_text(
        (pair.config / "integrations.d" / "sample_hubspot.yaml").read_text()
        + "deletions: {from: right, then: delete}\n")
    a = sorted(contact["email"].lower() for contact in pair.sample.store.all())[0]
    pair.sample.children.create("notes", pair.sample_id(a), {"body": "just written"})
    pair.once()
    [note] = pair.hubspot.of("notes", pair.hubspot_id(a))
    pair.hubspot.unindexed.add(note["id"])

    pair.once()  # the contact changed (syncd logged a note on it): its notes are read, by search
    assert pair.sample_notes(a) == ["just written"]
    assert [r for r in pair.hubspot.requests if r.method == "GET" and r.path.endswith(f"/notes/{note['id']}")]
    assert pair.hubspot_notes(a) == ["just written"]

    # a note deleted in HubSpot is gone for the get too: its partner is deleted
    pair.hubspot.unindexed.clear()
    with pair.hubspot.lock:
        note["archived"] = True
        pair.hubspot._touch(pair.hubspot.contacts[pair.hubspot_id(a)])
    pair.once()
    assert pair.sample_notes(a) == []
