"""A fake Rookery API v1 (members): the eleventh app, strict about what it accepts.

Rookery is invented; its published contract is tests/tutorial/rookery-api.md,
and this fake answers exactly as that page says. It is shaped unlike the
shipped specs and the sample app on purpose: HTTP Basic with the workspace
as user name, a host per workspace, answers wrapped in ``{"result": …}``,
page numbers with a ``has_more`` flag, integer ids, the name nested as
``person: {given, family}``, email addresses as a list, times in epoch
milliseconds, ``Retry-After`` on 429 and a 401 body that says the key
expired.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from fakes import Reply, Request
from store_fake import StoreFake, unknown

PREFIX = "/api/v1"
LIST_PARAMS = frozenset({"page", "per_page", "modified_since", "email"})
WRITABLE = frozenset({"person", "emails", "phone", "tags"})
PERSON = frozenset({"given", "family"})
MAX_PER_PAGE = 100
FIRST_ID = 1001


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}}, headers=headers or {})


def _int(text: str | None, name: str, minimum: int) -> int | None:
    if text is None:
        return None
    if not re.fullmatch(r"\d+", text) or int(text) < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum}, got {text!r}")
    return int(text)


class FakeRookery(StoreFake):
    def __init__(self, workspace: str = "acme-club", api_key: str = "rk_live_0123456789",
                 members: int = 0) -> None:
        super().__init__()
        self.workspace = workspace
        self.api_key = api_key
        self.expired = False  # the key is refused as expired
        self.next_id = FIRST_ID
        for i in range(members):
            self.add(person={"given": f"Member{i}", "family": "Rook"},
                     emails=[f"member{i}@rookery.example", f"member{i}.alt@example.org"],
                     phone=f"+44 20 7946 {i:04d}", tags=["founding"] if i % 2 else [])

    @property
    def base_url(self) -> str:
        return self.origin + PREFIX

    def add(self, **fields: Any) -> dict[str, Any]:
        with self.lock:
            now = self.now_ms()
            member = {"id": self.next_id, "person": {"given": None, "family": None}, "emails": [],
                      "phone": None, "tags": [], "created_ms": now, "modified_ms": now}
            self.next_id += 1
            self._apply(member, fields)
            self.records[str(member["id"])] = member
            return member

    def edit(self, member_id: int, **fields: Any) -> dict[str, Any]:
        with self.lock:
            member = self.records[str(member_id)]
            self._apply(member, fields)
            member["modified_ms"] = self.now_ms()
            return member

    def by_email(self, email: str) -> dict[str, Any]:
        [member] = [m for m in self.records.values() if email.lower() in (e.lower() for e in m["emails"])]
        return member

    @staticmethod
    def _apply(member: dict[str, Any], fields: dict[str, Any]) -> None:
        for key, value in fields.items():
            if key == "person":  # merged: {"person": {"given": "Ada"}} keeps the family name
                member["person"] = {**member["person"], **value}
            else:  # replaced whole, emails and tags included
                member[key] = value

    # --- HTTP ---------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        if not request.path.startswith(PREFIX + "/"):
            return error(404, "not_found", "No such endpoint.")
        refused = self._authenticate(request)
        if refused is not None:
            return refused
        throttled = self.throttle(error(
            429, "rate_limited", "More than 4 requests a second with this key.", {"Retry-After": "1"}))
        if throttled is not None:
            return throttled
        path = request.path[len(PREFIX):]
        match = re.fullmatch(r"/members(?:/(\d+))?", path)
        if match is None:
            return error(404, "not_found", "No such endpoint.")
        member_id = match[1]
        try:
            if member_id is None:
                if request.method == "GET":
                    return self._list(request)
                if request.method == "POST":
                    return self._create(request)
            else:
                if request.method == "GET":
                    return self._one(member_id, lambda m: Reply(200, {"result": {"member": m}}))
                if request.method == "PATCH":
                    return self._update(member_id, request)
                if request.method == "DELETE":
                    return self._one(member_id, self._delete)
        except ValueError as e:
            return error(422, "invalid", str(e))
        return error(405, "method_not_allowed", f"{request.method} is not allowed here.")

    def _authenticate(self, request: Request) -> Reply | None:
        header = request.headers.get("authorization", "")
        expected = base64.b64encode(f"{self.workspace}:{self.api_key}".encode()).decode()
        if header != f"Basic {expected}":
            return error(401, "credentials_invalid",
                         "Authenticate with HTTP Basic: the workspace name and an API key.")
        if self.expired:
            return error(401, "key_expired",
                         "This API key has expired. Create a new one under Settings > API keys.")
        return None

    def _list(self, request: Request) -> Reply:
        extra = unknown(set(request.query), LIST_PARAMS)
        if extra:
            raise ValueError(f"unknown query parameter {extra[0]!r}")
        page = _int(request.arg("page"), "page", 1) or 1
        per_page = _int(request.arg("per_page"), "per_page", 1) or 20
        if per_page > MAX_PER_PAGE:
            raise ValueError(f"per_page must be at most {MAX_PER_PAGE}, got {per_page}")
        since = _int(request.arg("modified_since"), "modified_since", 0)
        email = request.arg("email")
        with self.lock:
            members = sorted(self.records.values(), key=lambda m: m["id"])
            if since is not None:
                members = [m for m in members if m["modified_ms"] >= since]
            if email is not None:
                members = [m for m in members if email.lower() in (e.lower() for e in m["emails"])]
            start = (page - 1) * per_page
            items = members[start:start + per_page]
            return Reply(200, {"result": {"items": items, "page": page, "per_page": per_page,
                                          "has_more": start + per_page < len(members)}})

    def _one(self, member_id: str, then: Any) -> Reply:
        with self.lock:
            member = self.records.get(member_id)
            if member is None:
                return error(404, "not_found", f"No member {member_id}.")
            reply: Reply = then(member)
            return reply

    def _delete(self, member: dict[str, Any]) -> Reply:
        del self.records[str(member["id"])]
        return Reply(204)

    def _checked(self, body: Any, creating: bool) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        extra = unknown(body, WRITABLE)
        if extra:
            raise ValueError(f"{extra[0]!r} cannot be written")
        person = body.get("person", {})
        if not isinstance(person, dict) or unknown(person, PERSON):
            raise ValueError("person takes only given and family")
        if not all(v is None or isinstance(v, str) for v in person.values()):
            raise ValueError("person.given and person.family are text or null")
        emails = body.get("emails", [] if not creating else None)
        if creating and not emails:
            raise ValueError("a member needs at least one email address")
        if not isinstance(emails, list) or not all(isinstance(e, str) and "@" in e for e in emails):
            raise ValueError("emails is a list of email addresses")
        if "tags" in body and not (isinstance(body["tags"], list)
                                   and all(isinstance(t, str) for t in body["tags"])):
            raise ValueError("tags is a list of text")
        if body.get("phone") is not None and not isinstance(body["phone"], str):
            raise ValueError("phone is text or null")
        return body

    def _taken(self, emails: list[str], member_id: str | None) -> str | None:
        for other_id, other in self.records.items():
            if other_id != member_id:
                clash = {e.lower() for e in emails} & {e.lower() for e in other["emails"]}
                if clash:
                    return min(clash)
        return None

    def _create(self, request: Request) -> Reply:
        body = self._checked(request.body, creating=True)
        with self.lock:
            clash = self._taken(body["emails"], None)
            if clash is not None:
                return error(409, "email_taken", f"{clash} belongs to another member.")
            return Reply(201, {"result": {"member": self.add(**body)}})

    def _update(self, member_id: str, request: Request) -> Reply:
        body = self._checked(request.body, creating=False)
        with self.lock:
            if member_id not in self.records:
                return error(404, "not_found", f"No member {member_id}.")
            clash = self._taken(body.get("emails", []), member_id)
            if clash is not None:
                return error(409, "email_taken", f"{clash} belongs to another member.")
            return Reply(200, {"result": {"member": self.edit(int(member_id), **body)}})
