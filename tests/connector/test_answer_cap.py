"""An answer too large to be a page: an API path that streams for ever (an
export, a broken proxy) or sends an enormous body. syncd read every answer
whole into memory, so one such endpoint grew the daemon until the kernel
killed it, with every integration. Now one answer is read to
``MAX_ANSWER_BYTES`` at most: past it the connection is dropped and the
request fails, once, naming the limit; the connector goes on working.

The limit holds once the answer is decoded too (a gzip bomb: a few hundred
KB that httpx decoded whole, to gigabytes), and behind a proxy (httpx's own
transport, which read answers whole).
"""

from __future__ import annotations

import functools
import http.server
import json
import resource
import threading
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncd._secret import Secret
from syncd.connector import Connector, TransportError
from syncd.connector._transport import MAX_ANSWER_BYTES, AnswerTooLarge, AsyncH11Transport, decoded_body

pytestmark = pytest.mark.anyio

CHUNK = b" " * (1 << 20)  # JSON allows any amount of white space: an endless, valid-looking body
SLACK = 16 << 20  # what the kernel's buffers on both ends may hold on top of what was read


class Endless(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        server: Any = self.server
        if self.path.startswith("http://"):  # as a proxy is asked (absolute form): answered here
            server.proxied.append(self.path)
            self.path = urlsplit(self.path).path
        server.requests.append(self.path)
        server.accept_encoding.append(self.headers.get_all("Accept-Encoding"))
        if self.path.startswith("/encoded/"):
            self._encoded(urlsplit(self.path).path.split("/")[2])
            return
        if self.path.startswith("/small"):
            body = json.dumps({"results": [], "paging": None}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        if self.path.startswith("/chunked"):  # never ends
            self.send_header("Transfer-Encoding", "chunked")
        else:  # says its length: 4 GiB
            self.send_header("Content-Length", str(4 << 30))
        self.end_headers()
        chunked = self.path.startswith("/chunked")
        self.wfile.write(b"1\r\n[\r\n" if chunked else b"[")
        try:
            while True:
                data = b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK) if chunked else CHUNK
                self.wfile.write(data)
                server.sent += len(data)
        except OSError:
            self.close_connection = True  # the client went: what was sent is counted


    def _encoded(self, kind: str) -> None:
        """A body of *kind* (see ENCODED), with its Content-Encoding."""
        coding, body = ENCODED[kind]()
        self.send_response(200)
        self.send_header("Content-Encoding", coding)
        if kind.endswith("-chunked"):  # read by h11 (the lean path takes a Content-Length only)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)


BOMB_SIZE = 256 << 20  # four times the limit, decoded: 260 KB of gzip


def _compressed(data: bytes | None, wbits: int, repeat: int = 1) -> bytes:
    """*data* (by default 1 MiB of JSON white space) *repeat* times, compressed."""
    c = zlib.compressobj(9, zlib.DEFLATED, wbits)
    chunk = data if data is not None else b" " * (1 << 20)
    return b"".join([c.compress(chunk) for _ in range(repeat)] + [c.flush()])


@functools.cache
def _bomb(wbits: int) -> bytes:
    return _compressed(b"[" + b" " * ((1 << 20) - 1), wbits, BOMB_SIZE >> 20)


PAGE = json.dumps({"results": [{"id": "1", "email": "ada@example.com"}], "paging": None}).encode()
ENCODED: dict[str, Any] = {
    "gzip-bomb": lambda: ("gzip", _bomb(zlib.MAX_WBITS | 16)),
    "gzip-bomb-chunked": lambda: ("gzip", _bomb(zlib.MAX_WBITS | 16)),
    "deflate-bomb": lambda: ("deflate", _bomb(-zlib.MAX_WBITS)),  # raw, as many servers send it
    # Within the limit once, past it once more: each decoding is held to the limit.
    "twice": lambda: ("gzip, deflate", _compressed(_bomb(zlib.MAX_WBITS | 16), zlib.MAX_WBITS)),
    "gzip": lambda: ("gzip", _compressed(PAGE, zlib.MAX_WBITS | 16)),
    "deflate": lambda: ("deflate", _compressed(PAGE, zlib.MAX_WBITS)),
    "raw-deflate": lambda: ("deflate", _compressed(PAGE, -zlib.MAX_WBITS)),
    "gzip-then-deflate": lambda: ("gzip, Deflate", _compressed(_compressed(PAGE, zlib.MAX_WBITS | 16),
                                                                 zlib.MAX_WBITS)),
    "identity": lambda: ("identity", PAGE),
    "unknown": lambda: ("UTF-8", PAGE),  # not a coding (seen in the wild): skipped, as httpx does
    "gzip-and-unknown": lambda: ("gzip, UTF-8", _compressed(PAGE, zlib.MAX_WBITS | 16)),
    "corrupt": lambda: ("gzip", b"\x1f\x8b not gzip at all"),
}


@pytest.fixture
def endless() -> Iterator[tuple[str, Any]]:
    server: Any = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    server.daemon_threads = True
    server.sent, server.requests, server.proxied, server.accept_encoding = 0, [], [], []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("path", ["/chunked", "/length"])  # read by h11, and by httptools
async def test_an_answer_past_the_limit_is_dropped_not_read_whole(endless: tuple[str, Any], path: str) -> None:
    url, server = endless
    async with httpx.AsyncClient(transport=AsyncH11Transport(lambda: None), timeout=10) as c:  # type: ignore[arg-type, return-value]
        with pytest.raises(AnswerTooLarge, match=f"larger than {MAX_ANSWER_BYTES >> 20} MiB"):
            await c.get(f"{url}{path}")
        assert (await c.get(f"{url}/small")).json() == {"results": [], "paging": None}  # on a new connection
    assert MAX_ANSWER_BYTES <= server.sent < MAX_ANSWER_BYTES + SLACK, server.sent


async def test_a_connector_fails_the_read_once_and_names_the_limit(endless: tuple[str, Any], make_spec: Any) -> None:
    url, server = endless
    spec = make_spec(contacts={"list": {"path": "/chunked/contacts"}})
    async with Connector(spec, "contacts", {"url": url, "token": Secret("t", "${env:TOKEN}")}) as c:
        with pytest.raises(TransportError) as caught:
            async for _ in c.list():
                pass
    message = str(caught.value)
    assert f"GET {url}/chunked/contacts failed after 1 attempt(s): AnswerTooLarge: the answer is larger than " \
           f"{MAX_ANSWER_BYTES >> 20} MiB" in message, message
    assert len(server.requests) == 1  # as large again: not asked twice (the spec retries 5xx and drops)


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10


@pytest.mark.parametrize("kind", ["gzip-bomb", "gzip-bomb-chunked", "deflate-bomb", "twice"])
async def test_an_answer_that_decodes_past_the_limit_is_not_decoded_whole(
        endless: tuple[str, Any], kind: str) -> None:
    url, server = endless
    _bomb(zlib.MAX_WBITS | 16), _bomb(-zlib.MAX_WBITS)  # made before the peak is taken
    before = _peak_rss()
    async with httpx.AsyncClient(transport=AsyncH11Transport(lambda: None), timeout=10) as c:  # type: ignore[arg-type, return-value]
        with pytest.raises(AnswerTooLarge, match=f"decodes to more than {MAX_ANSWER_BYTES >> 20} MiB"):
            await c.get(f"{url}/encoded/{kind}")
        assert (await c.get(f"{url}/small")).json() == {"results": [], "paging": None}
    # Decoded whole, the answer alone was BOMB_SIZE (four times the limit); held to it, one limit's worth.
    assert _peak_rss() - before < BOMB_SIZE // 2, (_peak_rss() - before) >> 20


@pytest.mark.parametrize("kind", ["gzip", "deflate", "raw-deflate", "gzip-then-deflate", "identity", "unknown",
                                  "gzip-and-unknown"])
@pytest.mark.parametrize("proxied", [False, True])
async def test_an_encoded_answer_is_read_as_httpx_reads_it(
        endless: tuple[str, Any], make_spec: Any, monkeypatch: pytest.MonkeyPatch, kind: str,
        proxied: bool) -> None:
    url, server = endless
    base = _through_proxy(monkeypatch, url) if proxied else url
    spec = make_spec(contacts={"list": {"path": f"/encoded/{kind}", "pagination": None}})
    async with Connector(spec, "contacts", {"url": base, "token": Secret("t", "${env:TOKEN}")}) as c:
        records = [r async for page in c.list() for r in page.records]
    assert [(r.id, r.fields["email"]) for r in records] == [("1", "ada@example.com")]
    assert server.accept_encoding == [["gzip, deflate"]]  # only the codings syncd decodes under its limit
    assert len(server.proxied) == proxied


async def test_a_spec_s_own_accept_encoding_is_sent_alone(endless: tuple[str, Any], make_spec: Any) -> None:
    url, server = endless
    spec = make_spec(headers={"accept-encoding": "identity"},  # in its own case
                     contacts={"list": {"path": "/encoded/identity", "pagination": None}})
    async with Connector(spec, "contacts", {"url": url, "token": Secret("t", "${env:TOKEN}")}) as c:
        assert [r.id async for page in c.list() for r in page.records] == ["1"]
    assert server.accept_encoding == [["identity"]]


async def test_a_corrupt_encoded_body_is_retried_then_named(endless: tuple[str, Any], make_spec: Any) -> None:
    # httpx's DecodingError is no TransportError: it escaped the retries and the error's wording.
    url, server = endless
    spec = make_spec(contacts={"list": {"path": "/encoded/corrupt", "pagination": None}})
    async with Connector(spec, "contacts", {"url": url, "token": Secret("t", "${env:TOKEN}")}) as c:
        with pytest.raises(TransportError) as caught:
            async for _ in c.list():
                pass
    assert f"GET {url}/encoded/corrupt failed after 4 attempt(s): DecodingError:" in str(caught.value)
    assert len(server.requests) == 4


def _through_proxy(monkeypatch: pytest.MonkeyPatch, proxy: str) -> str:
    """The environment of a daemon behind a proxy at *proxy*; a base URL only it can reach."""
    for name in ("HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "https_proxy", "all_proxy", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    return "http://behind-the-proxy.invalid"  # (resolved by nobody: reached through the proxy or not at all)


@pytest.mark.parametrize("path", ["/chunked/contacts", "/length/contacts", "/encoded/gzip-bomb"])
async def test_behind_a_proxy_an_answer_is_held_to_the_limit_too(
        endless: tuple[str, Any], make_spec: Any, monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    url, server = endless
    base = _through_proxy(monkeypatch, url)
    spec = make_spec(contacts={"list": {"path": path, "pagination": None}})
    before = _peak_rss()
    async with Connector(spec, "contacts", {"url": base, "token": Secret("t", "${env:TOKEN}")}) as c:
        assert isinstance(c.client._transport, httpx.AsyncHTTPTransport)  # httpx's own, the proxy's
        with pytest.raises(TransportError) as caught:
            async for _ in c.list():
                pass
    what = "decodes to more than" if "bomb" in path else "is larger than"
    assert f"GET {base}{path} failed after 1 attempt(s): AnswerTooLarge: the answer {what} " \
           f"{MAX_ANSWER_BYTES >> 20} MiB" in str(caught.value), str(caught.value)
    assert [urlsplit(u)._replace(query="").geturl() for u in server.proxied] == [f"{base}{path}"]
    if "bomb" not in path:
        assert MAX_ANSWER_BYTES <= server.sent < MAX_ANSWER_BYTES + SLACK, server.sent
    assert _peak_rss() - before < BOMB_SIZE // 2 + SLACK


_CODINGS = {"gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS, "raw-deflate": -zlib.MAX_WBITS}


def _httpx_reads(raw: list[tuple[bytes, bytes]], body: bytes) -> bytes | type[Exception]:
    try:
        return httpx.Response(200, headers=raw, content=body).content
    except httpx.DecodingError:
        return httpx.DecodingError


def _ours(raw: list[tuple[bytes, bytes]], body: bytes) -> bytes | type[Exception]:
    try:
        decoded = decoded_body(raw, body, httpx.Request("GET", "http://app.invalid/"))
    except httpx.DecodingError:
        return httpx.DecodingError
    assert decoded is not None  # (only codings syncd asks for here)
    return decoded


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=2048),
       chain=st.lists(st.sampled_from(["gzip", "deflate", "raw-deflate", "identity", "x-gzip"]), max_size=3),
       garbage=st.booleans())
def test_syncd_decodes_what_httpx_decodes_and_refuses_what_it_refuses(
        data: bytes, chain: list[str], garbage: bool) -> None:
    """The decoding syncd took over (to hold it to the limit) reads every body as httpx's own
    decoders do: codings chained, deflate with or without zlib's wrapper, a body that does not
    decode refused (a garbled one: *data* given as it is, labelled with the chain)."""
    body = data
    if not garbage:
        for coding in chain:
            wbits = _CODINGS.get(coding.replace("x-", ""))
            if wbits is not None:
                body = _compressed(body, wbits)
    names = ["deflate" if c == "raw-deflate" else c for c in chain]
    raw = [(b"Content-Encoding", ", ".join(names).encode())] if names else []
    # x-gzip is gzip (RFC 9110, 8.4.1.3), which syncd honours and httpx skips as unknown
    as_httpx = [(name, value.replace(b"x-gzip", b"gzip")) for name, value in raw]
    assert _ours(raw, body) == _httpx_reads(as_httpx, body)
