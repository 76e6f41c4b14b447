"""Verifying and reading webhook calls as a spec's ``webhooks:`` declares them.

Signatures are computed here independently (hashlib/hmac by hand, as each
app documents them), not with syncd's own signer: a test that signs with
the code under test would pass for any symmetric mistake.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from syncd.config import WebhookSpec, build_connector
from syncd.connector import WebhookEvent, WebhookRejected, read_events, sign_webhook, verify_webhook

SECRET = "s3cret-key"
NOW = 1_800_000_000.0
BODY = b'{"type":"contact.updated","object_id":"42","data":{"id":"42","email":"a@example.com"}}'
REPO = Path(__file__).resolve().parents[2]


def spec(**webhooks: Any) -> WebhookSpec:
    doc = {
        "connector": "app", "title": "App", "base_url": "https://app.example",
        "settings": {"key": {"description": "The signing key", "secret": True}},
        "objects": {"contacts": {"fields": {"email": {"path": "email"}}, "list": {"path": "/contacts"}}},
        "webhooks": {"id": "object_id", **webhooks},
    }
    built, errors = build_connector(doc)
    assert not errors and built is not None and built.webhooks is not None, errors
    return built.webhooks


def verify(**v: Any) -> WebhookSpec:
    return spec(verify={"secret": "{{ settings.key }}", "header": "X-Signature", **v})


def check(s: WebhookSpec, headers: dict[str, str], body: bytes = BODY, now: float = NOW) -> None:
    verify_webhook(s.verify, SECRET, httpx.Headers(headers), body, now)


def rejected(s: WebhookSpec, headers: dict[str, str], body: bytes = BODY, now: float = NOW) -> WebhookRejected:
    with pytest.raises(WebhookRejected) as raised:
        check(s, headers, body, now)
    assert raised.value.status == 401
    assert SECRET not in str(raised.value) and "a@example.com" not in str(raised.value)
    return raised.value


def test_hex_sha256_of_the_raw_body() -> None:
    s = verify()
    good = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    check(s, {"X-Signature": good})
    check(s, {"x-signature": good.upper()})  # any case, of the header's name and of the hex
    assert rejected(s, {"X-Signature": good}, body=BODY + b" ").outcome == "bad_signature"
    assert rejected(s, {"X-Signature": "zz" + good[2:]}).outcome == "bad_signature"  # not hex
    assert "missing" in str(rejected(s, {}))


def test_base64_with_a_prefix() -> None:
    s = verify(encoding="base64", prefix="sha256=")
    digest = base64.b64encode(hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()).decode()
    check(s, {"X-Signature": f"sha256={digest}"})
    assert "does not start with" in str(rejected(s, {"X-Signature": digest}))
    assert rejected(s, {"X-Signature": "sha256=" + digest[:-4] + "AAAA"}).outcome == "bad_signature"


def test_sha1_for_apps_that_still_use_it() -> None:
    s = verify(algorithm="hmac-sha1", prefix="sha1=")
    check(s, {"X-Signature": "sha1=" + hmac.new(SECRET.encode(), BODY, hashlib.sha1).hexdigest()})
    sha256 = "sha1=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    rejected(s, {"X-Signature": sha256})


def test_a_signed_string_of_timestamp_and_body_within_the_window() -> None:
    s = verify(signed="v0:{{ timestamp }}:{{ body }}", timestamp={"header": "X-Timestamp", "tolerance_seconds": 60})

    def signed(at: str) -> dict[str, str]:
        digest = hmac.new(SECRET.encode(), f"v0:{at}:".encode() + BODY, hashlib.sha256).hexdigest()
        return {"X-Signature": digest, "X-Timestamp": at}

    check(s, signed(str(int(NOW) - 59)))
    check(s, signed(str(int(NOW) + 59)))
    stale = rejected(s, signed(str(int(NOW) - 3600)))
    assert stale.outcome == "stale" and "stale" in str(stale)
    # the timestamp is signed: changing it breaks the signature, not the window
    forged = {**signed(str(int(NOW) - 3600)), "X-Timestamp": str(int(NOW))}
    assert rejected(s, forged).outcome == "bad_signature"
    assert "X-Timestamp" in str(rejected(s, {"X-Signature": signed(str(int(NOW)))["X-Signature"]}))


def test_the_signer_and_the_verifier_agree_on_a_body_that_is_not_utf8() -> None:
    s = verify(signed="{{ timestamp }}.{{ body }}", timestamp={"header": "X-Timestamp"})
    body = b'{"object_id": "1", "x": "\xff\xfe"}'
    by_hand = hmac.new(SECRET.encode(), b"1800000000." + body, hashlib.sha256).hexdigest()
    assert sign_webhook(s.verify, SECRET, body, "1800000000") == by_hand
    check(s, {"X-Signature": by_hand, "X-Timestamp": "1800000000"}, body=body)


def test_the_sample_apps_own_signature_verifies_with_the_shipped_spec() -> None:
    from syncd.sampleapp._webhooks import sign

    doc = yaml.safe_load((REPO / "connectors.d" / "sampleapp.yaml").read_text())
    shipped, errors = build_connector(doc)
    assert not errors and shipped is not None and shipped.webhooks is not None
    at = str(int(NOW))
    verify_webhook(shipped.webhooks.verify, SECRET, httpx.Headers(
        {"X-Sampleapp-Signature": sign(SECRET, at, BODY), "X-Sampleapp-Timestamp": at}), BODY, NOW)


def test_events_ids_kinds_and_full_records() -> None:
    s = spec(verify={"secret": "{{ settings.key }}", "header": "X-S"}, events="events", id="ids", kind="type",
             kinds={"created": ["c"], "updated": ["u"], "deleted": ["d"]}, record="data")
    body = json.dumps({"events": [
        {"type": "c", "ids": "1", "data": {"id": "1"}},
        {"type": "u", "ids": [2, "3"], "data": {"id": "2"}},  # several ids: no one record goes with them
        {"type": "d", "ids": "4", "data": {"id": "4"}},  # deleted: read (a 404 says it is gone)
        {"type": "other", "ids": "5"},  # a kind not listed: acknowledged, ignored
    ]}).encode()
    assert read_events(s, body) == [
        WebhookEvent("created", "1", {"id": "1"}), WebhookEvent("updated", "2"), WebhookEvent("updated", "3"),
        WebhookEvent("deleted", "4")]


def test_without_kind_every_event_is_an_update_and_the_body_is_one_event() -> None:
    s = spec(verify={"secret": "{{ settings.key }}", "header": "X-S"})
    assert read_events(s, BODY) == [WebhookEvent("updated", "42")]


@pytest.mark.parametrize(("body", "reason"), [
    (b"{not json", "not JSON"),
    (b'{"type": "contact.updated"}', "found no record id"),
    (b'{"object_id": {"nested": 1}}', "found no record id"),
    (b'{"object_id": ""}', "found no record id"),
])
def test_a_malformed_body_is_a_400(body: bytes, reason: str) -> None:
    s = spec(verify={"secret": "{{ settings.key }}", "header": "X-S"})
    with pytest.raises(WebhookRejected) as raised:
        read_events(s, body)
    assert raised.value.status == 400 and raised.value.outcome == "malformed" and reason in str(raised.value)
