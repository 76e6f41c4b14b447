"""A one-way sync into Drift, which cannot list its contacts: the real ``syncd once``.

The sample app (syncd/sampleapp) is the source; a strict fake Drift
(tests/contracts/fake_drift.py) the write-only target. syncd never asks Drift
for a page: it looks each new contact up by email, creates what Drift lacks,
takes over a contact Drift had already, and on later runs updates the linked
contacts by id, without duplicates.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from fake_drift import FakeDrift

from syncd.sampleapp import AuthMode, SampleApp

SAMPLE_TOKEN = "sample-app-token-for-drift-9876"


def write_config(directory: Path, source: SampleApp, drift: FakeDrift, **more: Any) -> Path:
    integration = {
        "integration": "crm-to-drift",
        "left": {"connector": "sampleapp", "object": "contacts",
                 "settings": {"url": source.url, "token": "${env:SAMPLE_TOKEN}"}},
        "right": {"connector": "drift", "object": "contacts",
                  "settings": {"access_token": "${env:DRIFT_TOKEN}", "base_url": drift.url}},
        "match": {"left": "email", "right": "email"},
        "create": "left_to_right",
        "fields": [
            {"left": "email", "right": "email", "direction": "left_to_right"},
            {"left": ["first_name", "last_name"], "right": "name", "transform": "join_name",
             "direction": "left_to_right"},
            {"left": "phone", "right": "phone", "direction": "left_to_right"},
        ],
        **more,
    }
    (directory / "integrations.d").mkdir(parents=True)
    (directory / "syncd.yaml").write_text(yaml.safe_dump({"state": {"path": "state/syncd.db"}}), encoding="utf-8")
    (directory / "integrations.d" / "crm-to-drift.yaml").write_text(yaml.safe_dump(integration, sort_keys=False),
                                                                     encoding="utf-8")
    return directory


def syncd(config: Path, drift: FakeDrift, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    env.update(SAMPLE_TOKEN=SAMPLE_TOKEN, DRIFT_TOKEN=drift.token)
    return subprocess.run([sys.executable, "-m", "syncd", *args, "-c", str(config)],
                          capture_output=True, text=True, env=env, timeout=120)


def once(config: Path, drift: FakeDrift) -> dict[str, Any]:
    result = syncd(config, drift, "once", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert drift.token not in result.stdout + result.stderr and SAMPLE_TOKEN not in result.stdout + result.stderr
    [summary] = json.loads(result.stdout)
    return summary


def calls(drift: FakeDrift) -> list[tuple[str, str]]:
    with drift.lock:
        return [(r.method, r.path if r.path.count("/") == 1 else "/contacts/{id}") for r in drift.requests]


def test_a_one_way_sync_into_drift_creates_then_updates_without_duplicates(
        sample_app: Any, vendor_fake: Any, tmp_path: Path) -> None:
    source = sample_app(n=30, auth=AuthMode.BEARER, token=SAMPLE_TOKEN, seed=7)
    drift = vendor_fake(FakeDrift, None)
    people = sorted(source.store.all(), key=lambda c: c["email"].lower())
    # Drift knows one of them already (a visitor who chatted): taken over, not created again.
    known = people[0]["email"].lower()
    drift._add({"email": known, "name": "Chat Visitor"}, 1_700_000_000_000)
    config = write_config(tmp_path / "config", source, drift)

    first = once(config, drift)

    assert first["aborted"] is None and first["errors"] == 0
    assert first["created"] == {"left": 0, "right": 29} and first["updated"]["right"] == 1
    held = drift.by_email()
    assert sorted(held) == sorted(p["email"].lower() for p in people)  # each once: nothing duplicated
    for p in people:
        contact = held[p["email"].lower()]["attributes"]
        assert contact["name"] == f"{p['first_name']} {p['last_name']}".strip()
    # Never a page of Drift: one lookup by email per contact, then the writes.
    assert calls(drift).count(("GET", "/contacts")) == 30
    assert calls(drift).count(("POST", "/contacts")) == 29
    assert calls(drift).count(("PATCH", "/contacts/{id}")) == 1
    ids = {email: c["id"] for email, c in held.items()}

    # Later: two people change in the CRM and one joins it.
    drift.requests.clear()
    source.store.update(people[3]["id"], first_name="Renamed")
    source.store.update(people[0]["id"], last_name="Married")
    newcomer = source.store.create({"email": "newcomer@example.com", "first_name": "New", "last_name": "Comer"})

    second = once(config, drift)

    assert second["errors"] == 0
    assert second["created"]["right"] == 1 and second["updated"]["right"] == 2
    held = drift.by_email()
    assert len(held) == 31 and {e: c["id"] for e, c in held.items() if e in ids} == ids  # same contacts
    assert held[people[3]["email"].lower()]["attributes"]["name"] == f"Renamed {people[3]['last_name']}"
    assert held[known]["attributes"]["name"] == f"{people[0]['first_name']} Married"
    assert held[newcomer["email"]]["attributes"]["name"] == "New Comer"
    # Linked contacts are updated by id; only the newcomer is looked up.
    assert sorted(calls(drift)) == [("GET", "/contacts"), ("PATCH", "/contacts/{id}"), ("PATCH", "/contacts/{id}"),
                                    ("POST", "/contacts")]

    drift.requests.clear()
    quiet = once(config, drift)
    assert quiet["created"] == quiet["updated"] == {"left": 0, "right": 0} and calls(drift) == []


def test_validate_refuses_reading_from_drift(sample_app: Any, vendor_fake: Any, tmp_path: Path) -> None:
    source = sample_app(n=1, auth=AuthMode.BEARER, token=SAMPLE_TOKEN, seed=7)
    drift = vendor_fake(FakeDrift, None)
    config = write_config(tmp_path / "config", source, drift, create="both")

    result = syncd(config, drift, "validate")

    assert result.returncode == 1  # syncd validate: the config has problems
    file = config / "integrations.d" / "crm-to-drift.yaml"
    lines = file.read_text(encoding="utf-8").splitlines()
    [problem] = result.stdout.splitlines()
    where, message = problem.split(": error: ")
    line = int(where.split(":")[-2])
    assert where.startswith(str(file)) and lines[line - 1].startswith("create:")
    assert message == ("create: both creates records from drift.contacts; drift.contacts has no list operation, "
                       "so syncd cannot read it: it can only be written to, one way from the left side: use "
                       "create: left_to_right (or none) (create)")
    assert drift.requests == []
