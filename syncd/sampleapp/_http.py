"""Request and response values passed between the server and the endpoints.

Endpoints are plain functions ``(app, Request) -> Response``; an endpoint that
rejects a request raises ``ApiError``, which becomes the JSON error body real
APIs send: ``{"status": "error", "message": ...}``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import Message
from functools import cached_property
from typing import Any
from urllib.parse import parse_qsl

import orjson

Headers = list[tuple[str, str]]


@dataclass(eq=False)
class Request:
    method: str
    path: str  # without the query string or a trailing slash
    query: dict[str, str]  # the first value of each parameter
    headers: Message  # case-insensitive .get()
    body: bytes
    base_url: str  # scheme://host:port as the client addressed us (for next links)

    @property
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    @cached_property
    def json(self) -> Any:
        """The JSON body; an empty or invalid one is a 400, as on a real API."""
        if not self.body:
            raise ApiError(400, "request body must be JSON")
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            raise ApiError(400, "request body is not valid JSON") from None

    @cached_property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))

    def logged_body(self) -> Any:
        """What the request log shows: parsed JSON or form fields, else None."""
        if not self.body:
            return None
        if self.content_type == "application/x-www-form-urlencoded":
            return self.form
        try:
            return self.json
        except ApiError:
            return None


@dataclass(eq=False, slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: Headers = field(default_factory=list)
    content_type: str = "application/json"


class ApiError(Exception):
    """Raised by an endpoint to answer with a JSON error."""

    def __init__(self, status: int, message: str, *, headers: Iterable[tuple[str, str]] = (),
                 **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = list(headers)
        self.extra = extra

    def response(self) -> Response:
        return error_response(self.status, self.message, self.headers, **self.extra)


def json_response(status: int, obj: Any, headers: Iterable[tuple[str, str]] = ()) -> Response:
    return Response(status, orjson.dumps(obj), list(headers))


def error_response(status: int, message: str, headers: Iterable[tuple[str, str]] = (),
                   **extra: Any) -> Response:
    return json_response(status, {"status": "error", "message": message, **extra}, headers)


def int_param(value: Any, name: str, default: int, minimum: int) -> int:
    """A whole-number parameter from a query string or a JSON body, or a 400."""
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ApiError(400, f"{name} must be an integer")
    try:
        number = int(value)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer") from None
    if number < minimum:
        raise ApiError(400, f"{name} must be at least {minimum}")
    return number
