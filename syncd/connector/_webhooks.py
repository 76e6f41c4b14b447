"""A webhook call, as a connector spec's ``webhooks:`` says to read it.

Two steps, both pure (no I/O), so the daemon's listener and the tests use
the same code:

- :func:`verify_webhook`: the signature (an HMAC of the raw body, or of
  the spec's ``signed`` string of timestamp and body, with the secret
  setting), compared in constant time (:func:`hmac.compare_digest`), then
  the timestamp against the replay window. Only a signed timestamp is
  trusted, so the signature is checked first.
- :func:`read_events`: the records the call names, each with what
  happened to it and, where the spec says the body carries it, the record.

Each refusal is a :class:`WebhookRejected` with the HTTP status to answer
and an ``outcome`` for the metrics; its message never holds the body or
the secret. :func:`sign_webhook` makes a valid signature (the tests, the
benchmark).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from syncd._secret import reveal
from syncd.config import ConnectorSpec, WebhookKind, WebhookSpec, WebhookVerify
from syncd.connector._connector import resolve_settings
from syncd.expr import to_text

__all__ = ["WebhookEvent", "WebhookRejected", "read_events", "sign_webhook", "verify_webhook", "webhook_secret"]

Outcome = Literal["bad_signature", "stale", "malformed"]
_DIGESTS = {"hmac-sha256": hashlib.sha256, "hmac-sha1": hashlib.sha1}


class WebhookRejected(Exception):
    """A call refused: answer ``status``; ``outcome`` labels the metric."""

    def __init__(self, status: int, outcome: Outcome, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.outcome = outcome


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One record a call names: what happened to it, and the record itself
    when the spec's ``record:`` finds it in the event (None: read it)."""

    kind: WebhookKind
    record_id: str
    record: Any = None


def webhook_secret(spec: ConnectorSpec, settings: Mapping[str, Any]) -> str | None:
    """The key a side's webhooks are signed with (its settings as the
    integration gives them), or None when the setting is not given."""
    if spec.webhooks is None:
        return None
    value = reveal(spec.webhooks.verify.secret.render({"settings": resolve_settings(spec, settings)}))
    return to_text(value) or None


def _signed_bytes(verify: WebhookVerify, body: bytes, timestamp: str | None) -> bytes:
    if verify.signed is None:
        return body
    # surrogateescape: a body that is not UTF-8 goes into the string and
    # back out as the same bytes the app signed.
    text = verify.signed.render_text({"timestamp": timestamp or "", "body": body.decode("utf-8", "surrogateescape")})
    return text.encode("utf-8", "surrogateescape")


def _digest(verify: WebhookVerify, secret: str, body: bytes, timestamp: str | None) -> bytes:
    return hmac.new(secret.encode(), _signed_bytes(verify, body, timestamp), _DIGESTS[verify.algorithm]).digest()


def sign_webhook(verify: WebhookVerify, secret: str, body: bytes, timestamp: str | None = None) -> str:
    """The signature header's value for *body*, as the app would send it."""
    digest = _digest(verify, secret, body, timestamp)
    encoded = digest.hex() if verify.encoding == "hex" else base64.b64encode(digest).decode()
    return verify.prefix + encoded


def verify_webhook(verify: WebhookVerify, secret: str, headers: Mapping[str, str], body: bytes,
                   now: float) -> None:
    """Nothing, or :class:`WebhookRejected` (401). *headers* must look
    names up case-insensitively (Starlette's and httpx's do)."""
    given = headers.get(verify.header)
    if not given:
        raise WebhookRejected(401, "bad_signature", f"no signature: the {verify.header} header is missing")
    timestamp = None
    if verify.timestamp_header is not None:
        timestamp = headers.get(verify.timestamp_header)
        if not timestamp:
            raise WebhookRejected(401, "bad_signature",
                                  f"no timestamp: the {verify.timestamp_header} header is missing")
    given = given.strip()
    if verify.prefix:
        if not given.startswith(verify.prefix):
            raise WebhookRejected(401, "bad_signature", f"the signature does not start with {verify.prefix!r}")
        given = given[len(verify.prefix):]
    try:
        sent = bytes.fromhex(given) if verify.encoding == "hex" else base64.b64decode(given, validate=True)
    except (ValueError, binascii.Error):
        raise WebhookRejected(401, "bad_signature", f"the signature is not {verify.encoding}") from None
    if not hmac.compare_digest(_digest(verify, secret, body, timestamp), sent):
        raise WebhookRejected(401, "bad_signature", "the signature does not match")
    if timestamp is not None:
        try:
            sent_at = float(timestamp)
        except ValueError:
            raise WebhookRejected(401, "stale", "the timestamp is not a number of seconds") from None
        if abs(now - sent_at) > verify.tolerance_seconds:
            raise WebhookRejected(401, "stale", f"stale: the call was signed {now - sent_at:.0f} s from now, "
                                  f"more than the {verify.tolerance_seconds:g} s allowed (a replay?)")


def read_events(spec: WebhookSpec, body: bytes) -> list[WebhookEvent]:
    """The records a verified call names, or :class:`WebhookRejected` (400)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise WebhookRejected(400, "malformed", "the body is not JSON") from None
    if spec.events is None:
        events = [data]
    else:
        events = spec.events.search(data)
        if not isinstance(events, list):
            raise WebhookRejected(400, "malformed", f"events: {spec.events.source!r} found no list in the body")
    out: list[WebhookEvent] = []
    for event in events:
        kind: WebhookKind | None = "updated"
        if spec.kind is not None:
            value = spec.kind.search(event)
            kind = spec.kinds.get(to_text(value)) if spec.kinds else "updated"
        ids = spec.id.search(event)
        ids = ids if isinstance(ids, list) else [ids]
        if not ids or any(i is None or isinstance(i, (dict, list, bool)) or to_text(i) == "" for i in ids):
            raise WebhookRejected(400, "malformed", f"id: {spec.id.source!r} found no record id in an event")
        if kind is None:
            continue  # a kind the spec does not list: acknowledged, nothing to do
        record = spec.record.search(event) if spec.record is not None and kind != "deleted" else None
        for record_id in ids:
            # A full record only goes with the one id it is the record of.
            out.append(WebhookEvent(kind, to_text(record_id), record if len(ids) == 1 else None))
    return out
