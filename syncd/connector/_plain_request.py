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

Such a request is also sent plainly (:func:`send`) when its client was
let (:func:`send_directly`: syncd's transport, an auth that only sets
fixed headers or params). ``AsyncClient.send`` wraps the transport in an
auth-flow generator, a redirect loop, a timed response stream and hooks
called through three layers: about 80 µs of CPU a request, a third of a
poll's. :func:`send` does what those layers do for such a request, in the
same order (the auth's fixed values, the request hooks, the transport, the
cookies, httpx's log line, the response hooks, the body read), and hands
anything else to ``client.send``: a request built otherwise, another auth
(an OAuth 2 flow, which answers a 401 with a refresh) and a closed client.
A redirect is httpx's to follow: the read that met one is sent again
through ``client.send``, and so is every later request of that client (one
request more, once: an app that redirects keeps doing so).
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import httpx

__all__ = ["plain_request", "send", "send_directly"]

_HTTPX_LOG = logging.getLogger("httpx")  # its line for each request, as httpx writes it
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


# Per client let send plainly: its transport, and what its auth sets on a request (None: no auth).
_Direct = tuple[httpx.AsyncBaseTransport, Callable[[httpx.Request], None] | None]
_direct: weakref.WeakKeyDictionary[httpx.AsyncClient, _Direct] = weakref.WeakKeyDictionary()


def send_directly(client: httpx.AsyncClient, transport: httpx.AsyncBaseTransport,
                  auth: Callable[[httpx.Request], None] | None) -> None:
    """Let :func:`send` give *client*'s plain requests to *transport* (the one
    *client* was made with), *auth* setting on each what *client*'s auth would
    (its whole flow: fixed values, no answer looked at; None: no auth)."""
    _direct[client] = (transport, auth)


async def send(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    """``await client.send(request)``, with a plain request of a client let
    send directly taken straight to its transport (see the module's doc)."""
    direct = _direct.get(client)
    if direct is None or request.stream is not _EMPTY or client.is_closed:
        return await client.send(request)
    transport, auth = direct
    if auth is not None:
        auth(request)
    hooks = client.event_hooks
    for hook in hooks["request"]:
        await hook(request)
    start = time.perf_counter()
    response = await transport.handle_async_request(request)  # its errors name the request, as httpx's do
    try:
        response.request = request
        client.cookies.extract_cookies(response)
        if _HTTPX_LOG.isEnabledFor(logging.INFO):
            _HTTPX_LOG.info('HTTP Request: %s %s "%s %d %s"', request.method, request.url,
                            response.http_version, response.status_code, response.reason_phrase)
        for hook in hooks["response"]:
            await hook(response)
        if response.has_redirect_location and client.follow_redirects:
            # httpx follows redirects: this read is sent again through it (a GET, the auth's
            # values set again: the same), and so is every later one of this client.
            _direct.pop(client, None)
            await response.aclose()
            return await client.send(request)
        await response.aread()
    except BaseException:
        await response.aclose()
        raise
    response.elapsed = timedelta(seconds=time.perf_counter() - start)
    return response
