"""syncd's HTTP/1.1 transport (h11 over asyncio streams) against a real server.

The server is the standard library's, speaking HTTP/1.1 with keep-alive on
127.0.0.1; each answer says which client connection (port) carried it, so
the tests see when a connection is reused and when a new one is opened.
"""

from __future__ import annotations

import asyncio
import gzip
import http.server
import json
import os
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from syncd._secret import Secret
from syncd.connector import Connector
from syncd.connector._transport import AsyncH11Transport, proxy_configured

pytestmark = pytest.mark.anyio

BIG = b"x" * 300_000


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _answer(self, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(200)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if "Transfer-Encoding" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.server.ports.append(self.client_address[1])  # type: ignore[attr-defined]
        path = self.path.split("?")[0]
        about = json.dumps({"path": self.path, "port": self.client_address[1]}).encode()
        if path == "/slow":
            time.sleep(0.5)  # a slow server, past the 0.1 s the tests wait (not synchronisation)
            self._answer(about)
        elif path == "/close":  # says so
            self._answer(about, {"Connection": "close"})
        elif path == "/drop":  # answers, then closes without saying so
            self._answer(about)
            self.close_connection = True
        elif path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b'{"parts": ', b"[1, 2, ", b"3]}"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/gzip":
            self._answer(gzip.compress(about), {"Content-Encoding": "gzip"})
        elif path == "/big":
            self._answer(BIG)
        else:
            self._answer(about)

    def do_POST(self) -> None:
        self.server.ports.append(self.client_address[1])  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self._answer(json.dumps({"got": json.loads(body)}).encode())


def serve(tls: ssl.SSLContext | None = None) -> Iterator[tuple[str, Any]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.ports = []  # type: ignore[attr-defined]
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    # shutdown() waits for the loop to look at its flag: every 0.05 s, not the default 0.5 s
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    scheme = "https" if tls else "http"
    yield f"{scheme}://127.0.0.1:{server.server_address[1]}", server
    server.shutdown()
    server.server_close()


@pytest.fixture
def server() -> Iterator[tuple[str, Any]]:
    yield from serve()


def client(transport: httpx.AsyncBaseTransport, timeout: float = 5.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport, timeout=timeout)


def plain() -> AsyncH11Transport:
    def no_tls() -> ssl.SSLContext:
        raise AssertionError("plain HTTP asked for a TLS context")
    return AsyncH11Transport(no_tls)


async def test_requests_reuse_one_connection(server: tuple[str, Any]) -> None:
    url, srv = server
    async with client(plain()) as c:
        answers = [(await c.get(f"{url}/n?i={i}")).json() for i in range(5)]
        posted = (await c.post(f"{url}/post", json={"a": [1, "é"]})).json()
    assert [a["path"] for a in answers] == [f"/n?i={i}" for i in range(5)]
    assert posted == {"got": {"a": [1, "é"]}}
    assert len(set(srv.ports)) == 1 and len(srv.ports) == 6


async def eventually(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Poll ``check`` every few ms until it holds (AssertionError after ``timeout`` s).

    For what only the client's own state shows, such as an event loop having
    seen a FIN: there is no event to wait on.
    """
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        await anyio.sleep(0.005)


async def test_a_connection_the_server_closes_is_not_reused(server: tuple[str, Any]) -> None:
    url, srv = server
    transport = plain()
    async with client(transport) as c:
        assert (await c.get(f"{url}/close")).status_code == 200  # Connection: close
        assert (await c.get(f"{url}/drop")).status_code == 200  # closed without a word
        idle = transport._idle[(b"http", b"127.0.0.1", int(url.rsplit(":", 1)[1]))]
        assert len(idle) == 1  # /drop's connection, kept: nothing said it would close
        await eventually(lambda: idle[0].reader.at_eof(), "the server's FIN reaches the idle connection")
        assert (await c.get(f"{url}/after")).json()["path"] == "/after"
    assert len(set(srv.ports)) == 3


KEEPALIVE = 0.05


async def test_an_idle_connection_past_its_keepalive_is_not_reused(server: tuple[str, Any]) -> None:
    url, srv = server
    async with client(AsyncH11Transport(ssl.create_default_context, keepalive_expiry=KEEPALIVE)) as c:
        await c.get(f"{url}/one")
        await c.get(f"{url}/two")  # within the expiry: the same connection
        # Not synchronisation: the keep-alive expiry is the behaviour under
        # test, and only time passing makes a connection too old to reuse.
        await anyio.sleep(KEEPALIVE + 0.01)
        await c.get(f"{url}/three")
    assert srv.ports[0] == srv.ports[1] != srv.ports[2]


async def test_a_cancelled_request_never_hands_its_answer_to_the_next(server: tuple[str, Any]) -> None:
    url, srv = server
    async with client(plain()) as c:
        with anyio.move_on_after(0.1) as scope:
            await c.get(f"{url}/slow")
        assert scope.cancelled_caught
        answer = (await c.get(f"{url}/fast")).json()
    assert answer["path"] == "/fast"  # not /slow's late answer on a reused connection
    assert len(set(srv.ports)) == 2


async def test_bodies_chunked_compressed_and_larger_than_a_read(server: tuple[str, Any]) -> None:
    url, _ = server
    async with client(plain()) as c:
        assert (await c.get(f"{url}/chunked")).json() == {"parts": [1, 2, 3]}
        assert (await c.get(f"{url}/gzip")).json()["path"] == "/gzip"
        big = await c.get(f"{url}/big")
        assert big.content == BIG and big.http_version == "HTTP/1.1" and big.reason_phrase == "OK"


async def test_timeouts_and_refusals_are_httpx_errors(server: tuple[str, Any]) -> None:
    url, _ = server
    async with client(plain(), timeout=0.1) as c:
        with pytest.raises(httpx.ReadTimeout):
            await c.get(f"{url}/slow")
        assert (await c.get(f"{url}/ok")).status_code == 200
    with anyio.fail_after(5):
        with socket_closed() as port:
            async with client(plain()) as c:
                with pytest.raises(httpx.ConnectError):
                    await c.get(f"http://127.0.0.1:{port}/")


class socket_closed:
    """A port nothing listens on."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return int(self.sock.getsockname()[1])

    def __exit__(self, *_: Any) -> None:
        self.sock.close()


async def test_a_closed_transport_closes_its_idle_connections(server: tuple[str, Any]) -> None:
    url, _ = server
    transport = plain()
    async with client(transport) as c:
        await c.get(f"{url}/a")
        (conn,) = transport._idle[(b"http", b"127.0.0.1", int(url.rsplit(":", 1)[1]))]
    assert conn.writer.is_closing() and not transport._idle
    with pytest.raises(RuntimeError, match="closed"):
        await transport.handle_async_request(httpx.Request("GET", f"{url}/b"))


@pytest.fixture
def trusted_https(tmp_path: Path) -> Iterator[tuple[str, ssl.SSLContext]]:
    """An HTTPS server whose self-made certificate the returned context trusts."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    for url, _ in serve(context):
        yield url, ssl.create_default_context(cafile=str(cert))


async def test_https_with_the_given_context(trusted_https: tuple[str, ssl.SSLContext]) -> None:
    url, trusting = trusted_https
    async with client(AsyncH11Transport(lambda: trusting)) as c:
        assert (await c.get(f"{url}/tls")).json()["path"] == "/tls"
    async with client(AsyncH11Transport(ssl.create_default_context)) as c:  # system CAs only
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await c.get(f"{url}/tls")


async def test_a_connector_behind_a_proxy_uses_httpx_transport(
        make_spec: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = {"url": "http://127.0.0.1:9", "token": Secret("t", "${env:TOKEN}")}
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "example.com")  # a bypass list alone names no proxy
    assert not proxy_configured()
    async with Connector(make_spec(), "contacts", settings) as c:
        assert isinstance(c.client._transport, AsyncH11Transport)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    assert proxy_configured() and os.environ["HTTPS_PROXY"]
    async with Connector(make_spec(), "contacts", settings) as c:
        assert isinstance(c.client._transport, httpx.AsyncHTTPTransport)
        assert c.client._mounts  # httpx's own transport, with the proxy mounted


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\ntoo short",  # closed mid-body
    b"NOT HTTP AT ALL\r\n\r\n",  # not a status line
    b"",  # closed without a word
])
async def test_a_broken_answer_is_a_remote_protocol_error(answer: bytes) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with client(plain()) as c:
            with pytest.raises(httpx.RemoteProtocolError):
                await c.get(f"http://127.0.0.1:{port}/")
    finally:
        server.close()
        await server.wait_closed()
