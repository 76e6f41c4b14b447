"""A fake Mailchimp Marketing API 3.0 (audience members), as its reference and description say.

Its members have every property of Mailchimp's member schema
(tests/contracts/vendor/mailchimp-marketing-3.0.76.yaml, ``List Members_2``),
so the contract tests judge whole records, not a few keys.

Routes (under /3.0, like https://us6.api.mailchimp.com/3.0):

    GET    /lists/{list_id}/members             count ≤ 1000 (default 10), offset, since_last_changed,
                                                sort_field, sort_dir, status, exclude_fields
    POST   /lists/{list_id}/members             add: email_address and status required; tags by name
    GET    /lists/{list_id}/members/{hash}      hash: MD5 of the lower-cased email (or the email)
    PUT    /lists/{list_id}/members/{hash}      add or update: email_address and status_if_new required,
                                                the hash must be the email's; status_if_new only for a new one
    PATCH  /lists/{list_id}/members/{hash}      merge_fields merged; tags ignored, as Mailchimp does
    DELETE /lists/{list_id}/members/{hash}      archives → 204
    POST   /lists/{list_id}/members/{hash}/tags {tags: [{name, status: active|inactive}]} → 204
    GET    /search-members?query=…&list_id=…    exact_matches / full_search

HTTP Basic auth: any user name, the API key as password.  Errors are
application/problem+json {type, title, status, detail, instance}; more than
10 requests at once get 429, as Mailchimp's connection limit does.  A tag
change does not move ``last_changed`` (Mailchimp does not say it does).
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fakes import FakeApi, Reply, Request

STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")
WRITABLE_STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending")  # PATCH: not transactional
TAG_SETS = ((), ("customer",), ("customer", "newsletter"), ("vip",))
PHONES = ("+1 (555) 010-{i:04d}", "555-010-{i:04d}", "+44 20 7946 {i:04d}")
SORT_FIELDS = ("timestamp_opt", "timestamp_signup", "last_changed")
BASE = datetime(2024, 2, 1, 8, 0, tzinfo=UTC)
PROBLEM = "application/problem+json; charset=utf-8"
MAX_CONNECTIONS = 10
ADDRESS_KEYS = ("addr1", "city", "state", "zip")  # required in an ADDRESS value; addr2, country optional


def subscriber_hash(email: str) -> str:
    return hashlib.md5(email.lower().encode()).hexdigest()


def stamp(when: datetime) -> str:
    return when.replace(microsecond=0).isoformat()  # 2024-02-01T08:00:00+00:00


def problem(status: int, title: str, detail: str) -> Reply:
    return Reply(status, {"type": "https://mailchimp.com/developer/marketing/docs/errors/",
                          "title": title, "status": status, "detail": detail,
                          "instance": str(uuid.uuid4())}, content_type=PROBLEM)


def invalid(detail: str) -> Reply:
    return problem(400, "Invalid Resource", detail)


class FakeMailchimp(FakeApi):
    def __init__(self, members: int = 1234, api_key: str = "0123456789abcdef0123456789abcdef-us0",
                 list_id: str = "a1b2c3d4e5") -> None:
        super().__init__()
        self.api_key, self.list_id = api_key, list_id
        self.members: dict[str, dict[str, Any]] = {}  # by subscriber hash, in signup order
        self.tag_ids: dict[str, int] = {}
        self.in_flight = self.most_in_flight = 0
        self._count_lock = threading.Lock()
        self.clock = BASE
        for i in range(members):
            address: Any = "" if i % 2 else {"addr1": f"{i} Main St", "addr2": "", "city": "Springfield",
                                             "state": "IL", "zip": "62701", "country": "US"}
            self._add(f"Member.{i:04d}@Example.COM", STATUSES[i % 4],
                      {"FNAME": f"First{i}", "LNAME": f"Last{i}", "PHONE": PHONES[i % 3].format(i=i),
                       "ADDRESS": address},
                      TAG_SETS[i % len(TAG_SETS)], BASE + timedelta(minutes=i))

    @property
    def url(self) -> str:
        return self.origin + "/3.0"

    # --- the data ---------------------------------------------------------

    def _tick(self) -> datetime:
        # Mailchimp's stamps are whole seconds; each change a second after the last one.
        self.clock = max(datetime.now(UTC).replace(microsecond=0), self.clock + timedelta(seconds=1))
        return self.clock

    def _tags(self, names: Any) -> list[dict[str, Any]]:
        return [{"id": self.tag_ids.setdefault(n, 1000 + len(self.tag_ids)), "name": n} for n in names]

    def _add(self, email: str, status: str, merge: dict[str, Any], tags: Any, when: datetime) -> dict[str, Any]:
        sid = subscriber_hash(email)
        tag_list = self._tags(tags)
        member = {
            "id": sid, "email_address": email, "unique_email_id": sid[:10], "contact_id": sid[::-1],
            "full_name": f"{merge.get('FNAME', '')} {merge.get('LNAME', '')}".strip(),
            "web_id": 500000 + len(self.members), "email_type": "html", "status": status,
            "unsubscribe_reason": "", "consents_to_one_to_one_messaging": True,
            "merge_fields": {"FNAME": "", "LNAME": "", "ADDRESS": "", "PHONE": "", "BIRTHDAY": "", **merge},
            "interests": {}, "stats": {"avg_open_rate": 0, "avg_click_rate": 0}, "ip_signup": "198.51.100.7",
            "timestamp_signup": stamp(when), "ip_opt": "198.51.100.7", "timestamp_opt": stamp(when),
            "member_rating": 2, "last_changed": stamp(when), "language": "en", "vip": False,
            "email_client": "", "location": {"latitude": 0, "longitude": 0, "gmtoff": 0, "dstoff": 0,
                                             "country_code": "", "timezone": "", "region": ""},
            "marketing_permissions": [], "source": "API - Generic", "tags_count": len(tag_list),
            "tags": tag_list, "list_id": self.list_id,
        }
        self.members.pop(sid, None)  # re-adding an archived member moves it to the end
        self.members[sid] = member
        return member

    def modify(self, sid: str, status: str | None = None, **merge_fields: Any) -> None:
        """Change a member as a Mailchimp user would: last_changed moves on."""
        with self.lock:
            member = self.members[sid]
            member["merge_fields"].update(merge_fields)
            if status is not None:
                member["status"] = status
            member["last_changed"] = stamp(self._tick())

    def set_tags(self, sid: str, names: list[str]) -> None:
        """Tag a member as a Mailchimp user would (last_changed stays, see above)."""
        with self.lock:
            member = self.members[sid]
            member["tags"], member["tags_count"] = self._tags(names), len(names)

    def tag_names(self, sid: str) -> list[str]:
        with self.lock:
            return [t["name"] for t in self.members[sid]["tags"]]

    def _links(self, path: str) -> list[dict[str, str]]:
        return [{"rel": "self", "href": f"{self.url}{path}", "method": "GET",
                 "targetSchema": "https://us0.api.mailchimp.com/schema/3.0/Definitions/Lists/Members/Response.json"}]

    def shown(self, member: dict[str, Any], exclude: set[str] = frozenset()) -> dict[str, Any]:
        out = {k: (dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v)
               for k, v in member.items()}
        if "_links" not in exclude:
            out["_links"] = self._links(f"/lists/{self.list_id}/members/{member['id']}")
        return out

    # --- routing -----------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        with self._count_lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            busy = self.in_flight > MAX_CONNECTIONS
        try:
            if busy:
                return problem(429, "Too Many Requests",
                               "You have exceeded the limit of 10 simultaneous connections.")
            return self._route(request)
        finally:
            with self._count_lock:
                self.in_flight -= 1

    def _authorised(self, request: Request) -> Reply | None:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return problem(401, "API Key Missing", "Your request did not include an API key.")
        _, _, key = base64.b64decode(header[6:]).decode().partition(":")
        if key != self.api_key:
            return problem(401, "API Key Invalid",
                           "Your API key may be invalid, or you've attempted to access the wrong datacenter.")
        return None

    def _route(self, request: Request) -> Reply:
        refused = self._authorised(request)
        if refused is not None:
            return refused
        path = request.path.removeprefix("/3.0")
        not_found = problem(404, "Resource Not Found", "The requested resource could not be found.")
        with self.lock:
            if (request.method, path) == ("GET", "/search-members"):
                return self.search(request)
            m = re.fullmatch(r"/lists/([^/]+)/members(?:/([^/]+)(/tags)?)?", path)
            if m is None or m.group(1) != self.list_id:
                return not_found
            if m.group(2) is None:
                return {"GET": self.list, "POST": self.create}.get(request.method, self._no)(request)
            key = m.group(2)
            sid = key if re.fullmatch(r"[0-9a-f]{32}", key) else subscriber_hash(key)
            if request.method == "PUT" and m.group(3) is None:
                return self.upsert(sid, request.body)
            member = self.members.get(sid)
            if member is None:
                return not_found
            if m.group(3) is not None:
                return self.tag(member, request.body) if request.method == "POST" else self._no(request)
            if request.method == "GET":
                return Reply(200, self.shown(member, self._excluded(request)))
            if request.method == "PATCH":
                return self.update(member, request.body)
            if request.method == "DELETE":
                if member["status"] == "archived":
                    return not_found
                member["status"] = "archived"
                member["last_changed"] = stamp(self._tick())
                return Reply(204)
            return self._no(request)

    @staticmethod
    def _no(request: Request) -> Reply:
        return problem(405, "Method Not Allowed",
                       "The requested method and resource are not compatible. See the Allow header "
                       "for this resource's available methods.")

    @staticmethod
    def _excluded(request: Request) -> set[str]:
        return {f.strip() for v in request.query.get("exclude_fields", []) for f in v.split(",")}

    def list(self, request: Request) -> Reply:
        count, offset = int(request.arg("count", "10") or 10), int(request.arg("offset", "0") or 0)
        if not 1 <= count <= 1000:
            return invalid(f"count must be between 1 and 1000; you gave {count}.")
        status = request.arg("status")
        rows = [m for m in self.members.values()
                if m["status"] == status or (status is None and m["status"] != "archived")]
        since = request.arg("since_last_changed")
        if since:
            try:
                after = datetime.fromisoformat(since)
            except ValueError:
                return invalid(f"since_last_changed: {since!r} is not an ISO 8601 date and time.")
            rows = [m for m in rows if datetime.fromisoformat(m["last_changed"]) > after]
        field = request.arg("sort_field")
        if field is not None:
            if field not in SORT_FIELDS:
                return invalid(f"sort_field must be one of {', '.join(SORT_FIELDS)}.")
            direction = (request.arg("sort_dir") or "ASC").upper()
            rows.sort(key=lambda m: m[field] or "", reverse=direction == "DESC")
        exclude = self._excluded(request)
        members = [self.shown(m, {f.removeprefix("members.") for f in exclude if f.startswith("members.")})
                   for m in rows[offset:offset + count]]
        body: dict[str, Any] = {"members": members, "list_id": self.list_id, "total_items": len(rows)}
        if "_links" not in exclude:
            body["_links"] = self._links(f"/lists/{self.list_id}/members")
        return Reply(200, body)

    # --- writes ------------------------------------------------------------

    @staticmethod
    def _merge_fields(body: dict[str, Any]) -> dict[str, Any] | Reply:
        merge = body.get("merge_fields") or {}
        if not isinstance(merge, dict):
            return invalid("merge_fields must be an object of merge tags.")
        address = merge.get("ADDRESS")
        if isinstance(address, dict) and not all(address.get(k) for k in ADDRESS_KEYS):
            return invalid("Your merge fields were invalid: ADDRESS needs addr1, city, state and zip.")
        return dict(merge)

    def create(self, request: Request) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        email, status = body.get("email_address"), body.get("status")
        if not email or "@" not in str(email):
            return invalid("The resource submitted could not be validated: email_address is required.")
        if status not in STATUSES:
            return invalid(f"The resource submitted could not be validated: status {status!r} is not one of "
                           f"{', '.join(STATUSES)}.")
        existing = self.members.get(subscriber_hash(email))
        if existing is not None and existing["status"] != "archived":
            return problem(400, "Member Exists",
                           f"{email} is already a list member. Use PUT to insert or update list members.")
        tags = body.get("tags") or []
        if not all(isinstance(t, str) for t in tags):
            return invalid("tags must be a list of tag names.")
        merge = self._merge_fields(body)
        if isinstance(merge, Reply):
            return merge
        return Reply(200, self.shown(self._add(email, status, merge, tags, self._tick())))

    def upsert(self, sid: str, body: Any) -> Reply:
        body = body if isinstance(body, dict) else {}
        email = body.get("email_address")
        if not email or "@" not in str(email):
            return invalid("The resource submitted could not be validated: email_address is required.")
        if subscriber_hash(email) != sid:
            return invalid("The email address in the body does not match the subscriber hash in the URL.")
        member = self.members.get(sid)
        if member is not None and member["status"] != "archived":
            return self.update(member, {k: v for k, v in body.items() if k != "status_if_new"})
        status = body.get("status") or body.get("status_if_new")
        if status not in STATUSES:
            return invalid(f"status_if_new {body.get('status_if_new')!r} is not one of {', '.join(STATUSES)}; "
                           "it is required for a new member.")
        merge = self._merge_fields(body)
        if isinstance(merge, Reply):
            return merge
        return Reply(200, self.shown(self._add(email, status, merge, [], self._tick())))

    def update(self, member: dict[str, Any], body: Any) -> Reply:
        body = body if isinstance(body, dict) else {}
        if "status" in body and body["status"] not in WRITABLE_STATUSES:
            return invalid(f"status {body['status']!r} is not one of {', '.join(WRITABLE_STATUSES)}.")
        merge = self._merge_fields(body)
        if isinstance(merge, Reply):
            return merge
        email = body.get("email_address")
        if email and subscriber_hash(email) != member["id"]:  # a new address is a new id
            if subscriber_hash(email) in self.members:
                return problem(400, "Member Exists", f"{email} is already a list member.")
            del self.members[member["id"]]
            member.update(id=subscriber_hash(email), email_address=email)
            self.members[member["id"]] = member
        elif email:
            member["email_address"] = email
        if "status" in body:
            member["status"] = body["status"]
        member["merge_fields"].update(merge)
        member["full_name"] = f"{member['merge_fields']['FNAME']} {member['merge_fields']['LNAME']}".strip()
        member["last_changed"] = stamp(self._tick())
        return Reply(200, self.shown(member))

    def tag(self, member: dict[str, Any], body: Any) -> Reply:
        tags = body.get("tags") if isinstance(body, dict) else None
        if not isinstance(tags, list) or not all(
                isinstance(t, dict) and isinstance(t.get("name"), str) and t.get("status") in ("active", "inactive")
                for t in tags):
            return invalid("tags must be a list of {name, status} with status active or inactive.")
        names = [t["name"] for t in member["tags"]]
        for t in tags:
            if t["status"] == "active" and t["name"] not in names:
                names.append(t["name"])
            elif t["status"] == "inactive" and t["name"] in names:
                names.remove(t["name"])
        member["tags"] = self._tags(names)
        member["tags_count"] = len(names)
        return Reply(204)

    def search(self, request: Request) -> Reply:
        query = (request.arg("query") or "").strip().lower()
        if not query:
            return invalid("query is required.")
        if request.arg("list_id") not in (None, self.list_id):
            return problem(404, "Resource Not Found", "The requested resource could not be found.")
        exclude = {f.rsplit(".", 1)[-1] for f in self._excluded(request) if f.endswith("members._links")}
        exact = [m for m in self.members.values() if m["email_address"].lower() == query]
        full = [m for m in self.members.values() if query in m["full_name"].lower() and m not in exact]
        body: dict[str, Any] = {
            "exact_matches": {"members": [self.shown(m, exclude) for m in exact], "total_items": len(exact)},
            "full_search": {"members": [self.shown(m, exclude) for m in full[:10]], "total_items": len(full)}}
        if "_links" not in self._excluded(request):
            body["_links"] = []
        return Reply(200, body)
