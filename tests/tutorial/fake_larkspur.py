"""A fake Larkspur CRM API v2 (contacts): the API docs/writing-a-connector.md walks through.

Larkspur is invented; its contract is the reference excerpt quoted in the
tutorial (section 1), and this fake answers as that excerpt says: an API
key in ``X-Api-Key``, ``{"data": …}`` answers, cursor pages with
``meta.next_cursor``, ``updated_since`` in ISO 8601, string ids, a
``company: {name}`` object, ``{"error": {"type", "message"}}`` errors, a
429 with ``Retry-After`` and daily quota headers on every answer.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any

if __name__ == "__main__":  # run by hand, to follow the tutorial: find the shared fakes
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "connector_specs"))

from fakes import Reply, Request  # noqa: E402
from store_fake import StoreFake, unknown  # noqa: E402

PREFIX = "/v2"
LIST_PARAMS = frozenset({"limit", "cursor", "updated_since", "email"})
WRITABLE = frozenset({"email", "first_name", "last_name", "phone", "company", "labels"})
DAILY_LIMIT = 50000


def error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"error": {"type": kind, "message": message}}, headers=headers or {})


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FakeLarkspur(StoreFake):
    def __init__(self, api_key: str = "lk_test_0123456789", contacts: int = 0) -> None:
        super().__init__()
        self.api_key = api_key
        self.used = 0
        self.counter = 0
        for i in range(contacts):
            self.add(email=f"contact{i}@larkspur.example", first_name=f"Contact{i}", last_name="Lark",
                     phone=f"+1 555 010 {i:04d}", company={"name": "Larkspur Labs"},
                     labels=["customer"] if i % 2 else [])

    @property
    def base_url(self) -> str:
        return self.origin + PREFIX

    def add(self, **fields: Any) -> dict[str, Any]:
        with self.lock:
            self.counter += 1
            now = iso(self.now_ms())
            contact = {"id": f"ct_{self.counter:06x}", "email": None, "first_name": None, "last_name": None,
                       "phone": None, "company": {"name": None}, "labels": [],
                       "created_at": now, "updated_at": now}
            self._apply(contact, fields)
            self.records[contact["id"]] = contact
            return contact

    def edit(self, contact_id: str, **fields: Any) -> dict[str, Any]:
        with self.lock:
            contact = self.records[contact_id]
            self._apply(contact, fields)
            contact["updated_at"] = iso(self.now_ms())
            return contact

    def by_email(self, email: str) -> dict[str, Any]:
        [contact] = [c for c in self.records.values() if (c["email"] or "").lower() == email.lower()]
        return contact

    @staticmethod
    def _apply(contact: dict[str, Any], fields: dict[str, Any]) -> None:
        for key, value in fields.items():
            contact[key] = {**contact["company"], **value} if key == "company" else value

    # --- HTTP ---------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        reply = self._handle(request)
        with self.lock:
            self.used += 1
            reply.headers.update({"X-RateLimit-Limit": str(DAILY_LIMIT),
                                  "X-RateLimit-Remaining": str(max(0, DAILY_LIMIT - self.used))})
        return reply

    def _handle(self, request: Request) -> Reply:
        if request.headers.get("x-api-key") != self.api_key:
            return error(401, "authentication_failed", "Missing or invalid API key.")
        throttled = self.throttle(error(
            429, "rate_limited", "Too many requests: at most 10 a second.", {"Retry-After": "1"}))
        if throttled is not None:
            return throttled
        match = re.fullmatch(PREFIX + r"/contacts(?:/(ct_[0-9a-f]+))?", request.path)
        if match is None:
            return error(404, "not_found", "No such endpoint.")
        contact_id = match[1]
        try:
            if contact_id is None and request.method == "GET":
                return self._list(request)
            if contact_id is None and request.method == "POST":
                return self._create(request)
            if contact_id is not None and request.method in ("GET", "PATCH", "DELETE"):
                with self.lock:
                    if contact_id not in self.records:
                        return error(404, "not_found", f"No contact {contact_id}.")
                    if request.method == "GET":
                        return Reply(200, {"data": self.records[contact_id]})
                    if request.method == "DELETE":
                        del self.records[contact_id]
                        return Reply(204)
                    body = self._checked(request.body)
                    if self._taken(body.get("email"), contact_id):
                        return error(409, "conflict", "Another contact has this email.")
                    return Reply(200, {"data": self.edit(contact_id, **body)})
        except ValueError as e:
            return error(400, "invalid_request", str(e))
        return error(405, "invalid_request", f"{request.method} is not allowed here.")

    def _list(self, request: Request) -> Reply:
        extra = unknown(set(request.query), LIST_PARAMS)
        if extra:
            raise ValueError(f"unknown parameter {extra[0]!r}")
        limit = int(request.arg("limit") or 25)
        if not 1 <= limit <= 100:
            raise ValueError("limit must be between 1 and 100")
        cursor = request.arg("cursor")
        if cursor is not None and not re.fullmatch(r"c[0-9]+", cursor):
            raise ValueError("cursor is not one this API gave")
        start = int(cursor[1:]) if cursor else 0
        since_text = request.arg("updated_since")
        email = request.arg("email")
        with self.lock:
            contacts = list(self.records.values())
            if since_text is not None:
                try:
                    since = datetime.fromisoformat(since_text.replace("Z", "+00:00"))
                except ValueError:
                    raise ValueError("updated_since must be an ISO 8601 date-time") from None
                if since.tzinfo is None:
                    raise ValueError("updated_since needs a time zone")
                contacts = [c for c in contacts
                            if datetime.fromisoformat(c["updated_at"].replace("Z", "+00:00")) >= since]
            if email is not None:
                contacts = [c for c in contacts if (c["email"] or "").lower() == email.lower()]
            page = contacts[start:start + limit]
            more = start + limit < len(contacts)
            return Reply(200, {"data": page, "meta": {"next_cursor": f"c{start + limit}" if more else None}})

    def _checked(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        extra = unknown(body, WRITABLE)
        if extra:
            raise ValueError(f"{extra[0]!r} is not a writable attribute")
        if "company" in body and (not isinstance(body["company"], dict) or unknown(body["company"],
                                                                                    frozenset({"name"}))):
            raise ValueError("company takes only name")
        if "labels" in body and not isinstance(body["labels"], list):
            raise ValueError("labels is a list")
        return body

    def _taken(self, email: Any, contact_id: str | None) -> bool:
        return isinstance(email, str) and any(
            (c["email"] or "").lower() == email.lower() for i, c in self.records.items() if i != contact_id)

    def _create(self, request: Request) -> Reply:
        body = self._checked(request.body)
        if not body.get("email"):
            raise ValueError("email is required")
        with self.lock:
            if self._taken(body["email"], None):
                return error(409, "conflict", "Another contact has this email.")
            return Reply(201, {"data": self.add(**body)})


def main() -> None:
    parser = argparse.ArgumentParser(description="A stand-in Larkspur CRM API v2 on 127.0.0.1, for the tutorial.")
    parser.add_argument("--port", type=int, default=8770)
    parser.add_argument("--contacts", type=int, default=3)
    parser.add_argument("--api-key", default="lk_test_0123456789")
    args = parser.parse_args()
    fake = FakeLarkspur(api_key=args.api_key, contacts=args.contacts)
    fake.port = args.port
    with fake:
        print(f"Larkspur stand-in on {fake.base_url} ({args.contacts} contacts, API key {args.api_key})", flush=True)
        while not fake.server_errors:
            time.sleep(0.5)
        print(fake.server_errors[0], file=sys.stderr)


if __name__ == "__main__":
    main()
