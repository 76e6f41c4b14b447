"""A fake Pipedrive REST API v2 (persons), built from Pipedrive's reference pages.

Pipedrive publishes no OpenAPI description this project can fetch, so the
fake itself holds the contract, as these pages give it:

- Persons, v2: https://developers.pipedrive.com/docs/api/v1/Persons
  (GET /persons: cursor, limit ≤ 500, updated_since/updated_until RFC 3339
  on update_time, inclusive; sort_by id|update_time|add_time; sort_direction
  asc|desc; POST /persons with name required; GET, PATCH, DELETE
  /persons/{id}; every answer {"success": true, "data", "additional_data"})
- Search persons, v2 (term; fields; exact_match, not case-sensitive; items
  {result_score, item}, an item's emails and phones plain strings):
  https://developers.qodex.ai/pipedrive-api-collection/pipedrive-api-v2/persons-27/search-persons-5
- Cursor pagination (additional_data.next_cursor, null on the last page;
  limit default 100, at most 500):
  https://pipedrive.readme.io/docs/core-api-concepts-pagination
- Emails and phones as lists of {value, primary, label}:
  https://developers.pipedrive.com/changelog/post/introducing-2-new-cursor-paginated-codegetcode-endpoints-for-persons-and-organizations-api
- Person fields, v2 (GET /api/v2/personFields: cursor pages; each field
  {field_name, field_code, field_type, options…}; the labels are the
  options {id, label, color} of the field label_ids; Pipedrive creates
  default person labels such as Customer, Hot lead, Warm lead, Cold lead):
  https://developers.pipedrive.com/docs/api/v1/PersonFields
  https://pipedrive.readme.io/docs/working-with-labels
- Rate limiting: x-ratelimit-limit (requests per 2-second window; 20 on the
  Essential plan for an api_token), x-ratelimit-remaining, x-ratelimit-reset
  (seconds left in the window), x-daily-requests-left; HTTP 429 past it:
  https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting
- The body of POST and PATCH /persons (AddPersonRequest: name, owner_id,
  org_id, add_time, update_time, emails, phones, visible_to, label_ids,
  marketing_status, custom_fields), from Pipedrive's own client generated
  from its API v2 OpenAPI document 2.0.0, which is not itself published:
  github.com/pipedrive/client-nodejs, src/versions/v2/models/add-person-request.ts
  at commit 0f37347bcae384667983bae905f82396065d00ab

Strict where Pipedrive is: the API token in the x-api-token header (or the
api_token query parameter), else 401; an unknown query parameter or body
field, a bad limit or date, a missing name on create: 400. Errors are
{"success": false, "error", "error_info", "data": null, "additional_data": null}.
"""

from __future__ import annotations

import base64
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fakes import FakeApi, Reply, Request

BASE = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
WINDOW_LIMIT, WINDOW = 20, 2  # Essential plan, api_token: requests per 2-second window
DAILY_WRITES = 10_000
LIST_PARAMS = frozenset({"filter_id", "ids", "owner_id", "org_id", "updated_since", "updated_until", "sort_by",
                         "sort_direction", "include_fields", "custom_fields", "limit", "cursor"})
SEARCH_PARAMS = frozenset({"term", "fields", "exact_match", "organization_id", "include_fields", "limit", "cursor"})
SEARCH_FIELDS = frozenset({"custom_fields", "email", "notes", "phone", "name"})
WRITABLE = frozenset({"name", "owner_id", "org_id", "add_time", "update_time", "emails", "phones", "visible_to",
                      "label_ids", "marketing_status", "custom_fields"})  # AddPersonRequest's properties
INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def error(status: int, message: str) -> Reply:
    return Reply(status, {"success": False, "error": message, "error_info": INFO,
                          "data": None, "additional_data": None})


def entries(value: Any, kind: str) -> list[dict[str, Any]] | str:
    """Pipedrive's emails/phones: a list of {value, primary?, label?}; the first is primary if none is."""
    if not isinstance(value, list) or not all(isinstance(v, dict) and "value" in v for v in value):
        return f"{kind} must be an array of objects with a value"
    unknown = {k for v in value for k in v} - {"value", "primary", "label"}
    if unknown:
        return f"{kind} has unknown properties: {', '.join(sorted(unknown))}"
    out = [{"value": str(v["value"]), "primary": bool(v.get("primary", False)), "label": v.get("label", "work")}
           for v in value]
    if out and not any(v["primary"] for v in out):
        out[0]["primary"] = True
    return out


class FakePipedrive(FakeApi):
    def __init__(self, persons: int = 200, token: str = "3f8e7c1b9a0d4e6f8a2b5c7d9e1f3a5b7c9d1e3f") -> None:
        super().__init__()
        self.token = token
        self.persons: dict[int, dict[str, Any]] = {}  # by id, in creation order
        self.clock = BASE
        self.window: tuple[float, int] = (0.0, 0)  # (window's end, requests in it)
        self.writes_left = DAILY_WRITES
        self.labels = {5: "Customer", 6: "Hot lead", 7: "Warm lead", 8: "Cold lead"}  # Pipedrive's defaults
        for i in range(persons):
            self._add({"name": f"Person {i}", "emails": [{"value": f"person.{i:04d}@example.com", "primary": True,
                                                          "label": "work"}],
                       "phones": [{"value": f"+1 555 010 {i:04d}", "primary": True, "label": "mobile"}],
                       "owner_id": 123, "org_id": 1234 if i % 4 == 0 else None,
                       "label_ids": [5] if i % 3 == 0 else []}, BASE + timedelta(minutes=i))

    @property
    def url(self) -> str:
        return self.origin + "/api/v2"

    # --- the data ---------------------------------------------------------

    def _add(self, values: dict[str, Any], when: datetime) -> dict[str, Any]:
        pid = len(self.persons) + 1
        record: dict[str, Any] = {"id": pid, "name": "", "first_name": None, "last_name": None, "owner_id": 123,
                                  "org_id": None, "add_time": rfc3339(when), "update_time": rfc3339(when),
                                  "emails": [], "phones": [], "is_deleted": False, "visible_to": 3,
                                  "label_ids": [], "picture_id": None, "custom_fields": {}}
        self._apply(record, values)
        self.persons[pid] = record
        return record

    @staticmethod
    def _apply(record: dict[str, Any], values: dict[str, Any]) -> None:
        record.update(values)
        # Pipedrive splits the name it is given into first and last names.
        first, _, last = str(record["name"]).partition(" ")
        record["first_name"], record["last_name"] = first or None, last or None

    def _tick(self) -> str:
        # Whole seconds, as Pipedrive keeps them; each edit a second after the last one.
        self.clock = max(datetime.now(UTC).replace(microsecond=0), self.clock + timedelta(seconds=1))
        return rfc3339(self.clock)

    def modify(self, person_id: int, **values: Any) -> None:
        """Change a person as a Pipedrive user would: its update_time moves on."""
        with self.lock:
            self._apply(self.persons[person_id], values)
            self.persons[person_id]["update_time"] = self._tick()

    # --- routing -----------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        token = request.headers.get("x-api-token") or request.arg("api_token")
        if token != self.token:
            return error(401, "unauthorized access")  # no rate headers without credentials
        with self.lock:
            now = time.time()
            end, used = self.window if self.window[0] > now else (now - now % WINDOW + WINDOW, 0)
            self.window = (end, used + 1)
            reply = self._route(request) if used < WINDOW_LIMIT else error(429, "Too Many Requests")
            if request.method in ("POST", "PUT", "PATCH") and reply.status < 300:
                self.writes_left -= 1
        reply.headers.update({"x-ratelimit-limit": str(WINDOW_LIMIT),
                              "x-ratelimit-remaining": str(max(0, WINDOW_LIMIT - used - 1)),
                              "x-ratelimit-reset": str(max(1, round(end - now))),
                              "x-daily-requests-left": str(self.writes_left)})
        if reply.status == 429:
            reply.headers["Retry-After"] = reply.headers["x-ratelimit-reset"]
        return reply

    def _route(self, request: Request) -> Reply:
        path = request.path.removeprefix("/api/v2")
        if (request.method, path) == ("GET", "/persons"):
            return self.list(request)
        if (request.method, path) == ("GET", "/persons/search"):
            return self.search(request)
        if (request.method, path) == ("POST", "/persons"):
            return self.create(request.body)
        if (request.method, path) == ("GET", "/personFields"):
            return self.person_fields(request)
        m = re.fullmatch(r"/persons/([0-9]+)", path)
        if m is None:
            return error(404, "Unknown method .")
        record = self.persons.get(int(m.group(1)))
        if record is None:
            return error(404, "Person not found")
        if request.method == "GET":
            return Reply(200, {"success": True, "data": record, "additional_data": None})
        if request.method == "PATCH":
            return self.update(record, request.body)
        if request.method == "DELETE":
            del self.persons[record["id"]]
            return Reply(200, {"success": True, "data": {"id": record["id"]}})
        return error(405, f"Method {request.method} not allowed")

    @staticmethod
    def _unknown(request: Request, allowed: frozenset[str]) -> Reply | None:
        unknown = sorted(set(request.query) - allowed - {"api_token"})
        return error(400, f"Unknown query parameters: {', '.join(unknown)}") if unknown else None

    def _page(self, rows: list[dict[str, Any]], request: Request) -> Reply:
        try:
            limit = int(request.arg("limit", "100") or 100)
            start = int(base64.b64decode(request.arg("cursor") or "MA==").decode())
        except ValueError:
            return error(400, "Invalid cursor or limit")
        if not 1 <= limit <= 500:
            return error(400, "limit must be between 1 and 500")
        following = start + limit
        cursor = base64.b64encode(str(following).encode()).decode() if following < len(rows) else None
        return Reply(200, {"success": True, "data": rows[start:following], "additional_data": {"next_cursor": cursor}})

    def person_fields(self, request: Request) -> Reply:
        """GET /api/v2/personFields: the persons' fields, with the label field's options."""
        refused = self._unknown(request, frozenset({"limit", "cursor", "include_fields"}))
        if refused:
            return refused
        fields = [{"field_name": name, "field_code": code, "field_type": kind, "options": options,
                   "subfields": None, "is_custom_field": False, "is_optional_response_field": False}
                  for name, code, kind, options in (
                      ("Name", "name", "varchar", None), ("Email", "emails", "varchar", None),
                      ("Phone", "phones", "phone", None),
                      ("Labels", "label_ids", "set",
                       [{"id": i, "label": label, "color": "green"} for i, label in self.labels.items()]),
                      ("Owner", "owner_id", "user", None))]
        return self._page(fields, request)

    def list(self, request: Request) -> Reply:
        refused = self._unknown(request, LIST_PARAMS)
        if refused:
            return refused
        rows = list(self.persons.values())
        for name, keep in (("updated_since", lambda t, b: t >= b), ("updated_until", lambda t, b: t < b)):
            bound = request.arg(name)
            if bound is None:
                continue
            if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", bound):
                return error(400, f"{name} must be in RFC3339 format, e.g. 2025-01-01T10:20:00Z")
            moment = datetime.fromisoformat(bound)
            rows = [r for r in rows if keep(datetime.fromisoformat(r["update_time"]), moment)]
        sort_by, direction = request.arg("sort_by", "id"), request.arg("sort_direction", "asc")
        if sort_by not in ("id", "update_time", "add_time") or direction not in ("asc", "desc"):
            return error(400, "sort_by must be id, update_time or add_time; sort_direction asc or desc")
        rows.sort(key=lambda r: (r[sort_by or "id"], r["id"]), reverse=direction == "desc")
        return self._page(rows, request)

    def search(self, request: Request) -> Reply:
        refused = self._unknown(request, SEARCH_PARAMS)
        if refused:
            return refused
        term, exact = request.arg("term") or "", request.arg("exact_match", "false") == "true"
        fields = set((request.arg("fields") or ",".join(SEARCH_FIELDS)).split(","))
        if fields - SEARCH_FIELDS:
            return error(400, f"fields must be among {', '.join(sorted(SEARCH_FIELDS))}")
        if len(term) < (1 if exact else 2):
            return error(400, "term must be at least 2 characters long (1 with exact_match)")
        wanted = term.lower()
        hits = []
        for r in self.persons.values():
            values = ([r["name"]] if "name" in fields else []) + \
                     ([e["value"] for e in r["emails"]] if "email" in fields else []) + \
                     ([p["value"] for p in r["phones"]] if "phone" in fields else [])
            if any(v.lower() == wanted if exact else wanted in v.lower() for v in values):
                hits.append({"result_score": 1.0, "item": {
                    "id": r["id"], "type": "person", "name": r["name"],
                    "phones": [p["value"] for p in r["phones"]], "emails": [e["value"] for e in r["emails"]],
                    "visible_to": r["visible_to"], "owner": {"id": r["owner_id"]},
                    "organization": None if r["org_id"] is None else {"id": r["org_id"], "name": "Org Name",
                                                                      "address": None},
                    "custom_fields": [], "notes": []}})
        reply = self._page(hits, request)
        if reply.status == 200:  # search answers wrap the items: {"data": {"items": [...]}}
            reply.body["data"] = {"items": reply.body["data"]}
        return reply

    def _values(self, body: Any) -> dict[str, Any] | Reply:
        if not isinstance(body, dict):
            return error(400, "The body must be a JSON object")
        unknown = sorted(set(body) - WRITABLE)
        if unknown:
            return error(400, f"Unknown body parameters: {', '.join(unknown)}")
        values = dict(body)
        for kind in ("emails", "phones"):
            if kind in values:
                checked = entries(values[kind], kind)
                if isinstance(checked, str):
                    return error(400, checked)
                values[kind] = checked
        return values

    def create(self, body: Any) -> Reply:
        values = self._values(body)
        if isinstance(values, Reply):
            return values
        if not values.get("name"):
            return error(400, "Name must be given.")
        return Reply(201, {"success": True, "data": self._add(values, datetime.fromisoformat(self._tick())), "additional_data": None})

    def update(self, record: dict[str, Any], body: Any) -> Reply:
        values = self._values(body)
        if isinstance(values, Reply):
            return values
        if any(type(i) is not int or i not in self.labels for i in values.get("label_ids", [])):
            return error(400, "label_ids must be ids of the person labels")
        if "name" in values and not values["name"]:
            return error(400, "Name must be given.")
        self._apply(record, values)
        record["update_time"] = self._tick()
        return Reply(200, {"success": True, "data": record, "additional_data": None})
