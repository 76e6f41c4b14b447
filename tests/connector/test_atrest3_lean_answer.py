"""The transport's lean path for a request without a body: its bytes are
h11's, a simple answer is read without h11, and every other answer is handed
to h11 as it came (read as before), against a real server on 127.0.0.1 that
writes each answer byte for byte."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import h11
import httpx
import pytest

from syncd.connector._transport import AsyncH11Transport, _checked_headers, _request_bytes

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the transport is asyncio's streams


CLOSE = b"<then close>"  # an answer ending so: the server closes the connection after it
PIECES = b"<in pieces>"  # an answer starting so: written five bytes at a time


class Server:
    """Answers the requests of each connection with the next of :attr:`answers`."""

    def __init__(self) -> None:
        self.answers: list[bytes] = []
        self.connections = 0
        self.heads: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while self.answers:
                self.heads.append(await reader.readuntil(b"\r\n\r\n"))
                if b"transfer-encoding: chunked" in self.heads[-1].lower():  # its body, to the last chunk
                    self.heads[-1] += await reader.readuntil(b"0\r\n\r\n")
                answer = self.answers.pop(0)
                if answer.startswith(PIECES):  # a few bytes at a time: every boundary a read can end at
                    answer = answer.removeprefix(PIECES)
                    for at in range(0, len(answer.removesuffix(CLOSE)), 5):
                        writer.write(answer.removesuffix(CLOSE)[at:at + 5])
                        await writer.drain()
                        await asyncio.sleep(0.002)
                else:
                    writer.write(answer.removesuffix(CLOSE))
                await writer.drain()
                if answer.endswith(CLOSE):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, Server]]:
    s = Server()
    srv = await asyncio.start_server(s.handle, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}", s
    srv.close()
    await srv.wait_closed()


def _transport() -> AsyncH11Transport:
    def no_tls() -> object:
        raise AssertionError("no TLS here")
    return AsyncH11Transport(no_tls)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["GET", "DELETE", "HEAD"])
@pytest.mark.parametrize("target", [b"/contacts?since=2026-12-06T00%3A00%3A00Z&limit=100", b"/a/b%2Fc", b"*"])
def test_the_request_bytes_are_h11s(method: str, target: bytes) -> None:
    raw = ((b"Accept", b"application/json"), (b"Host", b"127.0.0.1:8080"), (b"Authorization", b"Bearer t"))
    expected = h11.Connection(h11.CLIENT).send(h11.Request(method=method, target=target, headers=list(raw)))
    assert _request_bytes(method, target, raw) == expected
    with pytest.raises(h11.LocalProtocolError):
        _request_bytes(method, b"/a b", raw)  # as h11 refuses it
    with pytest.raises(h11.LocalProtocolError):
        _request_bytes(method, target, ((b"Accept", b"x"),))  # no Host
    assert _checked_headers(raw).raw_items() == list(raw)


SIMPLE = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{"a": 1}\n'


@pytest.mark.parametrize(("answers", "status", "body", "reused"), [
    ([SIMPLE, SIMPLE], 200, b'{"a": 1}\n', True),  # the lean path, the connection kept
    ([b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\nConnection: keep-alive, Close\r\n\r\n{}", SIMPLE],
     404, b"{}", False),  # Connection: close: not kept
    ([SIMPLE + b"HTTP/1.1 200 OK\r\n", SIMPLE], 200, b'{"a": 1}\n', False),  # bytes after the answer
    ([SIMPLE + b"junk", SIMPLE], 200, b'{"a": 1}\n', False),  # bytes after it that are no answer
    ([PIECES + SIMPLE, SIMPLE], 200, b'{"a": 1}\n', True),  # head and body in pieces
    ([PIECES + b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", SIMPLE],
     200, b"ok", True),
    ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", SIMPLE],
     200, b"abcde", True),  # chunked: h11's
    ([b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", SIMPLE],
     200, b"ok", True),  # an informational answer first: h11's
    ([b"HTTP/1.1 204 No Content\r\n\r\n", SIMPLE], 204, b"", True),
    ([b"HTTP/1.1 200 OK\r\nX-Trailing: v \t \r\nContent-Length: 2\r\n\r\nok", SIMPLE], 200, b"ok", True),
    ([b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 2\r\n\r\nok", SIMPLE],
     200, b"ok", True),  # a folded header: h11's (which unfolds it)
    ([b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", SIMPLE], 200, b"ok", False),  # HTTP/1.0: h11's
    ([b"HTTP/1.1 200 OK\r\n\r\nuntil the end" + CLOSE, SIMPLE], 200, b"until the end", False),  # no length: to the close
])
async def test_each_answer_is_read_as_h11_reads_it(server: tuple[str, Server], answers: list[bytes], status: int,
                                                  body: bytes, reused: bool) -> None:
    url, s = server
    s.answers = list(answers)
    async with httpx.AsyncClient(transport=_transport(), timeout=5) as c:
        first = await c.get(f"{url}/x")
        assert (first.status_code, first.content) == (status, body)
        if status == 200 and b"X-Folded" in answers[0]:
            assert first.headers["x-folded"] == "a b"
        if b"X-Trailing" in answers[0]:
            assert first.headers["x-trailing"] == "v"
        second = await c.get(f"{url}/y")
        assert (second.status_code, second.content) == (200, b'{"a": 1}\n')
        assert second.headers["content-type"] == "application/json"
    assert s.connections == (1 if reused else 2)


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",  # conflicting lengths
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nBad Header\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok",
])
async def test_an_answer_h11_refuses_is_still_refused(server: tuple[str, Server], answer: bytes) -> None:
    url, s = server
    s.answers = [answer]
    async with httpx.AsyncClient(transport=_transport(), timeout=5) as c:
        with pytest.raises(httpx.RemoteProtocolError):
            await c.get(f"{url}/x")


async def test_an_encoded_answer_is_decoded_by_httpx(server: tuple[str, Server]) -> None:
    import gzip
    url, s = server
    packed = gzip.compress(b'{"z": 1}')
    s.answers = [b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(packed), packed)]
    async with httpx.AsyncClient(transport=_transport(), timeout=5) as c:
        assert (await c.get(f"{url}/x")).json() == {"z": 1}


async def test_an_empty_request_framed_as_chunked_ends_its_body_as_h11_does(server: tuple[str, Server]) -> None:
    url, s = server
    s.answers = [SIMPLE]
    async with httpx.AsyncClient(transport=_transport(), timeout=2) as c:
        request = c.build_request("POST", f"{url}/x", headers={"Transfer-Encoding": "chunked"})
        assert request.content == b""
        assert (await c.send(request)).status_code == 200
    assert s.heads[0].startswith(b"POST /x HTTP/1.1\r\n") and s.heads[0].endswith(b"\r\n\r\n0\r\n\r\n")
