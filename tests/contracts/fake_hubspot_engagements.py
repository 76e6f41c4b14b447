"""The fake HubSpot (tests/connector_specs/fake_hubspot.py) with notes and tasks, as HubSpot describes them.

Routes added (CRM v3 objects; the same shapes as contacts, from HubSpot's
notes and tasks descriptions, tests/contracts/vendor/hubspot-crm-{notes,tasks}-v3.yaml):

    POST   /crm/v3/objects/{notes|tasks}/search   filterGroups (``associations.contact`` EQ a
                                                  contact id, or properties), sorts, properties,
                                                  limit ≤ 200, after (an offset)
    POST   /crm/v3/objects/{notes|tasks}          {"properties", "associations"} → 201;
                                                  hs_timestamp required (the notes and tasks
                                                  guides); the association must name a live
                                                  contact with HubSpot's type for the pair
                                                  (202 note → contact, 204 task → contact)
    GET    /crm/v3/objects/{notes|tasks}/{id}     properties=a,b → 200
    PATCH  /crm/v3/objects/{notes|tasks}/{id}     {"properties"} → 200
    DELETE /crm/v3/objects/{notes|tasks}/{id}     archives → 204

Pages cited in connectors.d/hubspot.yaml: the notes guide
(https://developers.hubspot.com/docs/api-reference/crm-notes-v3/guide), the
tasks guide (https://developers.hubspot.com/docs/api/crm/tasks), the search
guide and the association types. ``unindexed`` holds ids the search does
not find yet (HubSpot's search lags writes by seconds; GET by id does not). Logging a note or task on a contact, or
changing one, moves the contact's last-modified date here (HubSpot keeps
activity dates such as notes_last_updated on the contact), which is how an
incremental read of contacts finds contacts whose notes changed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from fake_hubspot import FakeHubSpot, error, stamp
from fakes import Reply, Request

KINDS = {
    "notes": {"writable": frozenset({"hs_note_body", "hs_timestamp", "hubspot_owner_id", "hs_attachment_ids"}),
              "association": 202},
    "tasks": {"writable": frozenset({"hs_task_subject", "hs_task_body", "hs_task_status", "hs_task_priority",
                                     "hs_task_type", "hs_timestamp", "hubspot_owner_id"}),
              "association": 204},
}
ROUTE = re.compile(r"/crm/v3/objects/(notes|tasks)(/search|/[^/]+)?")
TASK_STATUSES = frozenset({"NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"})


class FakeHubSpotEngagements(FakeHubSpot):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.engagements: dict[str, dict[str, dict[str, Any]]] = {"notes": {}, "tasks": {}}
        self.owners: dict[str, str] = {}  # engagement id -> contact id
        self.next_engagement = 9001
        # Ids the search does not find yet: HubSpot's search index lags its
        # writes by a few seconds (GET by id does not).
        self.unindexed: set[str] = set()

    # --- the data ---------------------------------------------------------

    def log(self, kind: str, contact_id: str, **properties: Any) -> dict[str, Any]:
        """A note or task logged on a contact, as a HubSpot user would."""
        with self.lock:
            props = {"hs_timestamp": stamp(datetime.now(UTC)), **properties}
            return self._add_engagement(kind, contact_id, {k: str(v) for k, v in props.items()})

    def edit(self, kind: str, eid: str, **properties: Any) -> None:
        with self.lock:
            record = self.engagements[kind][eid]
            record["properties"].update({k: str(v) for k, v in properties.items()})
            self._touch_engagement(record, eid)

    def of(self, kind: str, contact_id: str) -> list[dict[str, Any]]:
        """The live notes or tasks of a contact."""
        return [r for eid, r in self.engagements[kind].items()
                if self.owners[eid] == contact_id and not r["archived"]]

    def _add_engagement(self, kind: str, contact_id: str, props: dict[str, str]) -> dict[str, Any]:
        eid = str(self.next_engagement)
        self.next_engagement += 1
        now = stamp(datetime.now(UTC))
        record = {"id": eid, "properties": {"hs_object_id": eid, "hs_createdate": now,
                                            "hs_lastmodifieddate": now, **props},
                  "createdAt": now, "updatedAt": now, "archived": False}
        self.engagements[kind][eid] = record
        self.owners[eid] = contact_id
        self._touch(self.contacts[contact_id])
        return record

    def _touch_engagement(self, record: dict[str, Any], eid: str) -> None:
        now = stamp(datetime.now(UTC))
        record["updatedAt"] = record["properties"]["hs_lastmodifieddate"] = now
        self._touch(self.contacts[self.owners[eid]])

    # --- routing -----------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        m = ROUTE.fullmatch(request.path)
        if m is None or request.headers.get("authorization") != f"Bearer {self.token}":
            return super().handle(request)
        kind, rest = m.group(1), m.group(2)
        with self.lock:
            if rest == "/search" and request.method == "POST":
                return self.search_engagements(kind, request.body or {})
            if rest is None and request.method == "POST":
                return self.create_engagement(kind, request.body)
            if rest is None:
                return Reply(405)
            record = self.engagements[kind].get(rest[1:])
            if record is None or record["archived"]:
                return error(404, "resource not found", "OBJECT_NOT_FOUND")
            if request.method == "GET":
                wanted = [p for v in request.query.get("properties", []) for p in v.split(",") if p]
                return Reply(200, self._shaped_engagement(record, wanted))
            if request.method == "PATCH":
                return self.update_engagement(kind, record, request.body)
            if request.method == "DELETE":
                record["archived"] = True
                self._touch_engagement(record, record["id"])
                return Reply(204)
            return Reply(405)

    def _engagement_properties(self, kind: str, body: Any) -> dict[str, Any] | Reply:
        props = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(props, dict):
            return error(400, "Invalid input JSON: the body needs a properties object", "VALIDATION_ERROR")
        unknown = sorted(set(props) - KINDS[kind]["writable"])
        if unknown:
            return error(400, f"Property values were not valid: {unknown} do not exist", "VALIDATION_ERROR")
        status = props.get("hs_task_status")
        if status is not None and status not in TASK_STATUSES:
            return error(400, f"Property values were not valid: {status!r} is not an option of hs_task_status",
                         "VALIDATION_ERROR")
        return props

    def create_engagement(self, kind: str, body: Any) -> Reply:
        props = self._engagement_properties(kind, body)
        if isinstance(props, Reply):
            return props
        if not props.get("hs_timestamp"):
            return error(400, "Property values were not valid: hs_timestamp is required", "VALIDATION_ERROR")
        associations = body.get("associations") or []
        contacts = []
        for association in associations:
            cid = str((association.get("to") or {}).get("id"))
            types = association.get("types") or []
            wanted = KINDS[kind]["association"]
            if not any(t.get("associationCategory") == "HUBSPOT_DEFINED" and t.get("associationTypeId") == wanted
                       for t in types):
                return error(400, f"{kind[:-1]} to contact associations are type {wanted} (HUBSPOT_DEFINED)",
                             "VALIDATION_ERROR")
            if cid not in self.contacts or self.contacts[cid]["archived"]:
                return error(400, f"No contact with id {cid} to associate", "VALIDATION_ERROR")
            contacts.append(cid)
        if len(contacts) != 1:
            return error(400, "this fake keeps each note or task on one contact", "VALIDATION_ERROR")
        record = self._add_engagement(kind, contacts[0], {k: str(v) for k, v in props.items()})
        return Reply(201, self._shaped_engagement(record, list(props)))

    def update_engagement(self, kind: str, record: dict[str, Any], body: Any) -> Reply:
        props = self._engagement_properties(kind, body)
        if isinstance(props, Reply):
            return props
        record["properties"].update({k: str(v) for k, v in props.items()})
        self._touch_engagement(record, record["id"])
        return Reply(200, self._shaped_engagement(record, list(props)))

    @staticmethod
    def _shaped_engagement(record: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
        props = record["properties"]
        keep = (*wanted, "hs_object_id", "hs_createdate", "hs_lastmodifieddate")
        return {"id": record["id"], "properties": {p: props[p] for p in keep if props.get(p) is not None},
                "createdAt": record["createdAt"], "updatedAt": record["updatedAt"], "archived": record["archived"]}

    def search_engagements(self, kind: str, body: dict[str, Any]) -> Reply:
        limit = int(body.get("limit", 10))
        if not 1 <= limit <= 200:
            return error(400, f"limit must be between 1 and 200, got {limit}", "VALIDATION_ERROR")
        after = int(body.get("after") or 0)
        if after >= self.search_cap:
            return error(400, f"Search results are limited to {self.search_cap} records.", "VALIDATION_ERROR")
        rows = [r for r in self.engagements[kind].values() if not r["archived"] and r["id"] not in self.unindexed]
        groups = body.get("filterGroups") or []
        if groups:
            rows = [r for r in rows if any(all(self._engagement_matches(r, f) for f in g.get("filters", []))
                                           for g in groups)]
        rows.sort(key=lambda r: int(r["id"]))
        for sort in reversed(body.get("sorts") or []):
            name = sort if isinstance(sort, str) else sort["propertyName"]
            rows.sort(key=lambda r: int(r["id"]) if name == "hs_object_id" else r["properties"].get(name) or "",
                      reverse=isinstance(sort, dict) and sort.get("direction") == "DESCENDING")
        page = rows[after:min(after + limit, self.search_cap)]
        out: dict[str, Any] = {"total": len(rows),
                               "results": [self._shaped_engagement(r, body.get("properties") or []) for r in page]}
        if after + limit < len(rows):
            out["paging"] = {"next": {"after": str(after + limit)}}
        return Reply(200, out)

    def _engagement_matches(self, record: dict[str, Any], f: dict[str, Any]) -> bool:
        name, op, wanted = f["propertyName"], f["operator"], str(f.get("value"))
        if name == "associations.contact":  # the association pseudo-property of the search guide
            value: str | None = self.owners[record["id"]]
        else:
            value = record["properties"].get(name)
        if op == "EQ":
            return value == wanted
        if op == "NEQ":
            return value != wanted
        raise ValueError(f"this fake searches engagements with EQ and NEQ only, not {op}")
