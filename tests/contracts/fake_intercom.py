"""A fake Intercom REST API 2.11 (contacts), its records shaped as Intercom's own example.

Every contact starts as a copy of the example contact in Intercom's OpenAPI
description (tests/contracts/vendor/intercom-2.11.yaml, the 200 answer of
POST /contacts), so the fields the fake does not model still have the types
and values Intercom documents.

Routes (under the origin, like https://api.intercom.io):

    GET    /contacts                 per_page ≤ 150 (default 15), opaque starting_after
    POST   /contacts/search          {"query": {field, operator, value} or {operator: AND|OR, value: [...]},
                                      "pagination": {per_page ≤ 150, starting_after}}
    POST   /contacts                 create_contact_request → the contact
    GET    /contacts/{id}            the contact
    PUT    /contacts/{id}            update_contact_request → the contact
    DELETE /contacts/{id}            → {"type": "contact", "id", "external_id", "deleted": true}
    GET    /tags                     every tag of the workspace, {"type": "list", "data": [tag…]}, one page
    POST   /tags                     create_or_update_tag_request {name, id?} → the tag (by name: the
                                      same name gives the existing tag)
    POST   /contacts/{id}/tags       {id: tag id} → the tag, with applied_at and applied_by
    DELETE /contacts/{id}/tags/{tag} → the tag detached, likewise

A contact lists its tags as {"type": "tag", "id", "url"} (no names), up to
10 of them, with total_count and has_more (Intercom's contact_tags).

A bearer access token; the Intercom-Version header, when sent, must be 2.11.
Errors are {"type": "error.list", "request_id", "errors": [{"code", "message"}]}.
Authenticated replies carry X-RateLimit-Limit (1,666: 10,000 a minute in
10-second windows), X-RateLimit-Remaining and X-RateLimit-Reset (the window's
end, Unix time), as Intercom's rate-limiting page shows them.
"""

from __future__ import annotations

import base64
import copy
import re
import time
import uuid
from pathlib import Path
from typing import Any

import yaml
from fakes import FakeApi, Reply, Request

DESCRIPTION = Path(__file__).resolve().parent / "vendor" / "intercom-2.11.yaml"
BASE = 1_709_280_000  # 2024-03-01 08:00 UTC, in Unix seconds as Intercom keeps them
WRITABLE = frozenset({"role", "external_id", "email", "phone", "name", "avatar", "signed_up_at",
                      "last_seen_at", "owner_id", "unsubscribed_from_emails", "custom_attributes"})
WINDOW_LIMIT, WINDOW = 1666, 10  # requests a window, seconds a window
DATE_OPERATORS = {"=": lambda a, b: a == b, "<": lambda a, b: a < b, ">": lambda a, b: a > b}
OPERATORS = {"=": lambda a, b: a == b, "!=": lambda a, b: a != b, "~": lambda a, b: str(b) in str(a),
             "^": lambda a, b: str(a).startswith(str(b)), "$": lambda a, b: str(a).endswith(str(b)),
             "<": lambda a, b: a < b, ">": lambda a, b: a > b}


def example_contact() -> dict[str, Any]:
    doc = yaml.safe_load(DESCRIPTION.read_text())
    answer = doc["paths"]["/contacts"]["post"]["responses"]["200"]["content"]["application/json"]
    return dict(answer["examples"]["successful"]["value"])


def error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"type": "error.list", "request_id": str(uuid.uuid4()),
                          "errors": [{"code": code, "message": message}]})


class FakeIntercom(FakeApi):
    def __init__(self, contacts: int = 200, token: str = "dG9rOjEyMzQ1Njc4OWFiY2RlZg==") -> None:
        super().__init__()
        self.token = token
        self.template = example_contact()
        self.contacts: dict[str, dict[str, Any]] = {}  # by id, in creation order
        self.clock = BASE
        self.window: tuple[int, int] = (0, 0)  # (window's end, requests in it)
        self.tags: dict[str, dict[str, Any]] = {}  # by id
        for i in range(contacts):
            self._add({"email": f"Person.{i:04d}@Example.com", "name": f"Person {i}",
                       "phone": f"+1 555 010 {i:04d}", "external_id": f"ext-{i}",
                       "role": "lead" if i % 5 == 0 else "user"}, BASE + 60 * i)

    @property
    def url(self) -> str:
        return self.origin

    # --- the data ---------------------------------------------------------

    def _add(self, values: dict[str, Any], when: int) -> dict[str, Any]:
        cid = f"{0x667d60b08a68186f43baf000 + len(self.contacts):024x}"
        record = copy.deepcopy(self.template)
        record.update(id=cid, created_at=when, updated_at=when, signed_up_at=when)
        for key in ("tags", "notes", "companies"):
            record[key]["url"] = f"/contacts/{cid}/{key}"
        for key in ("opted_out_subscription_types", "opted_in_subscription_types"):
            record[key]["url"] = f"/contacts/{cid}/subscriptions"
        record.update(values)
        self.contacts[cid] = record
        return record

    def _tick(self) -> int:
        # Unix seconds, as Intercom keeps them; each edit a second after the last one.
        self.clock = max(int(time.time()), self.clock + 1)
        return self.clock

    def modify(self, contact_id: str, **values: Any) -> None:
        """Change a contact as an Intercom user would: its updated_at moves on."""
        with self.lock:
            self.contacts[contact_id].update(values, updated_at=self._tick())

    def _tag(self, name: str) -> dict[str, Any]:
        for tag in self.tags.values():
            if tag["name"] == name:
                return tag
        tag = {"type": "tag", "id": str(115 + len(self.tags)), "name": name}  # as GET /tags shows one
        self.tags[tag["id"]] = tag
        return tag

    def tag(self, contact_id: str, *names: str) -> None:
        """Tag a contact as an Intercom user would (creating the tags)."""
        with self.lock:
            tags = self.contacts[contact_id]["tags"]
            attached = [t["id"] for t in tags.get("all", tags["data"])]
            attached += [t["id"] for name in names if (t := self._tag(name))["id"] not in attached]
            tags["all"] = [{"type": "tag", "id": i, "url": f"/tags/{i}"} for i in attached]
            self.contacts[contact_id]["updated_at"] = self._tick()

    @staticmethod
    def _shown(record: dict[str, Any]) -> dict[str, Any]:
        """A contact as Intercom shows it: up to 10 of its tags."""
        tags = record["tags"]
        if "all" not in tags:
            return record
        shown = dict(record)
        shown["tags"] = {"type": "list", "data": tags["all"][:10], "url": tags["url"],
                         "total_count": len(tags["all"]), "has_more": len(tags["all"]) > 10}
        return shown

    # --- routing -----------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return error(401, "unauthorized", "Access Token Invalid")  # no rate headers without credentials
        reply = self._route(request)
        with self.lock:
            now = int(time.time())
            end, used = self.window if self.window[0] > now else (now - now % WINDOW + WINDOW, 0)
            self.window = (end, used + 1)
        reply.headers.update({"X-RateLimit-Limit": str(WINDOW_LIMIT),
                              "X-RateLimit-Remaining": str(max(0, WINDOW_LIMIT - used - 1)),
                              "X-RateLimit-Reset": str(end)})
        return reply

    def _route(self, request: Request) -> Reply:
        version = request.headers.get("intercom-version")
        if version not in (None, "2.11"):
            return error(400, "intercom_version_invalid", f"Requested version {version} is not 2.11")
        with self.lock:
            if (request.method, request.path) == ("GET", "/contacts"):
                return self.list(request)
            if (request.method, request.path) == ("POST", "/contacts/search"):
                return self.search(request.body)
            if (request.method, request.path) == ("POST", "/contacts"):
                return self.create(request.body)
            if (request.method, request.path) == ("GET", "/tags"):
                return Reply(200, {"type": "list", "data": list(self.tags.values())})
            if (request.method, request.path) == ("POST", "/tags"):
                return self.create_tag(request.body)
            m = re.fullmatch(r"/contacts/([0-9a-f]{24})/tags(?:/([0-9]+))?", request.path)
            if m is not None:
                return self.tagging(request, m.group(1), m.group(2))
            m = re.fullmatch(r"/contacts/([0-9a-f]{24})", request.path)
            record = self.contacts.get(m.group(1)) if m else None
            if record is None:
                return error(404, "not_found", "User Not Found")
            if request.method == "GET":
                return Reply(200, self._shown(record))
            if request.method == "PUT":
                return self.update(record, request.body)
            if request.method == "DELETE":
                del self.contacts[record["id"]]
                return Reply(200, {"id": record["id"], "external_id": record["external_id"],
                                   "type": "contact", "deleted": True})
            return error(405, "method_not_allowed", f"{request.method} is not allowed here")

    def _page(self, rows: list[dict[str, Any]], per_page: int, after: str | None) -> Reply:
        if not 1 <= per_page <= 150:
            return error(400, "parameter_invalid", "per_page must be between 1 and 150")
        start = int(base64.b64decode(after)) if after else 0
        page = rows[start:start + per_page]
        pages: dict[str, Any] = {"type": "pages", "page": start // per_page + 1, "per_page": per_page,
                                 "total_pages": max(1, -(-len(rows) // per_page))}
        if start + per_page < len(rows):
            pages["next"] = {"per_page": per_page,
                             "starting_after": base64.b64encode(str(start + per_page).encode()).decode()}
        return Reply(200, {"type": "list", "data": [self._shown(r) for r in page], "total_count": len(rows),
                           "pages": pages})

    def list(self, request: Request) -> Reply:
        return self._page(list(self.contacts.values()), int(request.arg("per_page", "15") or 15),
                          request.arg("starting_after"))

    def search(self, body: Any) -> Reply:
        query = body.get("query") if isinstance(body, dict) else None
        if not isinstance(query, dict):
            return error(400, "parameter_not_found", "query is required")
        try:
            rows = [r for r in self.contacts.values() if self._matches(r, query)]
        except (KeyError, TypeError) as e:
            return error(400, "query_invalid", f"Invalid query: {e}")
        paging = body.get("pagination") or {}
        return self._page(rows, int(paging.get("per_page", 50)), paging.get("starting_after"))

    def _matches(self, record: dict[str, Any], query: dict[str, Any]) -> bool:
        op = query["operator"]
        if op in ("AND", "OR"):
            results = [self._matches(record, q) for q in query["value"]]
            return all(results) if op == "AND" else any(results)
        field, value = query["field"], query["value"]
        have = record.get(field)
        if field.endswith("_at"):  # dates: Unix seconds, and only =, < and >
            return have is not None and DATE_OPERATORS[op](have, int(value))
        if isinstance(have, str) and isinstance(value, str):  # text compares case-insensitively
            have, value = have.lower(), value.lower()
        return OPERATORS[op](have, value)

    def _values(self, body: Any) -> dict[str, Any] | Reply:
        if not isinstance(body, dict):
            return error(400, "parameter_invalid", "The body must be a JSON object")
        unknown = sorted(set(body) - WRITABLE)
        if unknown:
            return error(400, "parameter_invalid", f"Unknown parameters: {', '.join(unknown)}")
        return body

    def create(self, body: Any) -> Reply:
        values = self._values(body)
        if isinstance(values, Reply):
            return values
        if not any(values.get(k) for k in ("email", "external_id", "role")):
            return error(400, "parameter_invalid", "email, external_id or role is required")
        email = str(values.get("email") or "").lower()
        if email and any(str(r["email"] or "").lower() == email for r in self.contacts.values()):
            return error(409, "conflict", "A contact matching those details already exists")
        return Reply(200, self._add(values, self._tick()))

    def update(self, record: dict[str, Any], body: Any) -> Reply:
        values = self._values(body)
        if isinstance(values, Reply):
            return values
        record.update(values, updated_at=self._tick())
        return Reply(200, self._shown(record))

    def tagging(self, request: Request, contact_id: str, tag_id: str | None) -> Reply:
        """Attach (POST, {id}) or detach (DELETE …/tags/{tag_id}) one tag; Intercom
        answers the tag with when and by whom it was applied."""
        record = self.contacts.get(contact_id)
        if record is None:
            return error(404, "not_found", "User Not Found")
        if request.method == "POST":
            body = request.body
            if not isinstance(body, dict) or set(body) != {"id"}:
                return error(400, "parameter_invalid", "id is required")
            tag_id = str(body["id"])
        if tag_id not in self.tags or request.method not in ("POST", "DELETE"):
            return error(404, "tag_not_found", "Tag not found")
        tags = record["tags"]
        attached = [t["id"] for t in tags.get("all", tags["data"])]
        attached = [*attached, tag_id] if request.method == "POST" and tag_id not in attached \
            else [t for t in attached if not (request.method == "DELETE" and t == tag_id)]
        tags["all"] = [{"type": "tag", "id": i, "url": f"/tags/{i}"} for i in attached]
        record["updated_at"] = self._tick()
        return Reply(200, {**self.tags[tag_id], "applied_at": self.clock, "applied_by": {"type": "admin", "id": "456"}})

    def create_tag(self, body: Any) -> Reply:
        if not isinstance(body, dict) or set(body) - {"name", "id"} or not isinstance(body.get("name"), str):
            return error(400, "parameter_invalid", "name is required, and only name and id are allowed")
        if "id" in body:  # renames the tag with that id
            tag = self.tags.get(str(body["id"]))
            if tag is None:
                return error(404, "tag_not_found", "Tag not found")
            tag["name"] = body["name"]
            return Reply(200, tag)
        return Reply(200, self._tag(body["name"]))
