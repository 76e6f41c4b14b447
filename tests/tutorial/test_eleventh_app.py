"""Issue 13's eleventh app: a spec written from the tutorial alone works unedited.

``eleventh.yaml`` was written clean-room: by an agent that read only
docs/writing-a-connector.md (and the docs pages it links) and the Rookery
reference page (rookery-api.md), never this file, the fake (fake_rookery.py)
or the shipped specs, for an API shaped unlike the shipped specs and the
sample app. It passed these tests as written, after one assertion here was
found to hold a spec to the exact set of fields the tutorial's own example
reads (it now checks the fields a sync maps, whatever else a spec reads). Here it is copied as it
is into a config directory and put through what the tutorial has a user
do: ``syncd validate``, ``syncd check``, ``syncd once --dry-run``, then
``syncd once`` both ways with the sample app, every command a real process.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml
from fake_rookery import FakeRookery
from tutorial_support import syncd

from syncd.config import header_comment, load_connector_file, render_connector_page
from syncd.sampleapp import AuthMode, SampleApp

HERE = Path(__file__).resolve().parent
API_KEY = "rk_live_0123456789"
SAMPLE_TOKEN = "sample-token-eleven"
ENV = {"ROOKERY_API_KEY": API_KEY, "SAMPLEAPP_TOKEN": SAMPLE_TOKEN}
WORKSPACE = "acme-club"


def _config(tmp_path: Path, integration: dict[str, Any] | None = None) -> Path:
    """A config directory holding the eleventh spec, copied unedited, and an integration."""
    config = tmp_path / "config"
    (config / "connectors.d").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(HERE / "eleventh.yaml", config / "connectors.d" / "rookery.yaml")
    if integration is not None:
        (config / "integrations.d").mkdir(exist_ok=True)
        (config / "integrations.d" / f"{integration['integration']}.yaml").write_text(yaml.safe_dump(integration))
    return config


def _integration(rookery: FakeRookery, app: SampleApp) -> dict[str, Any]:
    return {
        "integration": "rookery-sample",
        "left": {"connector": "rookery", "object": "members",
                 "settings": {"workspace": WORKSPACE, "api_key": "${env:ROOKERY_API_KEY}",
                              "base_url": rookery.base_url}},
        "right": {"connector": "sampleapp", "object": "contacts",
                  "settings": {"url": app.url, "token": "${env:SAMPLEAPP_TOKEN}"}},
        "match": {"left": "email", "right": "email"},
        "create": "both",
        "conflict": "newest_wins",
        "fields": [{"left": f, "right": f} for f in ("email", "first_name", "last_name", "phone", "tags")],
    }


def _settings(rookery: FakeRookery) -> list[str]:
    return ["--settings", f"workspace={WORKSPACE}", "--settings", "api_key=${env:ROOKERY_API_KEY}",
            "--settings", f"base_url={rookery.base_url}"]


def _clean(result: Any) -> str:
    out: str = result.stdout + result.stderr
    assert API_KEY not in out and SAMPLE_TOKEN not in out
    return out


def test_the_spec_is_used_unedited_and_its_host_is_the_workspace_s() -> None:
    spec = load_connector_file(HERE / "eleventh.yaml")
    assert spec.name == "rookery" and list(spec.objects) == ["members"]
    # without a base_url setting, the workspace's own host (rookery-api.md)
    assert spec.base_url.render_text({"settings": {"workspace": WORKSPACE, "base_url": None}}) \
        == "https://acme-club.rookery.example/api/v1"
    # and it documents itself as a shipped spec would (docs/connectors/)
    header = header_comment((HERE / "eleventh.yaml").read_text())
    page = render_connector_page(spec, "connectors.d/rookery.yaml", header)
    assert "page number in `page` from 1" in page and "tests/tutorial/rookery-api.md" in page
    assert "| `first_name` | `person.given` | string | read and write |  |" in page


def test_syncd_check_reads_every_page_and_waits_out_a_429(tmp_path: Path, fake_api: Callable[..., Any]) -> None:
    rookery: FakeRookery = fake_api(FakeRookery, workspace=WORKSPACE, api_key=API_KEY, members=200)
    config = _config(tmp_path)
    result = syncd("validate", "-c", str(config), cwd=tmp_path, env=ENV)
    assert result.returncode == 0, _clean(result)
    rookery.throttled = 1  # a 429 with Retry-After: 1 on the first request
    result = syncd("check", str(config / "connectors.d" / "rookery.yaml"), *_settings(rookery), "--all-pages",
                   "--format", "json", cwd=tmp_path, env=ENV)
    assert result.returncode == 0, _clean(result)
    assert rookery.throttled_seen == 1
    [side] = json.loads(result.stdout)
    # 200 members in 2 pages of 100, then an empty page 3 (has_more was false), the 429 retried once
    assert (side["ok"], side["records"], side["pages"], side["more_pages"], side["retries"]) == (True, 200, 3, False, 1)
    pages = [r.arg("page") for r in rookery.requests if r.method == "GET"]
    assert pages == ["1", "1", "2", "3"]  # the throttled first request, then pages 1 to 3
    assert all(r.arg("per_page") == "100" for r in rookery.requests)
    # the first record as fields, from the nested name, the list of emails, epoch milliseconds
    result = syncd("check", str(config / "connectors.d" / "rookery.yaml"), *_settings(rookery), "--records", "2",
                   cwd=tmp_path, env=ENV)
    out = _clean(result)
    assert result.returncode == 0, out
    first = rookery.records["1001"]
    # the fields a sync maps, whatever else the spec reads (a spec may well read created_ms too)
    [line] = [ln for ln in out.splitlines() if "id=1001 " in ln]
    shown = dict(part.split("=", 1) for part in line.strip().lstrip("- ").split("  ") if "=" in part)
    assert {k: shown.get(k) for k in ("id", "email", "first_name", "last_name", "phone", "tags")} == {
        "id": "1001", "email": "member0@rookery.example", "first_name": "Member0", "last_name": "Rook",
        "phone": "+442079460000", "tags": "[]"}
    assert shown.get("updated_at")
    assert "tags=[founding]" in out
    assert first["emails"][1] not in out  # the primary address only


def test_an_expired_key_is_reported_with_rookery_s_message(tmp_path: Path, fake_api: Callable[..., Any]) -> None:
    rookery: FakeRookery = fake_api(FakeRookery, workspace=WORKSPACE, api_key=API_KEY, members=2)
    rookery.expired = True
    config = _config(tmp_path)
    result = syncd("check", str(config / "connectors.d" / "rookery.yaml"), *_settings(rookery),
                   cwd=tmp_path, env=ENV)
    out = _clean(result)
    assert result.returncode == 1
    assert "rookery.members.list: GET " in out and "answered HTTP 401" in out
    assert "key_expired" in out and "This API key has expired." in out


def test_syncd_once_syncs_rookery_and_the_sample_app_both_ways(
        tmp_path: Path, fake_api: Callable[..., Any], sample_app: Callable[..., SampleApp]) -> None:
    rookery: FakeRookery = fake_api(FakeRookery, workspace=WORKSPACE, api_key=API_KEY, members=104)
    app = sample_app(n=6, auth=AuthMode.BEARER, token=SAMPLE_TOKEN, seed=11)
    config = _config(tmp_path, _integration(rookery, app))
    for command in (("validate",), ("check", "rookery-sample")):
        result = syncd(*command, "-c", str(config), cwd=tmp_path, env=ENV)
        assert result.returncode == 0, _clean(result)

    result = syncd("once", "-c", str(config), "--dry-run", cwd=tmp_path, env=ENV)
    out = _clean(result)
    assert result.returncode == 0, out
    assert "created 6 left, 104 right" in out
    assert "would create right (new) from 1001: email=member0@rookery.example, first_name=Member0" in out
    assert {r.method for r in rookery.requests} == {"GET"}
    assert all(r.method == "GET" for r in app.requests.all())

    result = syncd("once", "-c", str(config), "--json", cwd=tmp_path, env=ENV)
    assert result.returncode == 0, _clean(result)
    [summary] = json.loads(result.stdout)
    assert summary["created"] == {"left": 6, "right": 104}, summary
    # Sample app → Rookery: names nested under person, the email as the only address
    for contact in app.store.all()[:6]:
        if not contact["email"]:
            continue
        member = rookery.by_email(contact["email"])
        assert member["emails"] == [contact["email"].lower()]
        assert member["person"] == {"given": contact["first_name"], "family": contact["last_name"]}
        assert member["tags"] == sorted(set(contact["tags"]))
        assert isinstance(member["id"], int)
    # Rookery → sample app: the primary address, the nested names
    copied = app.store.find_by_email("member3@rookery.example")
    assert copied is not None and (copied["first_name"], copied["last_name"]) == ("Member3", "Rook")
    assert copied["tags"] == ["founding"]
    assert len(app.store.all()) == 110 and len(rookery.records) == 110

    # Nothing more to do; then an edit on each side goes across
    result = syncd("once", "-c", str(config), "--json", cwd=tmp_path, env=ENV)
    [summary] = json.loads(result.stdout)
    assert summary["created"] == summary["updated"] == {"left": 0, "right": 0}, summary
    member = rookery.edit(1002, person={"family": "Rookwood"}, tags=["founding", "volunteer"])
    contact = app.store.all()[0]
    app.store.update(contact["id"], first_name="Renamed")
    result = syncd("once", "-c", str(config), "--json", cwd=tmp_path, env=ENV)
    assert result.returncode == 0, _clean(result)
    [summary] = json.loads(result.stdout)
    assert summary["updated"] == {"left": 1, "right": 1}, summary
    moved = app.store.find_by_email(member["emails"][0])
    assert moved is not None and moved["last_name"] == "Rookwood" and sorted(moved["tags"]) == ["founding",
                                                                                                 "volunteer"]
    renamed = rookery.by_email(contact["email"])
    assert renamed["person"] == {"given": "Renamed", "family": contact["last_name"]}
    assert renamed["emails"] == [contact["email"].lower()]  # a PATCH of the name leaves the emails alone


def test_the_reference_page_is_what_the_fake_serves(fake_api: Callable[..., Any]) -> None:
    """rookery-api.md is the eleventh app's published contract: its examples
    are the fake's answers."""
    page = (HERE / "rookery-api.md").read_text()
    examples = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", page, re.S)]
    rookery: FakeRookery = fake_api(FakeRookery, workspace=WORKSPACE, api_key=API_KEY, members=1)
    member = next(e for e in examples if "person" in e)
    assert member.keys() == rookery.records["1001"].keys()
    auth = {"Authorization": "Basic " + base64.b64encode(f"{WORKSPACE}:{API_KEY}".encode()).decode()}
    url = rookery.base_url + "/members"
    with httpx.Client() as client:
        assert client.get(url).json() in examples  # no credentials
        rookery.throttled = 1
        throttled = client.get(url, headers=auth)
        assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
        assert throttled.json() in examples
        rookery.expired = True
        assert client.get(url, headers=auth).json() in examples
