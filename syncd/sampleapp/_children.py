"""A contact's notes and tasks: records that live under a contact.

``GET /contacts/{id}/notes`` (``limit``/``after`` cursor pagination, as the
contacts list), ``POST /contacts/{id}/notes``, ``PATCH`` and ``DELETE
/contacts/{id}/notes/{nid}``; the same for ``tasks``. An unknown contact,
or a note that is not that contact's, is a 404. A child written bumps
its contact's ``updated_at`` (see :mod:`._child_store`).
"""

from __future__ import annotations

from typing import Any

import orjson

from ._child_store import PROPERTIES, READ_ONLY, ChildStore
from ._http import ApiError, Request, Response, int_param, json_response
from ._state import AppState


def _fields(kind: str, body: Any, *, creating: bool) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    allowed = PROPERTIES[kind]
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key in READ_ONLY:
            continue
        if key not in allowed:
            raise ApiError(400, f"property {key!r} does not exist")
        types, _ = allowed[key]
        if not isinstance(value, types):
            raise ApiError(400, f"property {key!r} has the wrong type")
        out[key] = value
    missing = [k for k, (_, required) in allowed.items() if required and creating and k not in out]
    if missing:
        raise ApiError(400, f"property {missing[0]!r} is required")
    return out


def route(app: AppState, req: Request) -> Response | None:
    """Answer ``/contacts/{id}/{kind}[/{nid}]``, or None for another path."""
    parts = req.path.strip("/").split("/")
    if len(parts) not in (3, 4) or parts[0] != "contacts" or parts[2] not in PROPERTIES:
        return None
    store = app.children
    kind, contact_id = parts[2], parts[1]
    if contact_id not in app.store:
        raise ApiError(404, "contact not found")
    try:
        if len(parts) == 3:
            if req.method == "GET":
                return _list(app, store, kind, contact_id, req)
            if req.method == "POST":
                created = store.create(kind, contact_id, _fields(kind, req.json, creating=True))
                return json_response(201, created)
            raise ApiError(405, "method not allowed", headers=[("Allow", "GET, POST")])
        if req.method == "PATCH":
            return json_response(200, store.update(kind, contact_id, parts[3],
                                                   _fields(kind, req.json, creating=False)))
        if req.method == "DELETE":
            store.delete(kind, contact_id, parts[3])
            return Response(204, content_type="")
        raise ApiError(405, "method not allowed", headers=[("Allow", "PATCH, DELETE")])
    except KeyError:
        raise ApiError(404, f"{kind[:-1]} not found") from None


def _list(app: AppState, store: ChildStore, kind: str, contact_id: str, req: Request) -> Response:
    """``?limit=&after=`` -> results + paging.next.after (the last id seen)."""
    limit = min(int_param(req.query.get("limit"), "limit", app.default_page_size, 1), app.max_page_size)
    after = req.query.get("after") or ""
    rows = [r for r in store.all(kind, contact_id) if (len(r["id"]), r["id"]) > (len(after), after)]
    body: dict[str, Any] = {"results": rows[:limit]}
    if len(rows) > limit:
        body["paging"] = {"next": {"after": rows[limit - 1]["id"]}}
    return Response(200, orjson.dumps(body))


__all__ = ["route"]
