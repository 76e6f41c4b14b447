"""Single-contact endpoints, validated like a real CRM validates.

A write with an unknown property, a wrong type or an invalid email is a 400,
and a second contact with the same email is a 409: a connector that maps a
field to the wrong place fails loudly here rather than passing in tests.
Read-only properties (id, created_at, updated_at) in a body are ignored, so a
client may send back a record it read.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ._http import ApiError, Request, Response, json_response
from ._store import DuplicateEmailError

if TYPE_CHECKING:
    from ._app import SampleApp

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


def create(app: SampleApp, req: Request) -> Response:
    """``POST /contacts`` -> 201 with the stored contact (id and timestamps set)."""
    try:
        record = app.store.create(_fields(req.json))
    except DuplicateEmailError as exc:
        raise _conflict(exc) from None
    return json_response(201, record, [("Location", f"{req.base_url}/contacts/{record['id']}")])


def get(app: SampleApp, req: Request, cid: str) -> Response:
    try:
        return Response(200, app.store.encoded(cid))
    except KeyError:
        raise _not_found() from None


def patch(app: SampleApp, req: Request, cid: str) -> Response:
    """Merge the given properties (and custom_fields subkeys)."""
    changes = _fields(req.json)
    try:
        return json_response(200, app.store.update(cid, **changes))
    except KeyError:
        raise _not_found() from None
    except DuplicateEmailError as exc:
        raise _conflict(exc) from None


def put(app: SampleApp, req: Request, cid: str) -> Response:
    """Replace the contact: properties left out become null / empty."""
    fields = _fields(req.json)
    try:
        return json_response(200, app.store.replace(cid, fields))
    except KeyError:
        raise _not_found() from None
    except DuplicateEmailError as exc:
        raise _conflict(exc) from None


def delete(app: SampleApp, req: Request, cid: str) -> Response:
    try:
        app.store.delete(cid)
    except KeyError:
        raise _not_found() from None
    return Response(204, content_type="")


def search(app: SampleApp, req: Request) -> Response:
    """``GET /contacts/search?email=`` -> {"results": [...]} (case-insensitive)."""
    email = req.query.get("email")
    if not email:
        raise ApiError(400, "the email parameter is required")
    found = app.store.find_by_email(email)
    return json_response(200, {"results": [found] if found else []})
