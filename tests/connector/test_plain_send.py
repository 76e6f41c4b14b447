"""A plain request (no body, built by ``plain_request``) of a client whose
auth only sets fixed values is sent straight to its transport
(``_plain_request.send``), past ``AsyncClient.send``'s layers: what reaches
the app, and what the caller gets back, must be what httpx would have sent
and given; what only httpx does (following a redirect, an OAuth 2 flow) is
still httpx's, and the write guard is still asked."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from syncd._secret import Secret
from syncd.connector import Connector
from syncd.connector._plain_request import plain_request, send

pytestmark = pytest.mark.anyio

TOKEN = "tk-5e4d3c2b1a"
AUTHS: dict[str, dict[str, Any] | None] = {
    "bearer": None,  # the test spec's own
    "api key in a header": {"type": "api_key", "in": "header", "name": "X-Api-Key", "value": "{{ settings.token }}"},
    "api key in the query": {"type": "api_key", "in": "query", "name": "api_key", "value": "{{ settings.token }}"},
    "basic": {"type": "basic", "username": "u", "password": "{{ settings.token }}"},
    "none": {"type": "none"},
}


class _App(http.server.BaseHTTPRequestHandler):
    """Records each request as it came (request line, headers in order); answers
    /contacts/ID with the record, /moved/ID with a redirect to it, /login with
    a cookie set, a DELETE with 204."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, list[tuple[str, str]]]]

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _answer(self, status: int, body: dict[str, Any] | None, *headers: tuple[str, str]) -> None:
        type(self).seen.append((self.requestline, list(self.headers.items())))
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path.startswith("/moved/"):
            self._answer(302, None, ("Location", "/contacts/" + path.removeprefix("/moved/")))
        elif path == "/login":
            self._answer(200, {"id": "login", "cookie": self.headers.get("Cookie")},
                         ("Set-Cookie", "session=abc; Path=/"))
        else:
            self._answer(200, {"id": path.rsplit("/", 1)[-1], "email": "a@example.com",
                               "cookie": self.headers.get("Cookie")})

    def do_DELETE(self) -> None:
        self._answer(204, None)


@contextlib.contextmanager
def app() -> Iterator[tuple[str, list[tuple[str, list[tuple[str, str]]]]]]:
    """The app's URL, and the requests it got."""
    handler = type("App", (_App,), {"seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _connector(make_spec: Any, url: str, auth: dict[str, Any] | None = None, **contacts: Any) -> Connector:
    spec = make_spec(contacts=contacts, **({"auth": auth} if auth is not None else {}))
    return Connector(spec, "contacts", {"url": url, "token": Secret(TOKEN, "${env:T}")})


class _Counting:
    """Counts the calls of a client's ``send`` (and makes them): which way a request went."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.calls = 0
        self._send = client.send

    async def __call__(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        self.calls += 1
        return await self._send(request, **kwargs)


@pytest.mark.parametrize("auth", list(AUTHS))
async def test_a_plain_read_reaches_the_app_as_httpx_sends_it(make_spec: Any, auth: str) -> None:
    with app() as (url, seen):
        async with _connector(make_spec, url, AUTHS[auth]) as c:
            counting = _Counting(c.client)
            c.client.send = counting  # type: ignore[method-assign]
            by_httpx = await c.client.send(c.request("get", {**c.context, "id": "c1"}))
            await by_httpx.aread()
            calls = counting.calls
            request = c.request("get", {**c.context, "id": "c1"})
            answer = await c.sender.send("get", request)
            assert counting.calls == calls, "the plain read went through AsyncClient.send"
    assert len(seen) == 2 and seen[0] == seen[1]  # the request line and every header, in order
    line, headers = seen[1]
    if auth == "api key in the query":
        assert f"api_key={TOKEN}" in line
    elif auth != "none":
        assert any(TOKEN in value or value.startswith("Basic ") for _, value in headers)
    got = answer.response
    assert answer.body == by_httpx.json() == {"id": "c1", "email": "a@example.com", "cookie": None}
    assert (got.status_code, got.content, got.http_version, list(got.headers)) == \
        (by_httpx.status_code, by_httpx.content, by_httpx.http_version, list(by_httpx.headers))
    assert got.request is request and got.is_closed == by_httpx.is_closed
    assert got.elapsed.total_seconds() >= 0


async def test_a_redirected_read_is_followed_and_the_client_left_to_httpx(make_spec: Any) -> None:
    with app() as (url, seen):
        async with _connector(make_spec, url, get={"path": "/moved/{{ id }}"}) as c:
            first = await c.get("c7")
            second = await c.get("c8")
    assert first is not None and first.id == "c7" and second is not None and second.id == "c8"
    # The first read sent directly met the redirect and was sent again through httpx; from
    # then on, httpx sends them all, and follows.
    assert [line.split()[1] for line, _ in seen] == ["/moved/c7", "/moved/c7", "/contacts/c7",
                                                     "/moved/c8", "/contacts/c8"]


async def test_a_cookie_a_plain_read_was_answered_with_is_sent_back(make_spec: Any) -> None:
    with app() as (url, _seen):
        async with _connector(make_spec, url, get={"path": "/login"}) as c:
            await c.get("x")  # a plain read, sent directly: its answer sets the cookie
            assert c.client.cookies.get("session") == "abc"
            request = c.request("get", {**c.context, "id": "c1"})
            assert request.headers["Cookie"] == "session=abc"
            assert (await c.sender.send("get", request)).body["cookie"] == "session=abc"


async def test_a_delete_asks_the_write_guard_before_it_leaves(make_spec: Any) -> None:
    class Refused(Exception):
        pass

    asked: list[str] = []

    def refuse(label: str) -> None:
        asked.append(label)
        raise Refused

    with app() as (url, seen):
        spec = make_spec()
        async with Connector(spec, "contacts", {"url": url, "token": Secret(TOKEN, "${env:T}")},
                             write_guard=refuse) as c:
            request = c.request("delete", {**c.context, "id": "c1"})
            assert request.content == b""  # a plain request: it goes the direct way
            with pytest.raises(Refused):
                await c.sender.send("delete", request)
    assert asked == ["testapp.contacts.delete"] and seen == []


async def test_a_plain_read_that_cannot_connect_fails_as_httpx_s_would(make_spec: Any) -> None:
    with app() as (url, _seen):
        pass  # the app is gone: its port refuses
    async with _connector(make_spec, url) as c:
        request = plain_request(c.client, "GET", httpx.URL(f"{url}/contacts/c1"))
        assert request is not None
        with pytest.raises(httpx.ConnectError) as direct:
            await send(c.client, request)
        with pytest.raises(httpx.ConnectError) as by_httpx:
            await c.client.send(request)
    assert direct.value.request is request and by_httpx.value.request is request
