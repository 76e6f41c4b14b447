"""Connections kept across cycles (``AccountRegistry.keep_connections``, the
daemon's setting): the connectors of one account share one transport that
outlives them, against a real sample app on 127.0.0.1.

Each connector here stands for one cycle's: made, used, closed; the next
one must find the connection the last one left, and everything a connector
did on its own before (auth, the write guard) must still happen per request.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
import structlog

from syncd._secret import Secret
from syncd.connector import AccountRegistry, Connector
from syncd.connector._transport import AsyncH11Transport
from syncd.sampleapp import AuthMode, SampleApp
from test_auth import open_connector, spec_for, token_calls

pytestmark = pytest.mark.anyio


def sockets(app: SampleApp) -> set[str]:
    """The client sockets open to *app* (its server runs in this process
    too: its side of each connection is not counted), by inode; one the
    server closed and we did not (CLOSE_WAIT) counts, as it holds an fd."""
    port = f"{app.port:04X}"
    found = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[2].endswith(f":{port}") and fields[9] != "0":  # remote address; inode (0: TIME_WAIT)
                found.add(fields[9])
    return found


def ids(app: SampleApp) -> list[str]:
    return [c["id"] for c in app.store.all()]


def keeping() -> AccountRegistry:
    """A registry as the daemon's: each account's connections kept across cycles."""
    accounts = AccountRegistry()
    accounts.keep_connections()
    return accounts


def kept(accounts: AccountRegistry) -> AsyncH11Transport:
    [transport] = (accounts._kept or {}).values()
    return transport


async def test_the_next_cycle_reuses_the_connection_the_last_one_left(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=3)
    spec = make_spec()
    accounts = keeping()
    for _cycle in range(3):
        async with connect(spec, app, accounts=accounts) as c:
            assert await c.get(ids(app)[0]) is not None
        # closed, its connection still open for the next one
        assert len(sockets(app)) == 1
    assert app._server is not None and len(app._server._conns) == 1  # one connection served all three
    await accounts.close_connections()
    assert sockets(app) == set()  # nothing left open: no ResourceWarning at exit either


async def test_without_keeping_each_connector_closes_its_own(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=3)
    async with connect(make_spec(), app, accounts=AccountRegistry()) as c:
        assert await c.get(ids(app)[0]) is not None
    assert sockets(app) == set()


async def test_a_kept_connection_the_server_closed_as_it_is_reused_is_replaced_without_a_retry(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    """The keep-alive race: the app hangs up on idle connections and the
    event loop has not seen the FIN yet when the next cycle sends. A GET
    goes again at once on a new connection: no error, no back-off. (Before
    the transport replayed it, this cost a "request retried" and a back-off.)"""
    app = sample_app(n=3)
    spec = make_spec()
    accounts = keeping()
    async with connect(spec, app, accounts=accounts) as c:
        assert await c.get(ids(app)[0]) is not None
    app._server.close_connections()  # blocks the loop: the FIN is not read before the next request
    with structlog.testing.capture_logs() as logs:
        async with connect(spec, app, accounts=accounts) as c:
            assert await c.get(ids(app)[1]) is not None
            assert c.sender.retries == 0
    assert [e for e in logs if e["event"] == "request retried"] == []
    assert [r.path for r in app.requests.matching("GET")] == [f"/contacts/{i}" for i in ids(app)[:2]]
    await accounts.close_connections()


async def test_a_write_is_never_replayed_on_a_new_connection(sample_app: Any, make_spec: Any, connect: Any) -> None:
    """A POST on a connection that turned out closed is not sent again by the
    transport: whether it reached the app is unknown (the sender says so)."""
    app = sample_app(n=1)
    spec = make_spec()
    accounts = keeping()
    async with connect(spec, app, accounts=accounts) as c:
        assert await c.get(ids(app)[0]) is not None
    app._server.close_connections()
    async with connect(spec, app, accounts=accounts) as c:
        with pytest.raises(Exception) as caught:
            await c.create({"email": "new@example.com", "first_name": "New"})
    assert getattr(caught.value, "outcome_unknown", False), caught.value
    assert app.requests.matching("POST") == [] and len(app.store) == 1
    await accounts.close_connections()


async def test_an_expired_token_is_refreshed_by_the_next_cycle_on_the_kept_connection(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    mode = AuthMode.OAUTH2_CLIENT_CREDENTIALS
    app = sample_app(n=3, auth=mode)
    spec = spec_for(make_spec, mode)
    accounts = keeping()
    async with open_connector(connect, spec, app, accounts=accounts) as c:
        assert await c.get(ids(app)[0]) is not None
        client = c.client
    app.expire_tokens()
    async with open_connector(connect, spec, app, accounts=accounts) as c:
        assert c.client is client  # the client kept too (test_atrest2_kept_clients.py)
        assert await c.get(ids(app)[1]) is not None
    async with open_connector(connect, spec, app, accounts=accounts) as c:
        assert await c.get(ids(app)[2]) is not None  # the refreshed token, not asked for again
    assert [r.status for r in token_calls(app)] == [200, 200]
    await accounts.close_connections()


async def test_the_write_guard_is_asked_for_every_write_of_every_cycle(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=0)
    spec = make_spec()
    accounts = keeping()
    asked: list[str] = []

    class Refused(Exception):
        pass

    def allow(label: str) -> None:
        asked.append(label)

    def refuse(label: str) -> None:
        asked.append(label)
        raise Refused

    async with connect(spec, app, accounts=accounts, write_guard=allow) as c:
        await c.create({"email": "a@example.com"})
    async with connect(spec, app, accounts=accounts, write_guard=refuse) as c:
        with pytest.raises(Refused):
            await c.create({"email": "b@example.com"})
    assert asked == ["testapp.contacts.create"] * 2
    assert [r.body["email"] for r in app.requests.matching("POST")] == ["a@example.com"]  # the refused never left
    await accounts.close_connections()


async def test_idle_connections_are_closed_once_expired_without_another_request(sample_app: Any) -> None:
    import httpx

    from syncd.connector._connector import _tls_context

    app = sample_app(n=1)
    transport = AsyncH11Transport(_tls_context, keepalive_expiry=0.2)
    async with httpx.AsyncClient(transport=transport, headers={"Authorization": f"Bearer {app.token}"}) as client:
        assert (await client.get(f"{app.url}/contacts/{ids(app)[0]}")).status_code == 200
        assert len(sockets(app)) == 1
        with anyio.fail_after(5):
            while sockets(app):  # the sweep closes it 0.2 s after its request
                await anyio.sleep(0.05)
        assert transport._idle == {}


async def test_a_reload_closes_the_idle_kept_connections(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=1)
    accounts = keeping()
    async with connect(make_spec(), app, accounts=accounts) as c:
        assert await c.get(ids(app)[0]) is not None
    assert len(sockets(app)) == 1
    accounts.close_idle_connections()
    with anyio.fail_after(5):
        while sockets(app):
            await anyio.sleep(0.01)
    assert kept(accounts)._idle == {}
    await accounts.close_connections()


class _CookieHandler(http.server.BaseHTTPRequestHandler):
    """Sets a cookie at /login; every answer says which cookie came with the request."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        body = json.dumps({"cookie": self.headers.get("Cookie")}).encode()
        self.send_response(200)
        if self.path == "/login":
            self.send_header("Set-Cookie", "session=abc; Path=/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextlib.contextmanager
def cookie_server() -> Iterator[str]:
    """A :class:`_CookieHandler` server on 127.0.0.1; its URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CookieHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_cookies_an_app_sets_are_still_sent_back(make_spec: Any) -> None:
    """The connector's jar skips answers without Set-Cookie (most of them,
    and their cost); one that sets a cookie is still kept and sent back."""
    with cookie_server() as url:
        async with Connector(make_spec(), "contacts", {"url": url, "token": Secret("t", "${env:T}")}) as c:
            assert (await c.client.get(f"{url}/echo")).json() == {"cookie": None}
            assert (await c.client.get(f"{url}/login")).json() == {"cookie": None}
            assert (await c.client.get(f"{url}/echo")).json() == {"cookie": "session=abc"}
