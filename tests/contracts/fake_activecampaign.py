"""A fake ActiveCampaign API v3 (contacts), strict about what it accepts.

ActiveCampaign publishes no OpenAPI description of its own (the one found is
a third party's, see connectors.d/activecampaign.yaml), so this fake is built
from the reference pages (cited there):

- https://developers.activecampaign.com/docs/authentication: the key in the
  ``Api-Token`` header, requests to the account's URL followed by /api/3.
- https://developers.activecampaign.com/reference/pagination: ``limit``
  (default 20, at most 100) and ``offset``; the total in ``meta.total``.
- https://developers.activecampaign.com/reference/list-all-contacts: GET
  /contacts and its parameters (any other is refused here: ``orders[udate]``
  is not one); ``filters[updated_after]`` keeps the contacts updated after a
  date; ``orders[FIELD]`` is ASC or DESC; ``email`` is the exact address,
  ``search`` a part of the names, phone or email. Answer ``{"scoreValues",
  "contacts", "meta": {"total", "page_input"}}``, totals and ids as strings.
- .../reference/get-contact, create-a-new-contact, update-a-contact-new,
  delete-contact: GET|PUT|DELETE /contacts/{id} and POST /contacts; bodies
  ``{"contact": {email, firstName, lastName, phone, fieldValues, …}}``;
  create answers 201, update 200, both ``{"fieldValues": [...], "contact":
  {...}}``, delete 200 ``{}``; an unknown id 404 ``{"message": "No Result
  found for Subscriber with id N"}``; a duplicate email 422 ``{"errors":
  [{"title", "detail", "code": "duplicate", "source"}]}``.
- https://developers.activecampaign.com/reference/rate-limits: 5 requests a
  second per account, ``RateLimit-Limit`` and ``RateLimit-Remaining`` on
  each answer.

A wrong or missing key: the pages read give no status; 403 here, which
syncd takes as refused credentials as it does 401. Dates are written as
ActiveCampaign does, with the account's offset (-05:00).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from fakes import FakeApi, Reply, Request

CENTRAL = timezone(timedelta(hours=-5))
BASE = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ORDERS = ("id", "cdate", "email", "first_name", "last_name", "name", "score")
FILTERS = ("created_before", "created_after", "updated_before", "updated_after")
LIST_PARAMS = frozenset({
    "ids", "email", "email_like", "exclude", "formid", "id_greater", "id_less", "listid", "phone",
    "organization", "search", "segmentid", "seriesid", "status", "tagid", "waitid", "in_group_lists",
    "forceQuery", "sortId", "limit", "offset",
    *(f"orders[{o}]" for o in ORDERS), *(f"filters[{f}]" for f in FILTERS),
})
CREATE_KEYS = frozenset({"email", "allowNullEmail", "firstName", "lastName", "phone", "fieldValues", "orgid"})
UPDATE_KEYS = frozenset({"email", "firstName", "lastName", "phone", "fieldValues", "deleted", "orgid"})
ORDER_KEY = {"id": lambda c: int(c["id"]), "cdate": lambda c: c["cdate"], "email": lambda c: c["email"],
             "first_name": lambda c: c["firstName"], "last_name": lambda c: c["lastName"],
             "name": lambda c: (c["firstName"], c["lastName"])}


def stamp(when: datetime) -> str:
    return when.astimezone(CENTRAL).isoformat(timespec="seconds")


def parse_date(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=CENTRAL)


class FakeActiveCampaign(FakeApi):
    def __init__(self, contacts: int = 0, api_key: str = "0123456789abcdef0123456789abcdef01234567") -> None:
        super().__init__()
        self.api_key = api_key
        self.contacts: dict[int, dict[str, Any]] = {}
        self.clock = BASE
        for i in range(contacts):
            self._add({"email": f"person.{i:04d}@example.com", "firstName": f"Person{i}",
                       "lastName": "Example", "phone": f"+1555010{i:04d}"}, BASE + timedelta(minutes=i))

    @property
    def url(self) -> str:
        return self.origin + "/api/3"

    def _tick(self) -> datetime:
        self.clock = max(datetime.now(UTC).replace(microsecond=0), self.clock + timedelta(seconds=1))
        return self.clock

    def _add(self, fields: dict[str, Any], when: datetime) -> dict[str, Any]:
        cid = len(self.contacts) + 1 if not self.contacts else max(self.contacts) + 1
        base = f"{self.origin if self._server else 'https://account.api-us1.com'}/api/3/contacts/{cid}"
        self.contacts[cid] = {
            "cdate": stamp(when), "email": fields.get("email", ""), "phone": fields.get("phone", ""),
            "firstName": fields.get("firstName", ""), "lastName": fields.get("lastName", ""),
            "orgid": "0", "segmentio_id": "", "bounced_hard": "0", "bounced_soft": "0", "deleted": "0",
            "anonymized": "0", "udate": stamp(when), "scoreValues": [],
            "links": {"contactTags": f"{base}/contactTags", "fieldValues": f"{base}/fieldValues"},
            "id": str(cid), "organization": None,
        }
        return self.contacts[cid]

    def modify(self, cid: int, **fields: Any) -> None:
        """Change a contact as a user would: its udate moves on."""
        with self.lock:
            self.contacts[cid].update(fields)
            self.contacts[cid]["udate"] = stamp(self._tick())

    def handle(self, request: Request) -> Reply:
        if request.headers.get("api-token") != self.api_key:
            return Reply(403, {"message": "You are not authorized to access this resource"})
        with self.lock:
            reply = self._route(request)
        reply.headers.update({"RateLimit-Limit": "5", "RateLimit-Remaining": "4"})
        return reply

    def _route(self, request: Request) -> Reply:
        if request.path == "/api/3/contacts":
            if request.method == "GET":
                return self.list(request)
            if request.method == "POST":
                return self.create(request.body)
            return Reply(405, {"message": f"{request.method} is not allowed"})
        m = re.fullmatch(r"/api/3/contacts/([0-9]+)", request.path)
        if m is None:
            return Reply(404, {"message": f"No route {request.path}"})
        if request.query:
            return Reply(400, {"message": f"Unexpected parameters: {', '.join(sorted(request.query))}"})
        contact = self.contacts.get(int(m.group(1)))
        if contact is None:
            return Reply(404, {"message": f"No Result found for Subscriber with id {m.group(1)}"})
        if request.method == "GET":
            return Reply(200, {"contactLists": [], "contactTags": [], "fieldValues": [], "contact": contact})
        if request.method == "PUT":
            return self.update(contact, request.body)
        if request.method == "DELETE":
            del self.contacts[int(contact["id"])]
            return Reply(200, {})
        return Reply(405, {"message": f"{request.method} is not allowed"})

    def list(self, request: Request) -> Reply:
        unknown = sorted(set(request.query) - LIST_PARAMS)
        if unknown:
            return Reply(400, {"message": f"Unknown parameters: {', '.join(unknown)}"})
        limit, offset = request.arg("limit", "20") or "20", request.arg("offset", "0") or "0"
        if not (limit.isdigit() and 1 <= int(limit) <= 100 and offset.isdigit()):
            return Reply(400, {"message": "limit is 1 to 100, offset a whole number from 0"})
        rows = list(self.contacts.values())
        for name, key in ORDER_KEY.items():
            direction = request.arg(f"orders[{name}]")
            if direction is not None:
                if direction.upper() not in ("ASC", "DESC"):
                    return Reply(400, {"message": f"orders[{name}] is ASC or DESC"})
                rows.sort(key=key, reverse=direction.upper() == "DESC")
        since_text = request.arg("filters[updated_after]")
        if since_text is not None:
            since = parse_date(since_text)
            if since is None:
                return Reply(400, {"message": "filters[updated_after] is a date"})
            rows = [r for r in rows if datetime.fromisoformat(r["udate"]) > since]
        email = request.arg("email")
        if email is not None:
            rows = [r for r in rows if r["email"].lower() == email.lower()]
        search = request.arg("search")
        if search is not None:
            rows = [r for r in rows if any(search.lower() in str(r[k]).lower()
                                           for k in ("firstName", "lastName", "phone", "email"))]
        page = rows[int(offset):int(offset) + int(limit)]
        return Reply(200, {"scoreValues": [], "contacts": page,
                           "meta": {"total": str(len(rows)), "page_input": {"limit": int(limit),
                                                                             "offset": int(offset)}}})

    def _contact(self, body: Any, allowed: frozenset[str]) -> dict[str, Any] | Reply:
        if not isinstance(body, dict) or set(body) != {"contact"} or not isinstance(body["contact"], dict):
            return Reply(400, {"message": 'The body is {"contact": {...}}'})
        unknown = sorted(set(body["contact"]) - allowed)
        if unknown:
            return Reply(422, {"errors": [{"title": f"Unknown field {name}", "detail": "", "code": "field_invalid",
                                           "source": {"pointer": f"/data/attributes/{name}"}} for name in unknown]})
        return dict(body["contact"])

    @staticmethod
    def _duplicate() -> Reply:
        return Reply(422, {"errors": [{"title": "Email address already exists in the system", "detail": "",
                                       "code": "duplicate", "source": {"pointer": "/data/attributes/email"}}]})

    def create(self, body: Any) -> Reply:
        fields = self._contact(body, CREATE_KEYS)
        if isinstance(fields, Reply):
            return fields
        email = str(fields.get("email") or "")
        if "@" not in email:
            return Reply(422, {"errors": [{"title": "Contact Email Address is not valid.", "detail": "",
                                           "code": "email_invalid", "source": {"pointer": "/data/attributes/email"}}]})
        if any(c["email"].lower() == email.lower() for c in self.contacts.values()):
            return self._duplicate()
        contact = self._add({k: v if v is not None else "" for k, v in fields.items()}, self._tick())
        return Reply(201, {"fieldValues": [], "contact": contact})

    def update(self, contact: dict[str, Any], body: Any) -> Reply:
        fields = self._contact(body, UPDATE_KEYS)
        if isinstance(fields, Reply):
            return fields
        email = fields.get("email")
        if email is not None and any(c["email"].lower() == str(email).lower() and c is not contact
                                     for c in self.contacts.values()):
            return self._duplicate()
        for key in ("email", "firstName", "lastName", "phone"):
            if key in fields:
                contact[key] = fields[key] if fields[key] is not None else ""
        contact["udate"] = stamp(self._tick())
        return Reply(200, {"fieldValues": [], "contact": contact})
