"""Single-contact endpoints, validated like a real CRM validates.

A write with an unknown property, a wrong type or an invalid email is a 400,
and a second contact with the same email is a 409: a connector that maps a
field to the wrong place fails loudly here rather than passing in tests.
Read-only properties (id, created_at, updated_at) in a body are ignored, so a
client may send back a record it read.

The batch endpoints validate like HubSpot's: one bad input (invalid, a taken
or repeated email, an unknown id) is a 400 for the whole batch, naming the
input, and nothing is stored.  Their results come back in reverse input order,
so a client that pairs results with inputs by position is caught.
"""

from __future__ import annotations

import re
from typing import Any

from ._http import ApiError, Request, Response, json_response
from ._state import AppState
from ._store import BatchInputError, DuplicateEmailError


MAX_BATCH = 100  # inputs per batch request, as HubSpot's batch endpoints
_STRINGS = ("first_name", "last_name", "email", "phone")
_READ_ONLY = ("id", "created_at", "updated_at")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _fields(body: Any) -> dict[str, Any]:
    """The writable properties of a request body, checked; or a 400."""
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key in _READ_ONLY:
            continue
        if key in _STRINGS:
            if value is not None and not isinstance(value, str):
                raise ApiError(400, f"property {key!r} must be a string or null")
            if key == "email" and value and not _EMAIL.match(value):
                raise ApiError(400, "property 'email' is not a valid email address")
        elif key == "tags":
            if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
                raise ApiError(400, "property 'tags' must be a list of strings")
        elif key == "custom_fields":
            if not isinstance(value, dict):
                raise ApiError(400, "property 'custom_fields' must be an object")
            for name, v in value.items():
                if isinstance(v, (dict, list)):
                    raise ApiError(400, f"custom field {name!r} must be a string, number, boolean or null")
        else:
            raise ApiError(400, f"property {key!r} does not exist")
        out[key] = value
    return out


def _conflict(exc: DuplicateEmailError) -> ApiError:
    return ApiError(409, str(exc), existing_id=exc.existing_id)


def _not_found() -> ApiError:
    return ApiError(404, "contact not found")


def create(app: AppState, req: Request) -> Response:
    """``POST /contacts`` -> 201 with the stored contact (id and timestamps set)."""
    try:
        record = app.store.create(_fields(req.json))
    except DuplicateEmailError as exc:
        raise _conflict(exc) from None
    return json_response(201, record, [("Location", f"{req.base_url}/contacts/{record['id']}")])


def get(app: AppState, req: Request, cid: str) -> Response:
    try:
        return Response(200, app.store.encoded(cid))
    except KeyError:
        raise _not_found() from None


def patch(app: AppState, req: Request, cid: str) -> Response:
    """Merge the given properties (and custom_fields subkeys)."""
    changes = _fields(req.json)
    try:
        return json_response(200, app.store.update(cid, **changes))
    except KeyError:
        raise _not_found() from None
    except DuplicateEmailError as exc:
        raise _conflict(exc) from None


def put(app: AppState, req: Request, cid: str) -> Response:
    """Replace the contact: properties left out become null / empty."""
    fields = _fields(req.json)
    try:
        return json_response(200, app.store.replace(cid, fields))
    except KeyError:
        raise _not_found() from None
    except DuplicateEmailError as exc:
        raise _conflict(exc) from None


def delete(app: AppState, req: Request, cid: str) -> Response:
    try:
        app.store.delete(cid)
    except KeyError:
        raise _not_found() from None
    return Response(204, content_type="")


def search(app: AppState, req: Request) -> Response:
    """``GET /contacts/search?email=`` -> {"results": [...]} (case-insensitive)."""
    email = req.query.get("email")
    if not email:
        raise ApiError(400, "the email parameter is required")
    found = app.store.find_by_email(email)
    return json_response(200, {"results": [found] if found else []})


def _inputs(req: Request) -> list[Any]:
    body = req.json
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list) or not inputs:
        raise ApiError(400, 'request body must be {"inputs": [...]} with at least one input')
    if len(inputs) > MAX_BATCH:
        raise ApiError(400, f"a batch takes at most {MAX_BATCH} inputs, got {len(inputs)}")
    return inputs


def _batch_error(exc: BatchInputError) -> ApiError:
    extra: dict[str, Any] = {"existing_id": exc.existing_id} if exc.existing_id else {}
    return ApiError(400, f"inputs[{exc.index}]: {exc}", index=exc.index, **extra)


def _checked(n: int, item: Any, with_id: bool) -> tuple[str, dict[str, Any]]:
    """(id or "", writable properties) of one batch input; or a 400 naming it."""
    try:
        if with_id:
            cid = item.get("id") if isinstance(item, dict) else None
            if not isinstance(cid, (str, int)) or isinstance(cid, bool) or cid == "":
                raise ApiError(400, "every input needs the id of the contact to change")
            return str(cid), _fields(item)
        return "", _fields(item)
    except ApiError as exc:
        raise ApiError(400, f"inputs[{n}]: {exc.message}", index=n) from None


def batch_create(app: AppState, req: Request) -> Response:
    """``POST /contacts/batch/create {"inputs": [contact, …]}`` -> 201 {"results": [...]}, all or nothing."""
    records = [_checked(n, item, False)[1] for n, item in enumerate(_inputs(req))]
    try:
        created = app.store.create_many(records)
    except BatchInputError as exc:
        raise _batch_error(exc) from None
    return json_response(201, {"status": "COMPLETE", "results": created[::-1]})


def batch_update(app: AppState, req: Request) -> Response:
    """``POST /contacts/batch/update {"inputs": [{"id", …properties}]}`` -> 200 {"results": [...]}, all or nothing."""
    changes = [_checked(n, item, True) for n, item in enumerate(_inputs(req))]
    try:
        updated = app.store.update_many(changes)
    except BatchInputError as exc:
        raise _batch_error(exc) from None
    return json_response(200, {"status": "COMPLETE", "results": updated[::-1]})
