"""A request without a body, built as httpx builds it but without its merging.

``AsyncClient.build_request`` copies the client's headers, merges the
call's into them, merges cookies, encodes an empty body and then rebuilds
the headers again to put ``Host`` first: about 7 % of a daemon's cycle at
rest, for a poll whose headers are the same every time. For a request
with no body, no headers of its own and an empty cookie jar (nearly every
read), :func:`plain_request` gives the same :class:`httpx.Request` (method,
URL, headers in the same order, ``timeout`` extension, empty content; a
test compares the two) from the client's headers with ``Host`` put in
front once per client and origin. Anything else goes through
``build_request`` as before.

The headers kept are a client's as it was built: a connector never changes
its client's headers or timeout after that (they depend on the spec and the
settings only; see ``_kept_clients``). The request's own headers are a
copy, so what an auth flow adds (a refreshed token) stays in that request.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

import httpx

__all__ = ["plain_request"]

_EMPTY = httpx.ByteStream(b"")  # immutable: one serves every request
# Per client: its timeout extension, and its headers with Host first by origin.
_Prepared = tuple[dict[str, Any], dict[bytes, httpx.Headers]]
_prepared: weakref.WeakKeyDictionary[httpx.AsyncClient, _Prepared] = weakref.WeakKeyDictionary()
_ORIGINS_KEPT = 64  # origins a client asks (one, nearly always): a bound, not a cache of every URL


def plain_request(client: httpx.AsyncClient, method: str, url: httpx.URL,
                  extensions: Mapping[str, Any] | None = None) -> httpx.Request | None:
    """The request ``client.build_request(method, url, extensions=...)`` would
    build, or None where it could differ (a relative URL, a cookie to send):
    then build it with ``build_request``."""
    if url.is_relative_url or not url.host or client.cookies:
        return None
    prepared = _prepared.get(client)
    if prepared is None:
        prepared = _prepared[client] = (client.timeout.as_dict(), {})
    timeout, by_origin = prepared
    netloc = url.netloc
    headers = by_origin.get(netloc)
    if headers is None:
        if len(by_origin) >= _ORIGINS_KEPT:
            by_origin.clear()
        headers = by_origin[netloc] = httpx.Headers([(b"Host", netloc), *client.headers.raw])
    request = httpx.Request(method, url, headers=headers, stream=_EMPTY,
                            extensions={"timeout": dict(timeout), **extensions} if extensions
                            else {"timeout": dict(timeout)})
    request._content = b""  # as Request.read() leaves it: the content is known (none)
    return request
