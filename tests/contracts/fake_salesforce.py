"""A fake Salesforce org: REST API v68.0 (Contact, Lead) and its OAuth token endpoint, strict.

Salesforce publishes no OpenAPI description of its core REST API for
general use (a beta one is generated per org, behind a login), so this fake
is built from the reference pages (cited in connectors.d/salesforce.yaml):

- Query (GET /services/data/vXX.X/query?q=SOQL): ``{totalSize, done,
  records, nextRecordsUrl}`` with up to 2,000 records a batch; the next
  batch is GET on ``nextRecordsUrl``, a host-relative path
  ``/services/data/vXX.X/query/<locator>-<offset>`` taking no parameters; an
  invalid query is 400 MALFORMED_QUERY.
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_query.htm
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_query.htm
- SOQL: a dateTime literal is unquoted, ``YYYY-MM-DDThh:mm:ssZ`` or with a
  ``±hh:mm`` offset; a string literal is quoted with ``'`` and escapes
  ``\\'``, ``\\\\``, ``\\"``, ``\\n``…; a comparison with ``=`` on a string is
  case-insensitive.
  https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_dateformats.htm
  https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_quotedstringescapes.htm
  https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_reservedcharacters.htm
- sObject rows (GET|PATCH|DELETE /sobjects/{type}/{id}, GET with an optional
  ``fields`` list) and create (POST /sobjects/{type}, 201 ``{"id",
  "success": true, "errors": []}``); PATCH and DELETE answer 204.
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_sobject_retrieve.htm
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_sobject_create.htm
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_update_fields.htm
- Errors: a JSON list ``[{"message", "errorCode", "fields"?}]`` (404
  NOT_FOUND, ENTITY_IS_DELETED; 400 INVALID_FIELD, REQUIRED_FIELD_MISSING,
  MALFORMED_QUERY; 401 INVALID_SESSION_ID "Session expired or invalid").
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
- sObject Collections update (PATCH /composite/sobjects, ``{allOrNone,
  records}``, up to 200 records, each with ``attributes.type`` and ``id``):
  200 with one SaveResult ``{id, success, errors: [{statusCode, message,
  fields}]}`` per record, in the order sent; 400 for a malformed request.
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_update.htm
- ``Sforce-Limit-Info: api-usage=USED/LIMIT`` on every answer of the data API.
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm
- OAuth 2.0 refresh token flow (POST /services/oauth2/token, form-encoded
  ``grant_type=refresh_token``, client id and secret in the body or as HTTP
  Basic): ``{access_token, signature, scope, instance_url, id, token_type,
  issued_at}`` and, with refresh token rotation on, a new ``refresh_token``;
  the old one is then dead, and using it revokes the chain.
  https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_refresh_token_flow.htm

The query parser reads only the SOQL shapes the shipped spec sends:
``SELECT fields FROM Contact|Lead [WHERE field =|> literal] [ORDER BY
fields] [LIMIT n]``; anything else is MALFORMED_QUERY, as a query
Salesforce cannot parse is.
"""

from __future__ import annotations

import base64
import itertools
import re
import secrets
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from fakes import FakeApi, Reply, Request

VERSION = "68.0"
BASE = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
BATCH = 2000  # records a query batch, at most
API_LIMIT = 15000  # a Developer Edition org's daily API requests
PREFIX = {"Contact": "003", "Lead": "00Q"}
READ_ONLY = frozenset({"Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp"})
# The standard fields the fake models, by object, besides READ_ONLY.
WRITABLE = {
    "Contact": frozenset({"Email", "FirstName", "LastName", "Phone", "MobilePhone", "Title", "Department",
                          "AccountId", "LeadSource", "HasOptedOutOfEmail"}),
    "Lead": frozenset({"Email", "FirstName", "LastName", "Phone", "MobilePhone", "Title", "Company", "Status",
                       "LeadSource", "HasOptedOutOfEmail"}),
}
REQUIRED = {"Contact": ("LastName",), "Lead": ("LastName", "Company")}
DEFAULTS = {"Contact": {"HasOptedOutOfEmail": False},
            "Lead": {"HasOptedOutOfEmail": False, "Status": "Open - Not Contacted"}}

_LIST = r"\w+(?:\.\w+)?(?:, ?\w+(?:\.\w+)?)*"
_STRING = r"'(?:[^'\\]|\\[nNrRtTbBfF\"'\\])*'"  # any other backslash is an error
_DATETIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:Z|[+-]\d\d:\d\d)"
QUERY = re.compile(
    rf"SELECT (?P<fields>{_LIST}) FROM (?P<object>\w+)"
    rf"(?: WHERE (?P<field>\w+) (?P<op>=|>) (?P<value>{_STRING}|{_DATETIME}))?"
    rf"(?: ORDER BY (?P<order>{_LIST}))?(?: LIMIT (?P<limit>\d+))?")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}  # and their capitals


def errors(status: int, code: str, message: str, fields: list[str] | None = None) -> Reply:
    item: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        item["fields"] = fields
    return Reply(status, [item])


def stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def unquote(literal: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1).lower(), m.group(1)), literal[1:-1])


class FakeSalesforce(FakeApi):
    def __init__(self, contacts: int = 200, leads: int = 20, *, batch: int = BATCH,
                 client_id: str = "3MVG9fake.consumer.key", client_secret: str = "fake-consumer-secret",
                 refresh_token: str = "5Aep861fake.refresh.token.0", rotate: bool = True) -> None:
        super().__init__()
        self.batch = batch
        self.client_id, self.client_secret = client_id, client_secret
        self.refresh_token: str | None = refresh_token
        self.dead_refresh_tokens: set[str] = set()
        self.rotate = rotate
        self.access_tokens: set[str] = set()
        self.token_requests = 0
        self.used = 0
        self.rows: dict[str, dict[str, dict[str, Any]]] = {"Contact": {}, "Lead": {}}  # type -> id -> row
        self.deleted: set[str] = set()
        self.locators: dict[str, list[dict[str, Any]]] = {}
        self.hide_created = False  # GET answers 404 for records created while set (a lagging read)
        self.hidden: set[str] = set()
        self.clock = BASE
        self._ids = itertools.count(1)
        self._clock_lock = threading.Lock()
        for i in range(contacts):
            self._add("Contact", {"Email": f"person.{i:04d}@example.com", "FirstName": f"Person{i}",
                                  "LastName": "Example", "Phone": f"+1 415 555 {i:04d}", "Title": "Engineer"},
                      BASE + timedelta(minutes=i))
        for i in range(leads):
            self._add("Lead", {"Email": f"lead.{i:04d}@example.com", "FirstName": f"Lead{i}", "LastName": "Prospect",
                               "Company": f"Company {i}"}, BASE + timedelta(minutes=i))

    @property
    def url(self) -> str:
        """The org's My Domain URL (the spec's base_url setting)."""
        return self.origin

    @property
    def token_url(self) -> str:
        return self.origin + "/services/oauth2/token"

    # --- the data ---------------------------------------------------------------

    def _add(self, kind: str, values: dict[str, Any], when: datetime) -> dict[str, Any]:
        rid = f"{PREFIX[kind]}Dn0000{next(self._ids):06d}AAA"  # 18 characters, as Salesforce's ids
        row: dict[str, Any] = {"Id": rid, "IsDeleted": False, **{f: None for f in WRITABLE[kind]},
                               **DEFAULTS[kind], **values,
                               "CreatedDate": stamp(when), "LastModifiedDate": stamp(when),
                               "SystemModstamp": stamp(when)}
        self.rows[kind][rid] = row
        return row

    def _tick(self) -> datetime:
        # Salesforce keeps dateTime values to the second: each change a second on
        with self._clock_lock:
            now = datetime.now(UTC).replace(microsecond=0)
            self.clock = max(now, self.clock + timedelta(seconds=1))
            return self.clock

    def modify(self, kind: str, rid: str, **values: Any) -> None:
        """Change a record as a Salesforce user would: its SystemModstamp moves on."""
        with self.lock:
            row = self.rows[kind][rid]
            row.update(values)
            row["LastModifiedDate"] = row["SystemModstamp"] = stamp(self._tick())

    def find_email(self, kind: str, email: str) -> list[dict[str, Any]]:
        return [r for r in self.rows[kind].values() if (r["Email"] or "").lower() == email.lower()]

    # --- HTTP -------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        with self.lock:
            if request.path == "/services/oauth2/token":
                return self.token(request)
            auth = request.headers.get("authorization", "")
            if not auth.startswith("Bearer ") or auth[7:] not in self.access_tokens:
                return errors(401, "INVALID_SESSION_ID", "Session expired or invalid")
            self.used += 1
            reply = self._route(request)
            reply.headers["Sforce-Limit-Info"] = f"api-usage={self.used}/{API_LIMIT}"
            return reply

    def _route(self, request: Request) -> Reply:
        m = re.fullmatch(r"/services/data/v(\d+\.\d)(/.*)", request.path)
        if m is None or float(m.group(1)) > float(VERSION) or float(m.group(1)) < 31.0:
            return errors(404, "NOT_FOUND", "The requested resource does not exist")
        rest = m.group(2)
        if rest == "/query" and request.method == "GET":
            return self.query(request)
        more = re.fullmatch(r"/query/(01g\w+)-(\d+)", rest)
        if more is not None and request.method == "GET":
            if request.query:
                return errors(400, "MALFORMED_QUERY", "the next batch URL takes no parameters")
            return self.batch_of(more.group(1), int(more.group(2)))
        if rest == "/composite/sobjects":
            if request.method != "PATCH":
                return errors(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed. "
                              "The fake allows PATCH")
            return self.update_collection(request.body)
        one = re.fullmatch(r"/sobjects/(\w+)(?:/(\w+))?", rest)
        if one is None or one.group(1) not in self.rows:
            return errors(404, "NOT_FOUND", "The requested resource does not exist")
        kind, rid = one.groups()
        if rid is None:
            if request.method != "POST":
                return errors(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed. "
                              "Allowed are HEAD,GET,POST")
            return self.create(kind, request.body)
        if rid in self.deleted:
            return errors(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        row = self.rows[kind].get(rid)
        if row is None or (request.method == "GET" and rid in self.hidden):
            return errors(404, "NOT_FOUND", "The requested resource does not exist")
        if request.method == "GET":
            return self.get(kind, row, request)
        if request.method == "PATCH":
            return self.update(kind, row, request.body)
        if request.method == "DELETE":
            del self.rows[kind][rid]
            self.deleted.add(rid)
            return Reply(204)
        return errors(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed. "
                      "Allowed are HEAD,GET,PATCH,DELETE")

    def token(self, request: Request) -> Reply:
        self.token_requests += 1
        if request.method != "POST":
            return Reply(400, {"error": "invalid_request", "error_description": "must use HTTP POST"})
        form = {k: v[-1] for k, v in parse_qs(request.raw.decode()).items()}
        basic = request.headers.get("authorization", "")
        if basic.startswith("Basic "):
            cid, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        else:
            cid, secret = form.get("client_id", ""), form.get("client_secret", "")
        if form.get("grant_type") != "refresh_token":
            return Reply(400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"})
        if cid != self.client_id:
            return Reply(400, {"error": "invalid_client_id", "error_description": "client identifier invalid"})
        if secret != self.client_secret:
            return Reply(400, {"error": "invalid_client", "error_description": "invalid client credentials"})
        given = form.get("refresh_token", "")
        if given in self.dead_refresh_tokens:
            # a rotated-out token used again: the whole chain is revoked
            self.refresh_token = None
            self.access_tokens.clear()
        if given != self.refresh_token or self.refresh_token is None:
            return Reply(400, {"error": "invalid_grant", "error_description": "expired access/refresh token"})
        access = "00DDn0000000001!AQ" + secrets.token_urlsafe(24)
        self.access_tokens.add(access)
        body = {"access_token": access, "signature": base64.b64encode(secrets.token_bytes(32)).decode(),
                "scope": "refresh_token api", "instance_url": self.origin,
                "id": "https://login.salesforce.com/id/00DDn0000000001/005Dn0000000001",
                "token_type": "Bearer", "issued_at": str(int(self.clock.timestamp() * 1000))}
        if self.rotate:
            self.dead_refresh_tokens.add(given)
            self.refresh_token = body["refresh_token"] = "5Aep861" + secrets.token_urlsafe(24)
        return Reply(200, body)

    # --- query ------------------------------------------------------------------

    def query(self, request: Request) -> Reply:
        unknown = sorted(set(request.query) - {"q"})
        if unknown or not request.arg("q"):
            return errors(400, "MALFORMED_QUERY", "A query must be given as the q parameter")
        text = request.arg("q") or ""
        m = QUERY.fullmatch(text)
        if m is None:
            return errors(400, "MALFORMED_QUERY", f"unexpected token in: {text[:80]}")
        kind = m.group("object")
        if kind not in self.rows:
            return errors(400, "INVALID_TYPE", f"sObject type '{kind}' is not supported.")
        known = {name.lower(): name for name in WRITABLE[kind] | READ_ONLY}  # SOQL names are case-insensitive
        names = [f.strip() for f in m.group("fields").split(",")]
        names += [f.strip() for f in (m.group("order") or "").split(",") if f.strip()]
        names += [m.group("field")] if m.group("field") else []
        for name in names:
            if name.lower() not in known:
                return errors(400, "INVALID_FIELD", f"No such column '{name}' on entity '{kind}'.")
        selected = [known[f.strip().lower()] for f in m.group("fields").split(",")]
        order = [known[f.strip().lower()] for f in (m.group("order") or "").split(",") if f.strip()]
        rows = list(self.rows[kind].values())
        if m.group("field"):
            rows = self._where(rows, known[m.group("field").lower()], m.group("op"), m.group("value"))
            if isinstance(rows, Reply):
                return rows
        for name in reversed(order):
            rows.sort(key=lambda r: (r[name] is None, r[name] if r[name] is not None else ""))
        if m.group("limit"):
            rows = rows[:int(m.group("limit"))]
        shaped = [self._shape(kind, r, selected) for r in rows]
        locator = f"01gDn0000{len(self.locators) + 1:06d}"
        self.locators[locator] = shaped
        return self.batch_of(locator, 0)

    def _where(self, rows: list[dict[str, Any]], field: str, op: str, value: str) -> list[dict[str, Any]] | Reply:
        if value.startswith("'"):
            if op != "=":
                return errors(400, "MALFORMED_QUERY", "the fake compares strings with = only")
            wanted = unquote(value).lower()
            return [r for r in rows if isinstance(r[field], str) and r[field].lower() == wanted]
        if field not in ("SystemModstamp", "LastModifiedDate", "CreatedDate"):
            return errors(400, "INVALID_FIELD", f"value of filter criterion for field '{field}' must be of "
                          "type string and should be enclosed in quotes")
        since = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return [r for r in rows if datetime.fromisoformat(r[field]) > since] if op == ">" else \
            [r for r in rows if datetime.fromisoformat(r[field]) == since]

    def batch_of(self, locator: str, offset: int) -> Reply:
        shaped = self.locators.get(locator)
        if shaped is None or offset > len(shaped):
            return errors(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        end = offset + self.batch
        body: dict[str, Any] = {"totalSize": len(shaped), "done": end >= len(shaped),
                                "records": shaped[offset:end]}
        if end < len(shaped):
            body["nextRecordsUrl"] = f"/services/data/v{VERSION}/query/{locator}-{end}"
        return Reply(200, body)

    def _shape(self, kind: str, row: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        return {"attributes": {"type": kind, "url": f"/services/data/v{VERSION}/sobjects/{kind}/{row['Id']}"},
                **{f: row[f] for f in fields}}

    # --- sObject rows -------------------------------------------------------------

    def get(self, kind: str, row: dict[str, Any], request: Request) -> Reply:
        unknown = sorted(set(request.query) - {"fields"})
        if unknown:
            return errors(400, "INVALID_QUERY_FILTER_OPERATOR", f"unexpected parameter: {unknown[0]}")
        wanted = request.arg("fields")
        fields = [f.strip() for f in wanted.split(",")] if wanted else sorted(row)
        for name in fields:
            if name not in row:
                return errors(400, "INVALID_FIELD", f"No such column '{name}' on entity '{kind}'.")
        return Reply(200, self._shape(kind, row, fields))

    def _check_values(self, kind: str, body: Any) -> Reply | None:
        if not isinstance(body, dict):
            return errors(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        for name in body:
            if name in READ_ONLY:
                return errors(400, "INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to create/update fields: {name}. "
                              "Please check the security settings of this field and verify that it is "
                              "read/write for your profile or permission set.", [name])
            if name not in WRITABLE[kind]:
                return errors(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {kind}")
        return None

    def create(self, kind: str, body: Any) -> Reply:
        refused = self._check_values(kind, body)
        if refused is not None:
            return refused
        missing = [f for f in REQUIRED[kind] if not body.get(f)]
        if missing:
            return errors(400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]",
                          missing)
        row = self._add(kind, dict(body), self._tick())
        if self.hide_created:
            self.hidden.add(row["Id"])
        return Reply(201, {"id": row["Id"], "success": True, "errors": []})

    def update(self, kind: str, row: dict[str, Any], body: Any) -> Reply:
        refused = self._check_values(kind, body)
        if refused is not None:
            return refused
        missing = [f for f in REQUIRED[kind] if f in body and not body[f]]
        if missing:
            return errors(400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]",
                          missing)
        row.update(body)
        row["LastModifiedDate"] = row["SystemModstamp"] = stamp(self._tick())
        return Reply(204)

    def update_collection(self, body: Any) -> Reply:
        if not isinstance(body, dict) or not isinstance(body.get("records"), list) \
                or set(body) - {"allOrNone", "records"}:
            return errors(400, "JSON_PARSER_ERROR", "The request body must be {allOrNone, records: [...]}")
        if body.get("allOrNone"):
            return errors(400, "INVALID_FIELD", "the fake answers allOrNone: false only")
        if not 1 <= len(body["records"]) <= 200:
            return errors(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records "
                          "into this call")
        results = []
        for item in body["records"]:
            kind = (item.get("attributes") or {}).get("type") if isinstance(item, dict) else None
            if kind not in self.rows:
                return errors(400, "INVALID_TYPE", "Must send a concrete entity type.")
            rid = item.get("id")
            values = {k: v for k, v in item.items() if k not in ("attributes", "id")}
            row = self.rows[kind].get(rid) if isinstance(rid, str) else None
            reply = self.update(kind, row, values) if row is not None else \
                errors(400, "ENTITY_IS_DELETED" if rid in self.deleted else "MALFORMED_ID",
                       "entity is deleted" if rid in self.deleted else f"{kind} ID: id value of incorrect type: {rid}",
                       ["Id"])
            if reply.status == 204:
                results.append({"id": rid, "success": True, "errors": []})
            else:
                [problem] = reply.body
                results.append({"success": False, "errors": [  # a failure need not name its record
                    {"statusCode": problem["errorCode"], "message": problem["message"],
                     "fields": problem.get("fields", [])}]})
        return Reply(200, results)
