"""An answer too large to be a page: an API path that streams for ever (an
export, a broken proxy) or sends an enormous body. syncd read every answer
whole into memory, so one such endpoint grew the daemon until the kernel
killed it, with every integration. Now one answer is read to
``MAX_ANSWER_BYTES`` at most: past it the connection is dropped and the
request fails, once, naming the limit; the connector goes on working.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from syncd._secret import Secret
from syncd.connector import Connector, TransportError
from syncd.connector._transport import MAX_ANSWER_BYTES, AnswerTooLarge, AsyncH11Transport

pytestmark = pytest.mark.anyio

CHUNK = b" " * (1 << 20)  # JSON allows any amount of white space: an endless, valid-looking body
SLACK = 16 << 20  # what the kernel's buffers on both ends may hold on top of what was read


class Endless(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        server: Any = self.server
        server.requests.append(self.path)
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


@pytest.fixture
def endless() -> Iterator[tuple[str, Any]]:
    server: Any = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    server.daemon_threads = True
    server.sent, server.requests = 0, []
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
