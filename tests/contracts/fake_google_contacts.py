"""A fake Google People API (contacts) and OAuth token endpoint, strict about what it accepts.

Built from Google's reference pages and the discovery document (cited in
connectors.d/google-contacts.yaml; every exchange is also judged by
tests/contracts/discovery_contract.py):

- OAuth 2.0 (POST /token, form grant_type=refresh_token, client_id,
  client_secret, refresh_token; answer {access_token, expires_in, scope,
  token_type}; a wrong refresh token 400 invalid_grant, a wrong client 401
  invalid_client). API calls need ``Authorization: Bearer`` with a token it
  issued, else 401 UNAUTHENTICATED.
- Errors are Google's JSON error model {"error": {code, message, status,
  details}} (https://cloud.google.com/apis/design/errors).
- people.connections.list: personFields required and each path known;
  pageSize 1 to 1000 (default 100); pageToken and syncToken only with the
  same other parameters as the call they came from; requestSyncToken gives
  nextSyncToken on the last page; with syncToken only the people changed
  since, a deleted one as {resourceName, etag, metadata: {deleted: true}};
  a token from before ``expire_sync_tokens()`` is refused with 400
  FAILED_PRECONDITION and an ErrorInfo reason EXPIRED_SYNC_TOKEN. An empty
  list is left out of an answer, as proto3 JSON does.
- people.get, createContact, updateContact (updatePersonFields required;
  metadata.sources with the contact source's current etag required, else
  400; every field the mask names is replaced, cleared when the body lacks
  it; fields of the body the mask does not name are ignored, and kept in
  ``ignored`` for tests), deleteContact.
- people.searchContacts: query and readMask required; pageSize capped at
  30; prefix matches on names, emails, phones and organizations, against
  a cache refreshed only by a warm-up request (an empty query), as Google's
  guide describes.
- names and biographies are singletons (400 for more than one); output-only
  values sent back (displayName, canonicalForm, metadata.primary …) are
  ignored (AIP-203) and computed again.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote

from fakes import FakeApi, Reply, Request

BASE = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
# The person fields this fake keeps (those the spec reads and writes, and a few more).
LIST_FIELDS = ("names", "emailAddresses", "phoneNumbers", "organizations", "biographies", "urls")
SINGLETONS = frozenset({"names", "biographies", "birthdays", "genders"})
# The paths the personFields / readMask / updatePersonFields masks accept (from the reference).
READ_PATHS = frozenset(
    "addresses ageRanges biographies birthdays calendarUrls clientData coverPhotos emailAddresses events "
    "externalIds genders imClients interests locales locations memberships metadata miscKeywords names "
    "nicknames occupations organizations phoneNumbers photos relations sipAddresses skills urls "
    "userDefined".split())
UPDATE_PATHS = frozenset(
    "addresses biographies birthdays calendarUrls clientData emailAddresses events externalIds genders "
    "imClients interests locales locations memberships miscKeywords names nicknames occupations "
    "organizations phoneNumbers relations sipAddresses urls userDefined".split())
LIST_PARAMS = frozenset({"pageToken", "pageSize", "sortOrder", "requestSyncToken", "syncToken", "personFields",
                         "sources", "requestMask.includeField"})
# Values only the server sets: dropped from what a client sends (AIP-203).
OUTPUT_ONLY = frozenset({"displayName", "displayNameLastFirst", "canonicalForm", "formattedType"})
EXPIRED_MESSAGE = "Sync token is expired. Clear local cache and retry call without the sync token."


def error(code: int, status: str, message: str, reason: str | None = None) -> Reply:
    body: dict[str, Any] = {"code": code, "message": message, "status": status}
    if reason is not None:
        body["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                            "domain": "people.googleapis.com"}]
    return Reply(code, {"error": body})


def _token(kind: str, data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps({"k": kind, **data}, sort_keys=True).encode()).decode()


def _untoken(kind: str, text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(base64.urlsafe_b64decode(text.encode()))
    except ValueError:
        return None
    return data if isinstance(data, dict) and data.get("k") == kind else None


class FakeGoogleContacts(FakeApi):
    def __init__(self, contacts: int = 0, *, client_id: str = "123-abc.apps.googleusercontent.com",
                 client_secret: str = "GOCSPX-fake-secret-0123", refresh_token: str = "1//0g-fake-refresh") -> None:
        super().__init__()
        self.client_id, self.client_secret, self.refresh_token = client_id, client_secret, refresh_token
        self.access_tokens: set[str] = set()
        self.people: dict[str, dict[str, Any]] = {}  # by resource name, tombstones included, oldest first
        self.version = 0  # counts changes; a sync token remembers the one it was given at
        self.expired_before = 0  # sync tokens given before this version are expired
        self.clock = BASE
        self.ignored: list[tuple[str, str]] = []  # (resource name, field) an update sent but did not name
        self.search_cache: list[dict[str, Any]] = []  # what searchContacts sees until the next warm-up
        self.warmups = 0
        for i in range(contacts):
            self.add({"names": [{"givenName": f"Person{i}", "familyName": "Example"}],
                      "emailAddresses": [{"value": f"person.{i:04d}@example.com", "type": "work"}],
                      "phoneNumbers": [{"value": f"+44 20 7946 {i:04d}", "type": "mobile"}]})
        self._refresh_search()

    @property
    def url(self) -> str:
        return self.origin

    @property
    def token_url(self) -> str:
        return self.origin + "/token"

    # --- the store -------------------------------------------------------------------

    def _tick(self) -> datetime:
        self.version += 1
        self.clock += timedelta(seconds=1)
        return self.clock

    def _stamp(self, person: dict[str, Any]) -> None:
        when = self._tick()
        tag = base64.b64encode(f"{person['resourceName']}:{self.version}".encode()).decode()
        person["etag"] = "%" + tag
        source = person["metadata"]["sources"][0]
        source["etag"] = "#" + tag
        source["updateTime"] = when.isoformat(timespec="microseconds").replace("+00:00", "Z")
        person["_v"] = self.version

    def _fields_from(self, body: dict[str, Any], source: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        fields: dict[str, list[dict[str, Any]]] = {}
        for name in LIST_FIELDS:
            items = body.get(name)
            if not items:
                continue
            clean = []
            for n, item in enumerate(items):
                item = {k: copy.deepcopy(v) for k, v in item.items() if k not in OUTPUT_ONLY and k != "metadata"}
                item["metadata"] = {"primary": n == 0, "sourcePrimary": n == 0,
                                    "source": {"type": "CONTACT", "id": source["id"]}}
                if name == "names":
                    item["displayName"] = " ".join(p for p in (item.get("givenName"), item.get("familyName")) if p)
                if name == "phoneNumbers":
                    item["canonicalForm"] = "+" + re.sub(r"\D", "", item.get("value", ""))
                clean.append(item)
            fields[name] = clean
        return fields

    def add(self, body: dict[str, Any]) -> dict[str, Any]:
        """A contact made on Google's side (the person's fields as the API writes them)."""
        with self.lock:
            n = len(self.people) + 1
            source = {"type": "CONTACT", "id": f"{n:x}a0f"}
            person: dict[str, Any] = {"resourceName": f"people/c{n}000{n}",
                                      "metadata": {"sources": [source], "objectType": "PERSON"}}
            person.update(self._fields_from(body, source))
            self._stamp(person)
            self.people[person["resourceName"]] = person
            return person

    def edit(self, name: str, **fields: Any) -> None:
        """A change made on Google's side: each given person field replaced."""
        with self.lock:
            person = self.people[name]
            source = person["metadata"]["sources"][0]
            for key, value in self._fields_from(fields, source).items():
                person[key] = value
            self._stamp(person)

    def remove(self, name: str) -> None:
        with self.lock:
            person = self.people[name]
            for key in LIST_FIELDS:
                person.pop(key, None)
            person["metadata"]["deleted"] = True
            self._stamp(person)

    def expire_sync_tokens(self) -> None:
        """Every sync token given so far is now older than 7 days."""
        with self.lock:
            self.expired_before = self.version + 1

    def live(self) -> list[dict[str, Any]]:
        return [p for p in self.people.values() if not p["metadata"].get("deleted")]

    def _refresh_search(self) -> None:
        self.search_cache = copy.deepcopy(self.live())

    @staticmethod
    def _view(person: dict[str, Any], mask: set[str]) -> dict[str, Any]:
        out = {"resourceName": person["resourceName"], "etag": person["etag"]}
        deleted = person["metadata"].get("deleted")
        for key, value in person.items():
            if key == "metadata" and (deleted or key in mask):
                out[key] = copy.deepcopy(value)
            elif key in mask and key in LIST_FIELDS and value:
                out[key] = copy.deepcopy(value)
        return out

    # --- HTTP ------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        if request.path == "/token":
            return self._token(request)
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.access_tokens:
            return error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 "
                         "access token, login cookie or other valid authentication credential.")
        path, method = unquote(request.path), request.method
        with self.lock:
            if method == "GET" and path == "/v1/people/me/connections":
                return self._connections(request)
            if method == "GET" and path == "/v1/people:searchContacts":
                return self._search(request)
            if method == "POST" and path == "/v1/people:createContact":
                return self._create(request)
            found = re.fullmatch(r"/v1/(people/[^/:]+)(:updateContact|:deleteContact)?", path)
            if found is None:
                return error(404, "NOT_FOUND", f"Method not found: {method} {request.path}")
            name, verb = found.groups()
            if (method, verb) not in (("GET", None), ("PATCH", ":updateContact"), ("DELETE", ":deleteContact")):
                return error(404, "NOT_FOUND", f"Method not found: {method} {request.path}")
            person = self.people.get(name)
            if person is None or person["metadata"].get("deleted"):
                return error(404, "NOT_FOUND", "Requested entity was not found.")
            if method == "GET":
                mask = self._mask(request, "personFields", READ_PATHS, required=True)
                return mask if isinstance(mask, Reply) else Reply(200, self._view(person, mask))
            if method == "DELETE":
                if request.query:
                    return error(400, "INVALID_ARGUMENT", f"Invalid JSON payload received. Unknown name "
                                 f"{next(iter(request.query))!r}: Cannot bind query parameter.")
                self.remove(name)
                return Reply(200, {})
            return self._update(request, person)

    def _token(self, request: Request) -> Reply:
        form = {k: v[-1] for k, v in parse_qs(request.raw.decode()).items()}
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return Reply(401, {"error": "invalid_client", "error_description": "Unauthorized"})
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != self.refresh_token:
            return Reply(400, {"error": "invalid_grant", "error_description": "Bad Request"})
        token = f"ya29.fake-access-{len(self.access_tokens) + 1}"
        self.access_tokens.add(token)
        return Reply(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer",
                           "scope": "https://www.googleapis.com/auth/contacts"})

    def _mask(self, request: Request, param: str, allowed: frozenset[str], *, required: bool) -> set[str] | Reply:
        text = request.arg(param)
        if not text:
            if required:
                return error(400, "INVALID_ARGUMENT", f"{param} mask is required. Please specify one or more "
                             "valid paths. Valid paths are documented at "
                             "https://developers.google.com/people/api/rest/v1/people/get.")
            return set(allowed)
        paths = set(text.split(","))
        unknown = sorted(paths - allowed)
        if unknown:
            return error(400, "INVALID_ARGUMENT", f"Invalid {param} mask path: \"{unknown[0]}\". Valid paths "
                         "are documented at https://developers.google.com/people/api/rest/v1/people/get.")
        return paths

    def _unknown(self, request: Request, known: frozenset[str]) -> Reply | None:
        unknown = sorted(set(request.query) - known)
        if unknown:
            return error(400, "INVALID_ARGUMENT", f"Invalid JSON payload received. Unknown name \"{unknown[0]}\": "
                         "Cannot bind query parameter. Field '{unknown[0]}' could not be found in request message.")
        return None

    def _connections(self, request: Request) -> Reply:
        bad = self._unknown(request, LIST_PARAMS)
        if bad is not None:
            return bad
        mask = self._mask(request, "personFields", READ_PATHS, required=True)
        if isinstance(mask, Reply):
            return mask
        size = int(request.arg("pageSize") or 0) or 100
        if not 1 <= size <= 1000:
            return error(400, "INVALID_ARGUMENT", "Page size must be between 1 and 1000 (inclusive).")
        params = {k: v for k, v in sorted(request.query.items()) if k != "pageToken"}
        offset = 0
        if request.arg("pageToken"):
            page = _untoken("page", request.arg("pageToken") or "")
            if page is None:
                return error(400, "INVALID_ARGUMENT", "Page token is not valid.")
            if page["params"] != params:
                return error(400, "INVALID_ARGUMENT", "Parameters provided to connections.list must match "
                             "the call that provided the page token.")
            offset = page["offset"]
        rows = self.live()
        if request.arg("syncToken") is not None:
            sync = _untoken("sync", request.arg("syncToken") or "")
            if sync is None:
                return error(400, "INVALID_ARGUMENT", "Sync token is not valid.")
            if sync["v"] < self.expired_before:
                return error(400, "FAILED_PRECONDITION", EXPIRED_MESSAGE, reason="EXPIRED_SYNC_TOKEN")
            if sync["params"] != {k: v for k, v in params.items() if k != "syncToken"}:
                return error(400, "INVALID_ARGUMENT", "Parameters provided to connections.list must match "
                             "the call that provided the sync token.")
            rows = [p for p in self.people.values() if p["_v"] > sync["v"]]
        chunk = rows[offset:offset + size]
        body: dict[str, Any] = {"totalPeople": len(rows), "totalItems": len(rows)}
        if chunk:
            body["connections"] = [self._view(p, mask) for p in chunk]
        if offset + size < len(rows):
            body["nextPageToken"] = _token("page", {"offset": offset + size, "params": params})
        elif request.arg("requestSyncToken") == "true":
            first = {k: v for k, v in params.items() if k != "syncToken"}
            body["nextSyncToken"] = _token("sync", {"v": self.version, "params": first})
        return Reply(200, body)

    def _search(self, request: Request) -> Reply:
        bad = self._unknown(request, frozenset({"query", "readMask", "pageSize", "sources"}))
        if bad is not None:
            return bad
        mask = self._mask(request, "readMask", READ_PATHS, required=True)
        if isinstance(mask, Reply):
            return mask
        query = request.arg("query")
        if query is None:
            return error(400, "INVALID_ARGUMENT", "query is required.")
        if query == "":  # the warm-up request: brings the cache up to date
            self.warmups += 1
            self._refresh_search()
            return Reply(200, {})
        size = min(int(request.arg("pageSize") or 10) or 10, 30)
        wanted = query.lower()
        hits = [p for p in self.search_cache if any(
            text.lower().startswith(wanted) for text in self._searchable(p))][:size]
        return Reply(200, {"results": [{"person": self._view(p, mask)} for p in hits]} if hits else {})

    @staticmethod
    def _searchable(person: dict[str, Any]) -> list[str]:
        texts: list[str] = []
        for name in person.get("names", []):
            texts += [name.get("givenName", ""), name.get("familyName", ""), name.get("displayName", "")]
        texts += [e.get("value", "") for e in person.get("emailAddresses", [])]
        texts += [p.get("value", "") for p in person.get("phoneNumbers", [])]
        texts += [o.get("name", "") for o in person.get("organizations", [])]
        return [t for t in texts if t]

    def _singletons(self, body: dict[str, Any]) -> Reply | None:
        for name in SINGLETONS:
            if len(body.get(name) or []) > 1:
                return error(400, "INVALID_ARGUMENT", f"Only one {name} field is allowed for a contact source.")
        return None

    def _create(self, request: Request) -> Reply:
        bad = self._unknown(request, frozenset({"personFields", "sources"}))
        if bad is not None:
            return bad
        mask = self._mask(request, "personFields", READ_PATHS, required=True)
        if isinstance(mask, Reply):
            return mask
        body = request.body if isinstance(request.body, dict) else {}
        bad = self._singletons(body)
        if bad is not None:
            return bad
        person = self.add(body)
        return Reply(200, self._view(person, mask))

    def _update(self, request: Request, person: dict[str, Any]) -> Reply:
        bad = self._unknown(request, frozenset({"updatePersonFields", "personFields", "sources"}))
        if bad is not None:
            return bad
        fields = self._mask(request, "updatePersonFields", UPDATE_PATHS, required=True)
        if isinstance(fields, Reply):
            return fields
        mask = self._mask(request, "personFields", READ_PATHS, required=False)
        if isinstance(mask, Reply):
            return mask
        body = request.body if isinstance(request.body, dict) else {}
        sources = (body.get("metadata") or {}).get("sources") or []
        contact = next((s for s in sources if s.get("type") == "CONTACT"), None)
        if contact is None:
            return error(400, "INVALID_ARGUMENT", "Request must set person.metadata.sources for the contact "
                         "source that is being updated.")
        current = person["metadata"]["sources"][0]["etag"]
        if contact.get("etag") != current or body.get("etag", person["etag"]) != person["etag"]:
            return error(400, "FAILED_PRECONDITION", "Request person.etag is different than the current "
                         "person.etag. Clear local cache and get the latest person.", reason="failedPrecondition")
        bad = self._singletons(body)
        if bad is not None:
            return bad
        for key in body:
            if key in UPDATE_PATHS and key not in fields:
                self.ignored.append((person["resourceName"], key))
        source = person["metadata"]["sources"][0]
        new = self._fields_from({k: v for k, v in body.items() if k in fields}, source)
        for key in fields:
            if key in new:
                person[key] = new[key]
            else:
                person.pop(key, None)  # named and not sent: cleared, as Google does
        self._stamp(person)
        return Reply(200, self._view(person, mask))
