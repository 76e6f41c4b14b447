"""A read without a body is built without httpx's merging (``_plain_request``):
it must be the very request ``AsyncClient.build_request`` builds, and a
request that needs the merging (a cookie to send back) must still get it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from syncd._secret import Secret
from syncd.connector import Connector
from syncd.connector._plain_request import plain_request
from test_atrest_kept_connections import cookie_server, keeping

URLS = [
    "http://127.0.0.1:8080/contacts?limit=100&since=2026-12-06T00%3A00%3A00Z",
    "http://127.0.0.1:80/contacts",  # a default port written out
    "https://api.example.com/v1/contacts/a%2Fb?q=%C3%A9",
    "http://[::1]:9000/x",
    "https://user@api.example.com/contacts",
]


def _same(a: httpx.Request, b: httpx.Request) -> None:
    assert a.method == b.method
    assert a.url == b.url and a.url.raw_path == b.url.raw_path
    assert a.headers.raw == b.headers.raw  # the same headers, in the same order (Host first)
    assert a.extensions == b.extensions
    assert a.content == b.content == b""
    assert b"".join(a.stream) == b"".join(b.stream) == b""  # type: ignore[arg-type]


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("method", ["GET", "DELETE", "get"])
def test_a_plain_request_is_the_request_httpx_builds(url: str, method: str) -> None:
    client = httpx.AsyncClient(headers={"Accept": "application/json", "User-Agent": "syncd", "X-Key": "k"},
                               timeout=httpx.Timeout(12.5))
    for extensions in (None, {"syncd_write": ("a.b.delete", None)}):
        for _ in range(2):  # the second from the headers kept for the origin
            plain = plain_request(client, method, httpx.URL(url), extensions)
            assert plain is not None
            _same(plain, client.build_request(method, httpx.URL(url), extensions=extensions))
    plain = plain_request(client, "GET", httpx.URL(url))
    assert plain is not None
    plain.headers["Authorization"] = "Bearer new"  # what an auth flow does: to this request only
    again = plain_request(client, "GET", httpx.URL(url))
    assert again is not None and "Authorization" not in again.headers


def test_a_relative_url_or_a_cookie_to_send_is_left_to_httpx() -> None:
    client = httpx.AsyncClient(base_url="http://127.0.0.1:1/api")
    assert plain_request(client, "GET", httpx.URL("/contacts")) is None
    client.cookies.set("session", "abc", domain="127.0.0.1")
    assert plain_request(client, "GET", httpx.URL("http://127.0.0.1:1/contacts")) is None


@pytest.mark.anyio
async def test_a_read_after_an_answer_that_set_a_cookie_sends_it_back(make_spec: Any) -> None:
    with cookie_server() as url:
        async with Connector(make_spec(), "contacts", {"url": url, "token": Secret("t", "${env:T}")}) as c:
            def read() -> httpx.Request:
                return c.request("get", {**c.context, "id": "c1"})

            assert (await c.sender.send("get", read())).body == {"cookie": None}
            assert (await c.client.get(f"{url}/login")).json() == {"cookie": None}
            request = read()
            assert request.headers["Cookie"] == "session=abc"
            assert (await c.sender.send("get", request)).body == {"cookie": "session=abc"}


@pytest.mark.anyio
async def test_a_cookie_of_one_cycle_is_not_sent_by_the_next_on_the_kept_client(make_spec: Any) -> None:
    spec = make_spec()
    accounts = keeping()
    with cookie_server() as url:
        settings = {"url": url, "token": Secret("t", "${env:T}")}
        async with Connector(spec, "contacts", settings, accounts=accounts) as first:
            await first.client.get(f"{url}/login")
            assert (await first.sender.send("get", first.request("get", {**first.context, "id": "c1"}))).body == \
                {"cookie": "session=abc"}
        for _cycle in range(2):  # the jar it left is replaced; an empty one is kept as it is
            async with Connector(spec, "contacts", settings, accounts=accounts) as c:
                assert c.client is first.client and not c.client.cookies
                assert (await c.sender.send("get", c.request("get", {**c.context, "id": "c1"}))).body == \
                    {"cookie": None}
        await accounts.close_connections()
