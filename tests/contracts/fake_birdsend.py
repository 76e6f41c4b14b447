"""A fake BirdSend REST API v1 (contacts), strict about what it accepts.

BirdSend publishes no OpenAPI description, so this fake is built from its
documentation pages and the calls its own WordPress plugin and published
integrations make (all cited in connectors.d/birdsend.yaml):

- https://developer.birdsend.co/api-documentation.html: base URL .../v1,
  JSON bodies, errors as HTTP status codes; a personal access token sent as a
  bearer token (a missing or wrong one: 401 ``{"message": "Unauthenticated."}``).
- https://developer.birdsend.co/api-reference.html: list endpoints take
  ``page``, ``per_page``, ``keyword``, ``search_by``, ``order_by``, ``sort``
  and answer ``{"data": [...], "meta": {current_page, last_page, per_page,
  total}}``; contacts are searched with ``search_by=email`` (or ``tag``) and a
  ``keyword``, which matches part of the value.
- A contact: ``{contact_id, email, fields: {first_name, last_name, phone},
  tags: [{tag_id, name}], created_at}``; POST /contacts takes ``email``,
  ``fields`` (keys of the account's fields) and ``tags`` (names) and answers
  201 with the contact; an email already used is 422 with Laravel's
  ``{"message", "errors": {"email": [...]}}``; PATCH /contacts/{id} takes
  ``email`` and ``fields``; DELETE answers 204; an unknown id is 404.

Anything else (an unknown parameter, body key or field; ``per_page`` over 100,
the most any cited caller asks for) is refused with 422, as BirdSend's
validation answers.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fakes import FakeApi, Reply, Request

BASE = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
LIST_PARAMS = frozenset({"page", "per_page", "keyword", "search_by", "order_by", "sort"})
SEARCH_BY = frozenset({"email", "tag"})
CREATE_KEYS = frozenset({"email", "fields", "tags"})
UPDATE_KEYS = frozenset({"email", "fields"})
FIELDS = frozenset({"first_name", "last_name", "phone"})  # the account's contact fields
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def invalid(key: str, message: str) -> Reply:
    return Reply(422, {"message": "The given data was invalid.", "errors": {key: [message]}})


class FakeBirdSend(FakeApi):
    def __init__(self, contacts: int = 120, token: str = "bs-pat-0123456789abcdefghij") -> None:
        super().__init__()
        self.token = token
        self.contacts: dict[int, dict[str, Any]] = {}  # by id, in creation order
        self.tag_ids: dict[str, int] = {}
        for i in range(contacts):
            self._add(f"reader.{i:04d}@example.com",
                      {"first_name": f"Reader{i}", "last_name": "Example", "phone": f"+4420700{i:05d}"},
                      ["newsletter"] if i % 2 == 0 else [], BASE + timedelta(minutes=i))

    @property
    def url(self) -> str:
        return self.origin + "/v1"

    def _tag(self, name: str) -> dict[str, Any]:
        tid = self.tag_ids.setdefault(name, len(self.tag_ids) + 1)
        return {"tag_id": tid, "name": name}

    def _add(self, email: str, fields: dict[str, Any], tags: list[str], when: datetime) -> dict[str, Any]:
        cid = max(self.contacts, default=1000) + 1
        self.contacts[cid] = {"contact_id": cid, "email": email,
                              "fields": {name: fields.get(name) for name in sorted(FIELDS)},
                              "tags": [self._tag(t) for t in tags],
                              "created_at": when.strftime("%Y-%m-%d %H:%M:%S")}
        return self.contacts[cid]

    def add(self, email: str, *tags: str, **fields: Any) -> dict[str, Any]:
        """A contact added as a BirdSend user would (a form, an import)."""
        with self.lock:
            return self._add(email.lower(), fields, list(tags), datetime.now(UTC))

    def by_email(self, email: str) -> dict[str, Any]:
        return next(c for c in self.contacts.values() if c["email"] == email.lower())

    def modify(self, cid: int, **fields: Any) -> None:
        """Change a contact as a BirdSend user would."""
        with self.lock:
            self.contacts[cid]["fields"].update(fields)

    def handle(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Reply(401, {"message": "Unauthenticated."})
        with self.lock:
            if request.path == "/v1/contacts":
                if request.method == "GET":
                    return self.list(request)
                if request.method == "POST":
                    return self.create(request.body)
                return Reply(405, {"message": "The method is not supported for this route."})
            m = re.fullmatch(r"/v1/contacts/(\d+)", request.path)
            if m is None:
                return Reply(404, {"message": "Not found."})
            if request.query:
                return invalid(sorted(request.query)[0], "This parameter is not allowed here.")
            record = self.contacts.get(int(m.group(1)))
            if record is None:
                return Reply(404, {"message": "Contact not found."})
            if request.method == "GET":
                return Reply(200, record)
            if request.method == "PATCH":
                return self.update(record, request.body)
            if request.method == "DELETE":
                del self.contacts[record["contact_id"]]
                return Reply(204)
            return Reply(405, {"message": "The method is not supported for this route."})

    def list(self, request: Request) -> Reply:
        unknown = sorted(set(request.query) - LIST_PARAMS)
        if unknown:
            return invalid(unknown[0], "This parameter is not allowed here.")
        per_page, page = int(request.arg("per_page", "15") or 15), int(request.arg("page", "1") or 1)
        if not 1 <= per_page <= 100:
            return invalid("per_page", "The per page must be between 1 and 100.")
        rows = list(self.contacts.values())
        search_by, keyword = request.arg("search_by"), request.arg("keyword")
        if search_by is not None and search_by not in SEARCH_BY:
            return invalid("search_by", "The selected search by is invalid.")
        if keyword is not None:
            needle = keyword.lower()
            if search_by == "tag":
                rows = [r for r in rows if any(t["name"].lower() == needle for t in r["tags"])]
            else:  # a keyword matches part of the email
                rows = [r for r in rows if needle in r["email"]]
        last_page = max(1, -(-len(rows) // per_page))
        return Reply(200, {"data": rows[(page - 1) * per_page:page * per_page],
                           "meta": {"current_page": page, "last_page": last_page, "per_page": per_page,
                                    "total": len(rows)}})

    def _checked(self, body: Any, allowed: frozenset[str]) -> dict[str, Any] | Reply:
        if not isinstance(body, dict):
            return invalid("email", "The body must be a JSON object.")
        unknown = sorted(set(body) - allowed)
        if unknown:
            return invalid(unknown[0], "This key is not allowed here.")
        fields = body.get("fields", {})
        if not isinstance(fields, dict) or set(fields) - FIELDS:
            return invalid("fields", f"Unknown fields: {sorted(set(fields) - FIELDS) if isinstance(fields, dict) else fields}")
        if "email" in body and not EMAIL.fullmatch(str(body["email"] or "")):
            return invalid("email", "The email must be a valid email address.")
        return body

    def _taken(self, email: str, other_than: int | None = None) -> bool:
        return any(c["email"] == email.lower() and c["contact_id"] != other_than for c in self.contacts.values())

    def create(self, body: Any) -> Reply:
        checked = self._checked(body, CREATE_KEYS)
        if isinstance(checked, Reply):
            return checked
        email = str(checked.get("email") or "")
        if not email:
            return invalid("email", "The email field is required.")
        if self._taken(email):
            return invalid("email", "The email has already been taken.")
        tags = checked.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            return invalid("tags", "The tags must be a list of names.")
        return Reply(201, self._add(email.lower(), checked.get("fields", {}), tags, datetime.now(UTC)))

    def update(self, record: dict[str, Any], body: Any) -> Reply:
        checked = self._checked(body, UPDATE_KEYS)
        if isinstance(checked, Reply):
            return checked
        if "email" in checked:
            if self._taken(str(checked["email"]), record["contact_id"]):
                return invalid("email", "The email has already been taken.")
            record["email"] = str(checked["email"]).lower()
        record["fields"].update(checked.get("fields", {}))
        return Reply(200, record)
