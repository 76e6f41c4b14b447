"""A fake HubSpot CRM v3 contacts API, as its reference describes it.

Routes (under the origin, like https://api.hubapi.com):

    GET    /crm/v3/objects/contacts           limit ≤ 100, opaque `after`, properties=a,b
    POST   /crm/v3/objects/contacts/search    filterGroups, sorts, properties, limit ≤ 200,
                                              after (an offset); 10,000 results a query at
                                              most (search_cap): none past it is sent, and
                                              an `after` at or past it answers 400
    POST   /crm/v3/objects/contacts           {"properties": {…}} → 201
    GET    /crm/v3/objects/contacts/{id}      properties=a,b
    PATCH  /crm/v3/objects/contacts/{id}      {"properties": {…}}
    DELETE /crm/v3/objects/contacts/{id}      archives → 204
    POST   /crm/v3/objects/contacts/batch/create  {"inputs": [{"properties"}]}, ≤ 100 → 201
                                              {"results"} in no promised order (here reversed);
                                              one invalid input → 400, an existing email → 409,
                                              for the whole batch, nothing stored
    POST   /crm/v3/objects/contacts/batch/update  {"inputs": [{"id", "properties"}]}, ≤ 100 → 200
                                              {"results"}; unknown ids → 207 with "errors",
                                              the others applied

A contact comes back as {id, properties, createdAt, updatedAt, archived}
with only the properties asked for (plus hs_object_id, createdate and
lastmodifieddate), every value a string or null, as HubSpot sends them.
Errors are {"status": "error", "message", "correlationId", "category"}.
"""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fakes import FakeApi, Reply, Request

CONTACTS = "/crm/v3/objects/contacts"
WRITABLE = frozenset({"email", "firstname", "lastname", "phone", "lifecyclestage", "company"})
ALWAYS = ("createdate", "hs_object_id", "lastmodifieddate")
SEARCH_DEFAULT = ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname")
LIST_DEFAULT = ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname")
DATES = frozenset({"createdate", "lastmodifieddate"})
STAGES = ("subscriber", "lead", "customer", "opportunity")
BASE = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
BATCH_LIMIT = 100  # inputs per batch request


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def error(status: int, message: str, category: str) -> Reply:
    return Reply(status, {"status": "error", "message": message,
                          "correlationId": str(uuid.uuid4()), "category": category})


def _ms(value: Any) -> int:
    text = str(value)
    if text.isdigit():
        return int(text)
    return int(datetime.fromisoformat(text).timestamp() * 1000)


class FakeHubSpot(FakeApi):
    def __init__(self, contacts: int = 250, token: str = "pat-na1-11111111-2222-3333-4444-555555555555",
                 search_cap: int = 10_000) -> None:
        super().__init__()
        self.token = token
        self.search_cap = search_cap  # HubSpot's search never pages past 10,000 results
        self.contacts: dict[str, dict[str, Any]] = {}
        self.next_id = 101
        self.last_touch = BASE
        for i in range(contacts):
            self._add({"email": f"Contact.{i:04d}@Example.COM", "firstname": f"First{i}",
                       "lastname": f"Last{i}", "phone": f"+1 (555) 010-{i:04d}",
                       "lifecyclestage": STAGES[i % len(STAGES)]}, BASE + timedelta(minutes=i))

    @property
    def url(self) -> str:
        return self.origin

    # --- the data ---------------------------------------------------------

    def _add(self, properties: dict[str, Any], when: datetime) -> dict[str, Any]:
        cid = str(self.next_id)
        self.next_id += 1
        record = {"id": cid, "properties": {"hs_object_id": cid, "createdate": stamp(when),
                                            "lastmodifieddate": stamp(when)},
                  "createdAt": stamp(when), "updatedAt": stamp(when), "archived": False}
        record["properties"].update({k: (None if v is None else str(v)) for k, v in properties.items()})
        self.contacts[cid] = record
        return record

    def modify(self, contact_id: str, **properties: Any) -> None:
        """Change a contact as a HubSpot user would: its modified date moves on."""
        with self.lock:
            record = self.contacts[contact_id]
            record["properties"].update(properties)
            self._touch(record)

    def modify_together(self, contact_ids: list[str], **properties: Any) -> None:
        """Change contacts in one go, as an import or a bulk edit does: they
        share one modified date, to the millisecond."""
        with self.lock:
            self.last_touch = max(datetime.now(UTC), self.last_touch + timedelta(milliseconds=1))
            for cid in contact_ids:
                record = self.contacts[cid]
                record["properties"].update(properties)
                record["updatedAt"] = record["properties"]["lastmodifieddate"] = stamp(self.last_touch)

    def _touch(self, record: dict[str, Any]) -> None:
        # Milliseconds, as HubSpot keeps them; two edits never share one here.
        self.last_touch = max(datetime.now(UTC), self.last_touch + timedelta(milliseconds=1))
        record["updatedAt"] = record["properties"]["lastmodifieddate"] = stamp(self.last_touch)

    def live(self) -> list[dict[str, Any]]:
        return [r for r in self.contacts.values() if not r["archived"]]

    @staticmethod
    def shaped(record: dict[str, Any], wanted: tuple[str, ...] | list[str]) -> dict[str, Any]:
        props = record["properties"]
        # Unset properties are left out: HubSpot's description has no null property values.
        return {"id": record["id"], "properties": {p: props[p] for p in (*wanted, *ALWAYS) if props.get(p) is not None},
                "createdAt": record["createdAt"], "updatedAt": record["updatedAt"],
                "archived": record["archived"]}

    # --- routing -----------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return error(401, "Authentication credentials not found. This API supports OAuth 2.0 "
                              "authentication and you can find more details at "
                              "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                         "INVALID_AUTHENTICATION")
        route = (request.method, request.path)
        with self.lock:
            if route == ("GET", CONTACTS):
                return self.list(request)
            if route == ("POST", CONTACTS + "/search"):
                return self.search(request.body or {})
            if route == ("POST", CONTACTS):
                return self.create(request.body)
            if route == ("POST", CONTACTS + "/batch/create"):
                return self.batch_create(request.body)
            if route == ("POST", CONTACTS + "/batch/update"):
                return self.batch_update(request.body)
            m = re.fullmatch(re.escape(CONTACTS) + r"/([^/]+)", request.path)
            if m is None:
                return Reply(404)
            record = self.contacts.get(m.group(1))
            if record is None or record["archived"]:
                return error(404, "resource not found", "OBJECT_NOT_FOUND")
            if request.method == "GET":
                return Reply(200, self.shaped(record, self._wanted(request, LIST_DEFAULT)))
            if request.method == "PATCH":
                return self.update(record, request.body)
            if request.method == "DELETE":
                record["archived"] = True
                self._touch(record)
                return Reply(204)
            return Reply(405)

    @staticmethod
    def _wanted(request: Request, default: tuple[str, ...]) -> list[str]:
        asked = [p for value in request.query.get("properties", []) for p in value.split(",") if p]
        return asked or list(default)

    def list(self, request: Request) -> Reply:
        limit = int(request.arg("limit", "10") or 10)
        if not 1 <= limit <= 100:
            return error(400, f"limit must be between 1 and 100, got {limit}", "VALIDATION_ERROR")
        after = request.arg("after")
        start = int(base64.urlsafe_b64decode(after.encode())) if after else 0
        rows = sorted((r for r in self.live() if int(r["id"]) > start), key=lambda r: int(r["id"]))
        page, more = rows[:limit], len(rows) > limit
        body: dict[str, Any] = {"results": [self.shaped(r, self._wanted(request, LIST_DEFAULT)) for r in page]}
        if more:
            token = base64.urlsafe_b64encode(page[-1]["id"].encode()).decode()
            body["paging"] = {"next": {"after": token, "link": f"{self.url}{CONTACTS}?after={token}"}}
        return Reply(200, body)

    def search(self, body: dict[str, Any]) -> Reply:
        limit = int(body.get("limit", 10))
        if not 1 <= limit <= 200:
            return error(400, f"limit must be between 1 and 200, got {limit}", "VALIDATION_ERROR")
        after = int(body.get("after") or 0)
        if after >= self.search_cap:
            return error(400, f"There was a problem with the request. Search results are limited to "
                              f"{self.search_cap} records.", "VALIDATION_ERROR")
        groups = body.get("filterGroups") or []
        rows = [r for r in self.live() if not groups or any(
            all(self._matches(r, f) for f in g.get("filters", [])) for g in groups)]
        rows.sort(key=lambda r: int(r["id"]))
        for sort in reversed(body.get("sorts") or []):
            name = sort if isinstance(sort, str) else sort["propertyName"]
            descending = isinstance(sort, dict) and sort.get("direction") == "DESCENDING"
            rows.sort(key=lambda r: self._key(r, name), reverse=descending)
        wanted = body.get("properties") or SEARCH_DEFAULT
        # No result past the cap is ever sent, even on a page that starts before it.
        page = rows[after:min(after + limit, self.search_cap)]
        out: dict[str, Any] = {"total": len(rows), "results": [self.shaped(r, wanted) for r in page]}
        if after + limit < len(rows):
            out["paging"] = {"next": {"after": str(after + limit)}}
        return Reply(200, out)

    @staticmethod
    def _key(record: dict[str, Any], name: str) -> Any:
        value = record["properties"].get(name)
        return _ms(value) if name in DATES and value else (value or "")

    def _matches(self, record: dict[str, Any], f: dict[str, Any]) -> bool:
        name, op, wanted = f["propertyName"], f["operator"], f.get("value")
        value = record["properties"].get(name)
        if value is None:
            return op == "NOT_HAS_PROPERTY"
        if name in DATES:
            have, want = _ms(value), _ms(wanted)
        else:  # HubSpot compares text case-insensitively
            have, want = str(value).lower(), str(wanted).lower()
        return {"EQ": have == want, "NEQ": have != want, "GT": have > want, "GTE": have >= want,
                "LT": have < want, "LTE": have <= want, "HAS_PROPERTY": True}[op]

    def _properties(self, body: Any) -> dict[str, Any] | Reply:
        props = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(props, dict):
            return error(400, "Invalid input JSON: the body needs a properties object", "VALIDATION_ERROR")
        unknown = sorted(set(props) - WRITABLE)
        if unknown:
            return error(400, f"Property values were not valid: {unknown} do not exist",
                         "VALIDATION_ERROR")
        return props

    def create(self, body: Any) -> Reply:
        props = self._properties(body)
        if isinstance(props, Reply):
            return props
        email = str(props.get("email") or "").lower()
        clash = next((r for r in self.live() if email and (r["properties"].get("email") or "").lower() == email), None)
        if clash is not None:
            return error(409, f"Contact already exists. Existing ID: {clash['id']}", "CONFLICT")
        record = self._add(props, datetime.now(UTC))
        return Reply(201, self.shaped(record, list(props)))

    def update(self, record: dict[str, Any], body: Any) -> Reply:
        props = self._properties(body)
        if isinstance(props, Reply):
            return props
        record["properties"].update({k: (None if v in (None, "") else str(v)) for k, v in props.items()})
        self._touch(record)
        return Reply(200, self.shaped(record, list(props)))

    @staticmethod
    def _inputs(body: Any) -> list[Any] | Reply:
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list):
            return error(400, "Invalid input JSON: the body needs an inputs array", "VALIDATION_ERROR")
        if len(inputs) > BATCH_LIMIT:
            return error(400, f"Batch input size of {len(inputs)} exceeds the limit of {BATCH_LIMIT}",
                         "VALIDATION_ERROR")
        return inputs

    def batch_create(self, body: Any) -> Reply:
        inputs = self._inputs(body)
        if isinstance(inputs, Reply):
            return inputs
        checked = []
        for item in inputs:
            props = self._properties(item)
            if isinstance(props, Reply):
                return props
            checked.append(props)
        owners = {(r["properties"].get("email") or "").lower(): r["id"] for r in self.live()}
        emails = [str(p.get("email") or "").lower() for p in checked]
        for email in emails:
            if email in owners and email:
                return error(409, f"Contact already exists. Existing ID: {owners[email]}", "CONFLICT")
        if len({e for e in emails if e}) < len([e for e in emails if e]):
            return error(400, "Duplicate email in the batch", "VALIDATION_ERROR")
        now = datetime.now(UTC)
        created = [self.shaped(self._add(props, now), list(props)) for props in checked]
        return Reply(201, {"status": "COMPLETE", "results": created[::-1],
                           "startedAt": stamp(now), "completedAt": stamp(now)})

    def batch_update(self, body: Any) -> Reply:
        inputs = self._inputs(body)
        if isinstance(inputs, Reply):
            return inputs
        checked = []
        for item in inputs:
            props = self._properties(item)
            if isinstance(props, Reply):
                return props
            checked.append((str(item.get("id") or ""), props))
        results, errors = [], []
        for cid, props in checked:
            record = self.contacts.get(cid)
            if record is None or record["archived"]:
                errors.append({"status": "error", "category": "OBJECT_NOT_FOUND",
                               "message": f"Could not find a contact with id {cid}", "context": {"ids": [cid]}})
                continue
            record["properties"].update({k: (None if v in (None, "") else str(v)) for k, v in props.items()})
            self._touch(record)
            results.append(self.shaped(record, list(props)))
        now = stamp(datetime.now(UTC))
        out: dict[str, Any] = {"status": "COMPLETE", "results": results[::-1], "startedAt": now, "completedAt": now}
        if errors:
            out.update(numErrors=len(errors), errors=errors)
        return Reply(207 if errors else 200, out)
