"""The list endpoints: one per pagination style real APIs use.

Every style pages over the same data: all contacts by id, or, with
``updated_after``, the contacts updated strictly after it by (updated_at, id).
Cursors are opaque (base64 of the last key seen), and keyset-based, so a
contact created or deleted between two pages does not shift the others.
Bodies are assembled from the store's cached JSON bytes, not re-encoded.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import orjson

from ._data import parse_ts
from ._http import ApiError, Request, Response, int_param
from ._state import AppState
from ._store import IdKey, Page, UpdKey


Endpoint = Callable[[AppState, Request], Response]


def _since(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ApiError(400, "updated_after must be an ISO-8601 string")
    try:
        return parse_ts(value)
    except ValueError as exc:
        raise ApiError(400, f"updated_after: {exc}") from None


def _size(app: AppState, value: Any, name: str) -> int:
    return min(int_param(value, name, app.default_page_size, 1), app.max_page_size)


def encode_cursor(key: IdKey | UpdKey) -> str:
    raw = f"i:{key[1]}" if len(key) == 2 else f"u:{key[0]}:{key[2]}"
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def decode_cursor(token: Any, by_update: bool) -> IdKey | UpdKey | None:
    """The key a cursor stands for; a cursor from the other ordering is a 400."""
    if token is None or token == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(str(token) + "=" * (-len(str(token)) % 4)).decode()
        kind, _, rest = raw.partition(":")
        if kind == "i" and not by_update and rest:
            return (len(rest), rest)
        if kind == "u" and by_update:
            us, _, cid = rest.partition(":")
            if cid:
                return (int(us), len(cid), cid)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise ApiError(400, "invalid cursor (was updated_after the same as on the first page?)")


def _url(req: Request, **params: Any) -> str:
    # a next link carries every parameter, so following it alone is enough
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{req.base_url}{req.path}?{urlencode(kept)}"


def _rows(page: Page) -> bytes:
    return b"[" + b",".join(page.rows) + b"]"


def cursor(app: AppState, req: Request) -> Response:
    """HubSpot style: ``?limit=&after=`` -> results + paging.next.{after,link}."""
    q = req.query
    limit, since = _size(app, q.get("limit"), "limit"), _since(q.get("updated_after"))
    page = app.store.select(since_us=since, after=decode_cursor(q.get("after"), since is not None),
                            limit=limit)
    body = b'{"results":' + _rows(page)
    if page.has_more and page.last_key is not None:
        after = encode_cursor(page.last_key)
        link = _url(req, limit=limit, after=after, updated_after=q.get("updated_after"))
        body += b',"paging":{"next":' + orjson.dumps({"after": after, "link": link}) + b"}"
    return Response(200, body + b"}")


def search(app: AppState, req: Request) -> Response:
    """HubSpot search style: POST a JSON body with limit/after/updated_after."""
    q = req.json
    if not isinstance(q, dict):
        raise ApiError(400, "request body must be a JSON object")
    unknown = sorted(set(q) - {"limit", "after", "updated_after"})
    if unknown:
        raise ApiError(400, f"unknown search field {unknown[0]!r}")
    limit, since = _size(app, q.get("limit"), "limit"), _since(q.get("updated_after"))
    page = app.store.select(since_us=since, after=decode_cursor(q.get("after"), since is not None),
                            limit=limit)
    body = b'{"total":%d,"results":' % page.total + _rows(page)
    if page.has_more and page.last_key is not None:
        body += b',"paging":{"next":' + orjson.dumps({"after": encode_cursor(page.last_key)}) + b"}"
    return Response(200, body + b"}")


def next_url(app: AppState, req: Request) -> Response:
    """``?limit=`` -> data + links.next, an absolute URL (null on the last page)."""
    q = req.query
    limit, since = _size(app, q.get("limit"), "limit"), _since(q.get("updated_after"))
    page = app.store.select(since_us=since, after=decode_cursor(q.get("cursor"), since is not None),
                            limit=limit)
    nxt = None
    if page.has_more and page.last_key is not None:
        nxt = _url(req, limit=limit, updated_after=q.get("updated_after"),
                   cursor=encode_cursor(page.last_key))
    return Response(200, b'{"data":' + _rows(page) + b',"links":{"next":' + orjson.dumps(nxt) + b"}}")


def _page_number(app: AppState, req: Request) -> tuple[int, int, Page]:
    q = req.query
    page_no, per_page = int_param(q.get("page"), "page", 1, 1), _size(app, q.get("per_page"), "per_page")
    page = app.store.select(since_us=_since(q.get("updated_after")),
                            offset=(page_no - 1) * per_page, limit=per_page)
    return page_no, per_page, page


def link_header(app: AppState, req: Request) -> Response:
    """GitHub style: bare array; RFC 8288 ``Link`` with first/prev/next/last."""
    page_no, per_page, page = _page_number(app, req)
    last = max(1, -(-page.total // per_page))
    since = req.query.get("updated_after")
    rels = [("first", 1)] + ([("prev", page_no - 1)] if page_no > 1 else [])
    if page_no < last:
        rels.append(("next", page_no + 1))
    rels.append(("last", last))
    # "next" is neither first nor alone, so a client must really parse the header
    link = ", ".join(f'<{_url(req, page=n, per_page=per_page, updated_after=since)}>; rel="{rel}"'
                     for rel, n in rels)
    return Response(200, _rows(page), [("Link", link)])


def offset(app: AppState, req: Request) -> Response:
    """Mailchimp style: ``?offset=&count=`` -> members + total_items."""
    q = req.query
    count, skip = _size(app, q.get("count"), "count"), int_param(q.get("offset"), "offset", 0, 0)
    page = app.store.select(since_us=_since(q.get("updated_after")), offset=skip, limit=count)
    return Response(200, b'{"members":' + _rows(page) + b',"total_items":%d}' % page.total)


def pages(app: AppState, req: Request) -> Response:
    """``?page=&per_page=`` (from 1) -> items + meta.{page,total_pages}."""
    page_no, per_page, page = _page_number(app, req)
    meta = {"page": page_no, "per_page": per_page, "total_pages": max(1, -(-page.total // per_page)),
            "total_items": page.total}
    return Response(200, b'{"items":' + _rows(page) + b',"meta":' + orjson.dumps(meta) + b"}")


def everything(app: AppState, req: Request) -> Response:
    """A single page: bare array of every (matching) contact."""
    page = app.store.select(since_us=_since(req.query.get("updated_after")), limit=1 << 62)
    return Response(200, _rows(page))


def stuck(app: AppState, req: Request) -> Response:
    """A broken API: the same first page and the same next cursor, forever."""
    limit = _size(app, req.query.get("limit"), "limit")
    page = app.store.select(limit=limit)
    after = encode_cursor(page.last_key) if page.last_key is not None else "stuck"
    nxt = {"after": after, "link": _url(req, limit=limit, after=after)}
    return Response(200, b'{"results":' + _rows(page) + b',"paging":{"next":' + orjson.dumps(nxt) + b"}}")
