"""A fake Brevo REST API v3 (contacts), strict about what it accepts.

Brevo publishes no OpenAPI description in the stored data, so this fake is
built from the reference pages (cited in connectors.d/brevo.yaml):

- https://developers.brevo.com/docs/how-it-works: base URL .../v3, the key in
  the ``api-key`` header; errors are ``{"code", "message"}``, a missing or
  wrong key 401 ``{"code": "unauthorized", "message": "Key not found"}``.
- https://developers.brevo.com/reference/get-contacts: GET /contacts with
  ``limit`` (default 50, at most 1000), ``offset``, ``modifiedSince`` /
  ``createdSince`` (a date-time with its timezone), ``sort`` (asc|desc on
  creation, default desc), ``filter`` (``equals(ATTRIBUTE,"value")``);
  answer ``{"contacts": [...], "count": N}`` (count of the filtered set).
- https://developers.brevo.com/reference/get-contact-info and
  https://developers.brevo.com/reference/update-contact: GET|PUT
  /contacts/{identifier} with ``identifierType`` (contact_id, email_id);
  PUT takes ``attributes``, ``emailBlacklisted``, ``smsBlacklisted``,
  ``listIds``, ``unlinkListIds``, ``ext_id`` (attributes present in the
  account only) and answers 204; 404
  ``{"code": "document_not_found", "message": "Contact does not exist"}``.
- https://developers.brevo.com/reference/create-contact: POST /contacts with
  ``email``, ``ext_id``, ``attributes``, ``emailBlacklisted``,
  ``smsBlacklisted``, ``listIds``, ``updateEnabled`` (default false),
  ``smtpBlacklistSender``; answers 201 ``{"id": N}`` only; an email that a
  contact already has is refused (400) unless ``updateEnabled``.
- https://developers.brevo.com/docs/limit-headers: x-sib-ratelimit-limit,
  -remaining and -reset (seconds from now) on every authenticated answer.

A contact: ``{email, id, emailBlacklisted, smsBlacklisted, createdAt,
modifiedAt, listIds, attributes: {FIRSTNAME, LASTNAME, SMS}}``, dates as
Brevo writes them (milliseconds, +01:00 offset).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from fakes import FakeApi, Reply, Request

PARIS = timezone(timedelta(hours=1))  # Brevo answers in the account's timezone
BASE = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
LIST_PARAMS = frozenset({"limit", "offset", "modifiedSince", "createdSince", "sort", "filter",
                         "segmentId", "listIds", "ids"})
ONE_PARAMS = frozenset({"identifierType", "startDate", "endDate"})
UPDATE_KEYS = frozenset({"attributes", "emailBlacklisted", "smsBlacklisted", "listIds", "unlinkListIds", "ext_id"})
CREATE_KEYS = frozenset({"email", "ext_id", "attributes", "emailBlacklisted", "smsBlacklisted", "listIds",
                         "updateEnabled", "smtpBlacklistSender"})
HOUR_LIMIT = 36000
# The account's attributes: an update may set only attributes present in the account.
ATTRIBUTES = frozenset({"EMAIL", "FIRSTNAME", "LASTNAME", "SMS"})


def error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"code": code, "message": message})


def stamp(when: datetime) -> str:
    return when.astimezone(PARIS).isoformat(timespec="milliseconds")


def parse_date(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else None  # Brevo asks for the timezone


class FakeBrevo(FakeApi):
    def __init__(self, contacts: int = 200, api_key: str = "xkeysib-0123456789abcdef-AbCdEfGh") -> None:
        super().__init__()
        self.api_key = api_key
        self.contacts: dict[int, dict[str, Any]] = {}  # by id, in creation order
        self.clock = BASE
        self.used = 0
        for i in range(contacts):
            self._add(f"person.{i:04d}@example.com", {"FIRSTNAME": f"Person{i}", "LASTNAME": "Example",
                                                      "SMS": f"+3361234{i:04d}"}, BASE + timedelta(minutes=i))

    @property
    def url(self) -> str:
        return self.origin + "/v3"

    def _add(self, email: str, attributes: dict[str, Any], when: datetime) -> dict[str, Any]:
        cid = len(self.contacts) + 1
        self.contacts[cid] = {"email": email, "id": cid, "emailBlacklisted": False, "smsBlacklisted": False,
                              "createdAt": stamp(when), "modifiedAt": stamp(when), "listIds": [2],
                              "attributes": dict(attributes)}
        return self.contacts[cid]

    def modify(self, cid: int, **attributes: Any) -> None:
        """Change a contact as a Brevo user would: its modifiedAt moves on."""
        with self.lock:
            self.clock = max(datetime.now(UTC), self.clock + timedelta(seconds=1))
            self.contacts[cid]["attributes"].update(attributes)
            self.contacts[cid]["modifiedAt"] = stamp(self.clock)

    def handle(self, request: Request) -> Reply:
        if request.headers.get("api-key") != self.api_key:
            return error(401, "unauthorized", "Key not found")
        with self.lock:
            self.used += 1
            reply = self._route(request)
            reply.headers.update({"x-sib-ratelimit-limit": str(HOUR_LIMIT),
                                  "x-sib-ratelimit-remaining": str(HOUR_LIMIT - self.used),
                                  "x-sib-ratelimit-reset": str(3600 - int(time.time()) % 3600)})
        return reply

    def _route(self, request: Request) -> Reply:
        if (request.method, request.path) == ("GET", "/v3/contacts"):
            return self.list(request)
        if (request.method, request.path) == ("POST", "/v3/contacts"):
            return self.create(request.body)
        m = re.fullmatch(r"/v3/contacts/([^/]+)", request.path)
        if m is None:
            return error(404, "not_found", "Invalid route")
        unknown = sorted(set(request.query) - ONE_PARAMS)
        if unknown:
            return error(400, "invalid_parameter", f"Unknown parameters: {', '.join(unknown)}")
        record = self._one(m.group(1), request.arg("identifierType"))
        if isinstance(record, Reply):
            return record
        if request.method == "GET":
            return Reply(200, record)
        if request.method == "PUT":
            return self.update(record, request.body)
        return error(405, "method_not_allowed", f"{request.method} is not allowed here")

    def _one(self, identifier: str, kind: str | None) -> dict[str, Any] | Reply:
        if kind == "contact_id" or (kind is None and identifier.isdigit()):
            record = self.contacts.get(int(identifier)) if identifier.isdigit() else None
        elif kind == "email_id" or (kind is None and "@" in identifier):
            record = next((r for r in self.contacts.values() if r["email"] == identifier.lower()), None)
        else:
            return error(400, "invalid_parameter", f"identifierType {kind} is not one of contact_id, email_id")
        return record if record is not None else error(404, "document_not_found", "Contact does not exist")

    def list(self, request: Request) -> Reply:
        unknown = sorted(set(request.query) - LIST_PARAMS)
        if unknown:
            return error(400, "invalid_parameter", f"Unknown parameters: {', '.join(unknown)}")
        limit, offset = int(request.arg("limit", "50") or 50), int(request.arg("offset", "0") or 0)
        if not 1 <= limit <= 1000:
            return error(400, "out_of_range", "limit should be between 1 and 1000")
        rows = list(self.contacts.values())
        if request.arg("sort", "desc") == "desc":
            rows.reverse()
        since_text = request.arg("modifiedSince")
        if since_text is not None:
            since = parse_date(since_text)
            if since is None:
                return error(400, "invalid_parameter", "modifiedSince must be a date-time with its timezone")
            rows = [r for r in rows if datetime.fromisoformat(r["modifiedAt"]) > since]
        wanted = request.arg("filter")
        if wanted is not None:
            m = re.fullmatch(r'equals\(([A-Z_0-9]+),"(.*)"\)', wanted)
            if m is None:
                return error(400, "invalid_parameter", "filter must be equals(ATTRIBUTE,\"value\")")
            name, value = m.groups()
            rows = [r for r in rows if str(r["email"] if name == "EMAIL" else r["attributes"].get(name)) == value]
        return Reply(200, {"contacts": rows[offset:offset + limit], "count": len(rows)})

    def update(self, record: dict[str, Any], body: Any) -> Reply:
        if not isinstance(body, dict):
            return error(400, "invalid_parameter", "The body must be a JSON object")
        unknown = sorted(set(body) - UPDATE_KEYS)
        if unknown:
            return error(400, "invalid_parameter", f"Unknown parameters: {', '.join(unknown)}")
        attributes = dict(body.get("attributes") or {})
        missing = sorted(set(attributes) - ATTRIBUTES)
        if missing:
            return error(400, "invalid_parameter", f"Attributes not in the account: {', '.join(missing)}")
        email = attributes.pop("EMAIL", None)
        if email is not None:
            record["email"] = str(email).lower()
        record["attributes"].update(attributes)
        for key in ("emailBlacklisted", "smsBlacklisted"):
            if key in body:
                record[key] = bool(body[key])
        self.clock = max(datetime.now(UTC), self.clock + timedelta(seconds=1))
        record["modifiedAt"] = stamp(self.clock)
        return Reply(204)

    def create(self, body: Any) -> Reply:
        if not isinstance(body, dict):
            return error(400, "invalid_parameter", "The body must be a JSON object")
        unknown = sorted(set(body) - CREATE_KEYS)
        if unknown:
            return error(400, "invalid_parameter", f"Unknown parameters: {', '.join(unknown)}")
        attributes = dict(body.get("attributes") or {})
        missing = sorted(set(attributes) - ATTRIBUTES)
        if missing:
            return error(400, "invalid_parameter", f"Attributes not in the account: {', '.join(missing)}")
        email = str(body.get("email") or attributes.get("EMAIL") or "").lower()
        if "EMAIL" in attributes and str(attributes.pop("EMAIL")).lower() != email:
            return error(400, "invalid_parameter", "email and attributes.EMAIL differ")
        if not email and not attributes.get("SMS") and not body.get("ext_id"):
            return error(400, "missing_parameter", "email, SMS or ext_id is required")
        existing = next((r for r in self.contacts.values() if email and r["email"] == email), None)
        if existing is not None:
            if not body.get("updateEnabled"):
                return error(400, "duplicate_parameter", "Contact already exist")
            return self.update(existing, {k: v for k, v in body.items() if k in UPDATE_KEYS})  # 204
        self.clock = max(datetime.now(UTC), self.clock + timedelta(seconds=1))
        record = self._add(email, attributes, self.clock)
        for key in ("emailBlacklisted", "smsBlacklisted"):
            if key in body:
                record[key] = bool(body[key])
        return Reply(201, {"id": record["id"]})
