"""A fake Drift Contacts API, strict about what it accepts.

Drift publishes no OpenAPI description, so this fake is built from its
reference pages (cited in connectors.d/drift.yaml):

- https://devdocs.drift.com/docs/contact-model: a contact is ``{id,
  createdAt, attributes}``, ``id`` a number, ``createdAt`` epoch
  milliseconds, the data under ``attributes`` (``email``, ``name``,
  ``phone``, ``externalId``, ``tags``, ``events``, ``socialProfiles``,
  ``start_date``, Drift's ``_END_USER_VERSION`` counters).
- https://devdocs.drift.com/docs/retrieving-contact: ``GET /contacts/{id}``
  answers ``{"data": contact}``; ``GET /contacts`` takes ``email`` (and
  ``limit``), or ``idType=external`` with ``id``, and answers the matching
  contacts under ``data``. There is no listing of all contacts: a
  ``GET /contacts`` that names no email and no external id is refused here,
  so a spec that tried to list would fail.
- https://devdocs.drift.com/docs/creating-a-contact: ``POST /contacts``
  with ``{"attributes": {...}}``, ``email`` required, a second contact with
  an email already taken refused unless it carries a new ``externalId``;
  answers ``{"data": contact}``.
- https://devdocs.drift.com/docs/updating-a-contact: ``PATCH
  /contacts/{id}`` with ``{"attributes": {...}}``: only those attributes
  change (new ones become custom attributes); answers ``{"data": contact}``.
- https://devdocs.drift.com/docs/removing-a-contact: ``DELETE
  /contacts/{id}``.
- https://devdocs.drift.com/docs/authentication-and-scopes: the OAuth
  access token as ``Authorization: Bearer``.

The pages read give no status or body for a refused request beyond "an
error": the fake answers 401 (no token), 404 (no such contact), 409 (email
taken) and 400 (anything else it does not accept), each ``{"error":
{"type", "message"}}``; the tests rely on the statuses only.
"""

from __future__ import annotations

import re
import time
from typing import Any

from fakes import FakeApi, Reply, Request

START = 1_700_000_000_000  # createdAt of the first contact, epoch milliseconds
LOOKUP_PARAMS = frozenset({"email", "limit", "idType", "id"})
BODY_KEYS = frozenset({"attributes"})


def error(status: int, kind: str, message: str) -> Reply:
    return Reply(status, {"error": {"type": kind, "message": message}})


class FakeDrift(FakeApi):
    def __init__(self, contacts: int = 0, token: str = "drift-access-token-0123456789") -> None:
        super().__init__()
        self.token = token
        self.contacts: dict[int, dict[str, Any]] = {}
        self.next_id = 21_000_000_001
        for i in range(contacts):
            self._add({"email": f"drift.{i:04d}@example.com", "name": f"Drift Person{i}"}, START + i)

    @property
    def url(self) -> str:
        return self.origin

    def _add(self, attributes: dict[str, Any], created: int) -> dict[str, Any]:
        cid, self.next_id = self.next_id, self.next_id + 1
        self.contacts[cid] = {
            "id": cid, "createdAt": created,
            "attributes": {"_END_USER_VERSION": 1, "_end_user_version": 1, "_calculated_version": 1,
                           "socialProfiles": {}, "events": {}, "tags": [], "externalId": None,
                           "start_date": created, **attributes},
        }
        return self.contacts[cid]

    def by_email(self) -> dict[str, dict[str, Any]]:
        """The contacts by email (lower-cased), for assertions."""
        with self.lock:
            return {str(c["attributes"].get("email", "")).lower(): c for c in self.contacts.values()}

    def handle(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return error(401, "authentication_error", "Invalid or missing access token")
        with self.lock:
            return self._route(request)

    def _route(self, request: Request) -> Reply:
        if request.path == "/contacts":
            if request.method == "GET":
                return self.lookup(request)
            if request.method == "POST":
                return self.create(request.body)
            return error(405, "method_not_allowed", f"{request.method} /contacts")
        m = re.fullmatch(r"/contacts/([^/]+)", request.path)
        if m is None:
            return error(404, "not_found", f"no route {request.path}")
        if request.query:
            return error(400, "invalid_request", f"unexpected parameters: {', '.join(sorted(request.query))}")
        if not m.group(1).isdigit():
            return error(400, "invalid_request", "a contact id is a number")
        contact = self.contacts.get(int(m.group(1)))
        if contact is None:
            return error(404, "not_found", "Contact not found")
        if request.method == "GET":
            return Reply(200, {"data": contact})
        if request.method == "PATCH":
            return self.update(contact, request.body)
        if request.method == "DELETE":
            del self.contacts[contact["id"]]
            return Reply(200, {"result": "OK", "ok": True})
        return error(405, "method_not_allowed", f"{request.method} /contacts/{{id}}")

    def lookup(self, request: Request) -> Reply:
        unknown = sorted(set(request.query) - LOOKUP_PARAMS)
        if unknown:
            return error(400, "invalid_request", f"unexpected parameters: {', '.join(unknown)}")
        limit_text = request.arg("limit", "50") or "50"
        if not limit_text.isdigit() or int(limit_text) < 1:
            return error(400, "invalid_request", "limit is a positive number")
        email = request.arg("email")
        if request.arg("idType") == "external":
            wanted = set(request.query.get("id", []))
            rows = [c for c in self.contacts.values() if c["attributes"].get("externalId") in wanted]
        elif email:
            rows = [c for c in self.contacts.values()
                    if str(c["attributes"].get("email", "")).lower() == email.lower()]
        else:  # Drift cannot list its contacts
            return error(400, "invalid_request", "give email, or idType=external with id")
        return Reply(200, {"data": rows[:int(limit_text)]})

    def _attributes(self, body: Any) -> dict[str, Any] | Reply:
        if not isinstance(body, dict) or not isinstance(body.get("attributes"), dict):
            return error(400, "invalid_request", 'the body is {"attributes": {...}}')
        unknown = sorted(set(body) - BODY_KEYS)
        if unknown:
            return error(400, "invalid_request", f"unexpected keys: {', '.join(unknown)}")
        return dict(body["attributes"])

    def _taken(self, email: str, external_id: Any, but: int | None = None) -> bool:
        for c in self.contacts.values():
            if c["id"] == but or str(c["attributes"].get("email", "")).lower() != email.lower():
                continue
            if external_id is None or c["attributes"].get("externalId") == external_id:
                return True
        return False

    def create(self, body: Any) -> Reply:
        attributes = self._attributes(body)
        if isinstance(attributes, Reply):
            return attributes
        email = attributes.get("email")
        if not isinstance(email, str) or "@" not in email:
            return error(400, "invalid_request", "email is required")
        if self._taken(email, attributes.get("externalId")):
            return error(409, "conflict", "A contact with this email already exists")
        created = START + int(time.time() * 1000) % 1_000_000_000
        return Reply(200, {"data": self._add(attributes, created)})

    def update(self, contact: dict[str, Any], body: Any) -> Reply:
        attributes = self._attributes(body)
        if isinstance(attributes, Reply):
            return attributes
        email = attributes.get("email")
        if email is not None and self._taken(str(email), contact["attributes"].get("externalId"), contact["id"]):
            return error(409, "conflict", "A contact with this email already exists")
        contact["attributes"].update(attributes)
        for key in ("_END_USER_VERSION", "_end_user_version", "_calculated_version"):
            contact["attributes"][key] += 1
        return Reply(200, {"data": contact})
