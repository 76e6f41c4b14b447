"""What the fake vendor APIs share: a small stdlib HTTP server and JSON replies.

A fake subclasses :class:`FakeApi` and implements ``handle(request)``, which
returns a :class:`Reply`.  The server is a ``ThreadingHTTPServer`` on
127.0.0.1 (a free port), serving in a daemon thread.  It speaks HTTP/1.0, one
request per connection, and keeps track of its handler threads, so ``stop()``
leaves no thread or socket behind (pytest runs with warnings as errors).
An exception inside a fake is answered 500 and kept in ``server_errors``: the
fixtures fail the test on it, so a bug in a fake is never mistaken for a
client retrying.
"""

from __future__ import annotations

import json
import threading
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Protocol, Self
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: Any = None  # decoded JSON, or None
    raw: bytes = b""  # the body as sent, for a contract check (tests/contracts/contract.py)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default


@dataclass
class Reply:
    status: int
    body: Any = None  # JSON-encoded unless None
    content_type: str = "application/json;charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


class Contract(Protocol):
    """What a fake calls with each exchange: tests/contracts/contract.py's ``VendorContract``."""

    def check(self, request: Request, reply: Reply) -> None: ...


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers at stop()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def _serve(self) -> None:
        fake = self.server.fake
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        request = Request(self.command, url.path, parse_qs(url.query, keep_blank_values=True),
                          {k.lower(): v for k, v in self.headers.items()}, body, raw)
        try:
            with fake.lock:
                fake.requests.append(request)
            reply = fake.handle(request)
            if fake.contract is not None:  # the vendor's description judges request and reply
                fake.contract.check(request, reply)
        except Exception:  # a bug in the fake: answer 500, fail the test later
            fake.server_errors.append(traceback.format_exc())
            reply = Reply(500, {"message": "fake server error"})
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        if reply.body is not None:
            self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # so that server_close() joins every handler thread

    def __init__(self, fake: FakeApi) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", fake.port), _Handler)


class FakeApi:
    """Base of the fakes: start/stop, the request log, errors inside the fake."""

    port = 0  # a free one; a fake run by hand may ask for a fixed one

    def __init__(self) -> None:
        self.lock = threading.RLock()  # guards the fake's data: handlers run in threads
        self.requests: list[Request] = []
        self.server_errors: list[str] = []
        self.contract: Contract | None = None  # set before start() to check every exchange
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def handle(self, request: Request) -> Reply:
        raise NotImplementedError

    @property
    def origin(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        server.server_close()  # joins the handler threads
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
