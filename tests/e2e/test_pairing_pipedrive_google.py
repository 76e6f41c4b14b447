"""Pipedrive persons paired with Google Contacts by the real ``syncd once``.

Both apps are the strict fakes of the contract tests (tests/contracts/),
served over real HTTP on 127.0.0.1, each exchange with Google judged by its
discovery document; the shipped specs are used as they are, but for
Google's one-request-a-second rate limit, raised in the config's
connectors.d so that the test does not wait on it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_support import REPO

sys.path[:0] = [str(REPO / "tests" / "contracts"), str(REPO / "tests" / "connector_specs")]
from discovery_contract import DiscoveryContract  # noqa: E402
from fake_google_contacts import FakeGoogleContacts  # noqa: E402
from fake_pipedrive import FakePipedrive  # noqa: E402


@pytest.fixture
def apps() -> Iterator[tuple[FakePipedrive, FakeGoogleContacts]]:
    pipedrive = FakePipedrive(persons=4)
    google = FakeGoogleContacts()
    google.contract = contract = DiscoveryContract("people-v1-discovery.json")
    google.add({"names": [{"givenName": "Shared", "familyName": "Before"}],
                "emailAddresses": [{"value": "person.0001@example.com"}]})
    google.add({"names": [{"givenName": "Grace", "familyName": "Hopper"}],
                "emailAddresses": [{"value": "grace@example.com"}],
                "phoneNumbers": [{"value": "+1 202 555 0100"}]})
    with pipedrive, google:
        yield pipedrive, google
    assert not pipedrive.server_errors and not google.server_errors
    assert contract.violations == [], "\n".join(contract.violations)


def configure(directory: Path, pipedrive: FakePipedrive, google: FakeGoogleContacts) -> dict[str, str]:
    (directory / "integrations.d").mkdir(parents=True)
    (directory / "connectors.d").mkdir()
    (directory / "syncd.yaml").write_text("state: {path: state/syncd.db}\n")
    spec = yaml.safe_load((REPO / "connectors.d" / "google-contacts.yaml").read_text())
    spec["rate_limit"] = {"requests_per_second": 100, "max_concurrency": 1}
    (directory / "connectors.d" / "google-contacts.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    (directory / "integrations.d" / "crm-to-google.yaml").write_text(f"""\
integration: crm-to-google
left:
  connector: pipedrive
  object: persons
  settings: {{api_token: "${{env:PIPEDRIVE_TOKEN}}", base_url: "{pipedrive.url}"}}
right:
  connector: google-contacts
  object: contacts
  settings:
    base_url: "{google.url}"
    token_url: "{google.token_url}"
    client_id: "${{env:GOOGLE_CLIENT_ID}}"
    client_secret: "${{env:GOOGLE_CLIENT_SECRET}}"
    refresh_token: "${{env:GOOGLE_REFRESH_TOKEN}}"
match: {{left: email, right: email}}
fields:
  - {{left: email, right: email}}
  - {{left: phone, right: phone}}
  - {{left: first_name, right: first_name, direction: left_to_right}}
  - {{left: last_name, right: last_name, direction: left_to_right}}
""")
    return {"PIPEDRIVE_TOKEN": pipedrive.token, "GOOGLE_CLIENT_ID": google.client_id,
            "GOOGLE_CLIENT_SECRET": google.client_secret, "GOOGLE_REFRESH_TOKEN": google.refresh_token}


def once(directory: Path, secrets: dict[str, str]) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    result = subprocess.run([sys.executable, "-m", "syncd", "once", "--json", "-c", str(directory)],
                            capture_output=True, text=True, env={**env, **secrets}, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    for secret in secrets.values():
        assert secret not in result.stdout + result.stderr
    [summary] = json.loads(result.stdout)
    return summary


def google_emails(google: FakeGoogleContacts) -> list[str]:
    return sorted(p["emailAddresses"][0]["value"] for p in google.live())


def pipedrive_emails(pipedrive: FakePipedrive) -> list[str]:
    return sorted(e["value"] for p in pipedrive.persons.values() if not p["is_deleted"] for e in p["emails"])


def test_pipedrive_and_google_sync_both_ways_without_duplicates(
        apps: tuple[FakePipedrive, FakeGoogleContacts], tmp_path: Path) -> None:
    pipedrive, google = apps
    secrets = configure(tmp_path, pipedrive, google)

    first = once(tmp_path, secrets)
    assert first["created"] == {"left": 1, "right": 3} and first["errors"] == 0
    everyone = [f"person.{i:04d}@example.com" for i in range(4)] + ["grace@example.com"]
    assert pipedrive_emails(pipedrive) == google_emails(google) == sorted(everyone)
    by_email = {p["emailAddresses"][0]["value"]: p for p in google.live()}
    shared = by_email["person.0001@example.com"]
    assert shared["names"][0]["givenName"] == "Person" and shared["names"][0]["familyName"] == "1"
    assert by_email["person.0003@example.com"]["phoneNumbers"][0]["value"] == "+15550100003"
    [grace] = [p for p in pipedrive.persons.values() if p["emails"][0]["value"] == "grace@example.com"]
    assert grace["phones"][0]["value"] == "+12025550100"

    # (Pipedrive's person 4 is person.0003, 3 is person.0002)
    pipedrive.modify(4, phones=[{"value": "+1 555 999 0003", "primary": True, "label": "mobile"}])
    google.edit(by_email["person.0002@example.com"]["resourceName"],
                phoneNumbers=[{"value": "+1 202 555 0199"}])
    second = once(tmp_path, secrets)
    assert second["updated"] == {"left": 1, "right": 1} and second["created"] == {"left": 0, "right": 0}
    by_email = {p["emailAddresses"][0]["value"]: p for p in google.live()}
    assert by_email["person.0003@example.com"]["phoneNumbers"][0]["value"] == "+15559990003"
    assert pipedrive.persons[3]["phones"][0]["value"] == "+12025550199"
    assert [p["value"] for p in pipedrive.persons[3]["emails"]] == ["person.0002@example.com"]
    assert google.ignored == []

    quiet = once(tmp_path, secrets)  # each write's echo is recognised: nothing goes back
    assert quiet["created"] == quiet["updated"] == {"left": 0, "right": 0}
    assert pipedrive_emails(pipedrive) == google_emails(google) == sorted(everyone)
    changes = [r for r in google.requests if r.path == "/v1/people/me/connections"]
    assert [r.arg("syncToken") is not None for r in changes] == [False, True, True]
