"""An HTTP/1.1 transport for httpx: h11 over asyncio streams, connections kept alive.

Why syncd has its own: httpcore's async connection pool (httpx's default
transport) spends about 0.2 ms of CPU a request on locks, cancel-shielded
checkpoints and bookkeeping, a third of syncd's own time in a bulk read of
1,000 pages (docs/performance.md, issue 2).  This transport keeps to what a
connector needs and leaves everything else where it was:

* httpx still does all above the transport: auth flows, redirects,
  cookies, content decoding, timeouts' configuration, the exceptions;
* h11 (the HTTP/1.1 state machine httpcore uses too) reads and writes the
  protocol: framing, chunked bodies, keep-alive, ``Connection: close``;
  except that a request without a body (every poll) is written as h11
  writes it from bytes h11 made once for its method and headers, and its
  answer, when simple (HTTP/1.1, a Content-Length), is read by httptools
  (llhttp, Node.js's parser, in C) instead of h11's state machine in
  Python (``_read_simple``); any other answer, and any llhttp refuses, is
  handed to h11 as it came;
* this module opens connections (TLS with the caller's context, made at
  the first HTTPS connection: loading the CA bundle costs ~20 ms), keeps idle
  ones per origin for reuse, applies the request's connect/read/write
  timeouts and turns failures into httpx's exceptions.  A connect failure is
  a :class:`httpx.ConnectError` or :class:`httpx.ConnectTimeout`, raised
  only when nothing was sent, so a POST that met one is safe to repeat.

A kept-alive connection the server closed just as it is reused (the
keep-alive race: its FIN was on the way) fails before any byte of the answer
arrived; a request that is safe to repeat (GET, HEAD, OPTIONS) is then sent
once more on a new connection, as browsers and Go's client do. This matters
most for a transport kept across cycles (:class:`KeptTransport`).

A response body is read whole before the response is returned: syncd never
streams.  No proxy support: where one is configured the connector uses
httpx's default transport instead (:func:`proxy_configured`), and reads
each answer through :func:`read_capped`.

An answer is read to :data:`MAX_ANSWER_BYTES` at most, as it came and once
decoded: syncd asks for gzip and deflate only (:data:`ACCEPT_ENCODING`) and
decodes them here (:func:`decoded_body`), because httpx's decoders have no
limit, and 64 MiB of gzip can decode to 64 GiB.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import ssl
import time
import urllib.request
import zlib
from collections.abc import Callable, Sequence

import h11
import httptools
import httpx

_READ_SIZE = 64 * 1024
_MAX_HEADERS = 100 * 1024  # as httpcore: a response head larger than this is refused
# The most of one answer read (as it came, head included): a contact API's page or batch is a few
# MB at most; an endless or enormous answer (a wrong path to an export, a broken proxy) would
# otherwise grow the daemon until the kernel kills it, every integration with it.
MAX_ANSWER_BYTES = 64 * 1024 * 1024


# The content codings syncd asks for: those it decodes under the same limit (decoded_body).
ACCEPT_ENCODING = "gzip, deflate"
_WBITS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


class AnswerTooLarge(httpx.TransportError):
    """The answer passed :data:`MAX_ANSWER_BYTES`, as it came (its connection
    is dropped unread) or decoded."""


_DEFAULT_PORTS = {b"http": 80, b"https": 443}
_CLOSE_TIMEOUT = 1.0  # a TLS peer that never answers close_notify is aborted after this

Origin = tuple[bytes, bytes, int]
# Requests repeated on a new connection when a kept one turns out closed
# before any answer: the methods that never change anything (not PUT or
# DELETE, whose repetition an app may still count).
_REPLAYABLE = frozenset({"GET", "HEAD", "OPTIONS"})
# Any other request (a write) takes only a connection idle for less than
# this: well inside the idle timeouts servers use (Apache's 5 s, nginx's
# 75 s), so that the race above, which it would not survive, is rarer still.
_WRITE_REUSE_SECONDS = 2.0


def _too_large(request: httpx.Request, what: str) -> AnswerTooLarge:
    return AnswerTooLarge(f"the answer {what} {MAX_ANSWER_BYTES >> 20} MiB, the most syncd reads of one: "
                          "check the operation's path and its page size", request=request)


def decoded_body(raw_items: Sequence[tuple[bytes, bytes]], body: bytes, request: httpx.Request) -> bytes | None:
    """*body* decoded as its Content-Encoding says, to :data:`MAX_ANSWER_BYTES`
    at most (past it :class:`AnswerTooLarge`; a corrupt one
    :class:`httpx.DecodingError`, as httpx raises); None when a coding is one
    syncd did not ask for that httpx may decode (br, zstd: where their
    libraries are installed), left to it."""
    codings = [c.strip().lower() for name, value in raw_items if name.lower() == b"content-encoding"
               for c in value.decode("latin-1").split(",")]
    if any(c in ("br", "zstd") for c in codings):
        return None
    codings = [c for c in codings if c in _WBITS]  # others (identity, UTF-8…) skipped, as httpx does
    for coding in reversed(codings):  # the last applied is undone first
        try:
            body = _inflate(body, _WBITS[coding])
        except zlib.error as e:
            if coding != "deflate":
                raise httpx.DecodingError(str(e), request=request) from None
            try:  # deflate as many servers send it: raw, without zlib's wrapper (httpx reads both too)
                body = _inflate(body, -zlib.MAX_WBITS)
            except zlib.error as e:
                raise httpx.DecodingError(str(e), request=request) from None
        if len(body) > MAX_ANSWER_BYTES:
            raise _too_large(request, "decodes to more than")
    return body


def _inflate(data: bytes, wbits: int) -> bytes:
    """*data* decompressed, stopping one byte past the limit (the rest never
    decompressed). Like httpx, a stream cut short gives what it held."""
    return zlib.decompressobj(wbits).decompress(data, MAX_ANSWER_BYTES + 1)


async def read_capped(response: httpx.Response) -> None:
    """A response hook for httpx's own transport (a proxy is configured):
    reads the answer to :data:`MAX_ANSWER_BYTES` as it came and decoded, as
    :class:`AsyncH11Transport` does, before httpx reads it whole."""
    stream = response.stream
    assert isinstance(stream, httpx.AsyncByteStream)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in stream:
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise _too_large(response.request, "is larger than")
            chunks.append(chunk)
    finally:
        await stream.aclose()
    body = b"".join(chunks)
    content = decoded_body(response.headers.raw, body, response.request)
    response.stream = httpx.ByteStream(body)  # read again by httpx, or its content given:
    if content is not None:
        response._content = content


def proxy_configured() -> bool:
    """Whether the environment names a proxy (``HTTPS_PROXY``, ``ALL_PROXY``, …),
    which httpx's default transport honours and this one does not."""
    return any(scheme != "no" for scheme in urllib.request.getproxies())


@functools.lru_cache(maxsize=1024)
def _checked_headers(raw: tuple[tuple[bytes, bytes], ...]) -> h11._headers.Headers:
    """*raw* as h11 checks them (no CR, LF or other byte a header must not carry:
    a templated header cannot smuggle another in), kept: a connector's requests
    carry the same headers cycle after cycle, and h11 checked each by regular
    expression every time (about 2 % of a cycle at rest)."""
    return h11.Request(method=b"GET", target=b"/", headers=list(raw)).headers


@functools.lru_cache(maxsize=1024)
def _request_head(method: str, raw: tuple[tuple[bytes, bytes], ...]) -> tuple[bytes, bytes]:
    """The method and the header lines (to the blank line) of a request as h11
    writes them, after h11's checks of the method, the headers and Host: once
    for each method and headers (a connector's are the same cycle after cycle)."""
    written = h11.Connection(h11.CLIENT).send(h11.Request(method=method, target=b"/", headers=_checked_headers(raw)))
    assert written is not None
    line, _, headers = written.partition(b"\r\n")
    return line.split(b" ", 1)[0], headers


@functools.lru_cache(maxsize=1024)
def _unframed(raw: tuple[tuple[bytes, bytes], ...]) -> bool:
    """Whether headers say nothing of a body's framing but its length: without
    Transfer-Encoding, h11 writes nothing after the head of a request with no body."""
    return all(name.lower() != b"transfer-encoding" for name, _ in raw)


_TARGET = re.compile(rb"[\x21-\x7e]+")  # h11's request-target


def _request_bytes(method: str, target: bytes, raw: tuple[tuple[bytes, bytes], ...]) -> bytes:
    """A request without a body, byte for byte as h11 writes it."""
    if _TARGET.fullmatch(target) is None:
        raise h11.LocalProtocolError("Illegal target characters")
    verb, headers = _request_head(method, raw)
    return b"%s %s HTTP/1.1\r\n%s" % (verb, target, headers)


class _Head:
    """What the response is made of: a status line and headers (raw names)."""

    __slots__ = ("status_code", "reason", "http_version", "raw_items", "encoded")

    def __init__(self, status_code: int, reason: bytes, http_version: bytes,
                 raw_items: list[tuple[bytes, bytes]], encoded: bool) -> None:
        self.status_code = status_code
        self.reason = reason
        self.http_version = http_version
        self.raw_items = raw_items
        self.encoded = encoded  # a Content-Encoding: the body is to be decoded (decoded_body)

    @classmethod
    def of(cls, response: h11.Response) -> _Head:
        return cls(response.status_code, response.reason, response.http_version, response.headers.raw_items(),
                   any(name == b"content-encoding" for name, _ in response.headers))  # (lower-cased by h11)


class _Answer:
    """An answer as httptools (llhttp, Node.js's HTTP parser) reads it, by its
    callbacks: the lean path's parser (see ``_read_simple``)."""

    __slots__ = ("parser", "reason", "raw_items", "body", "messages", "head_done", "complete", "keep_alive",
                 "informational")

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.reason = b""
        self.raw_items: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.messages = 0  # a second one begun: bytes came after the answer
        self.head_done = self.complete = self.keep_alive = self.informational = False

    def on_message_begin(self) -> None:
        self.messages += 1

    def on_status(self, reason: bytes) -> None:
        self.reason += reason  # (it may come in pieces)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_items.append((name, value.rstrip(b" \t")))  # (h11 strips trailing blanks too)

    def on_headers_complete(self) -> None:
        self.head_done = True
        # A 1xx first (then its final answer, perhaps in the same bytes): h11's to read.
        self.informational = self.informational or self.parser.get_status_code() < 200
        self.keep_alive = self.parser.should_keep_alive()  # (Connection: close, HTTP/1.0; known only here)

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True

    def simple(self, method: str) -> bool:
        """Whether the head is one the lean path takes (HTTP/1.1, a final status
        other than 204 or 304, a Content-Length and no Transfer-Encoding, not to
        a HEAD); h11 reads any other."""
        parser = self.parser
        status = parser.get_status_code()
        if (self.informational or parser.get_http_version() != "1.1" or status in (204, 304)
                or method == "HEAD"):
            return False
        names = [name.lower() for name, _ in self.raw_items]
        return b"content-length" in names and b"transfer-encoding" not in names


class _Connection:
    __slots__ = ("reader", "writer", "state", "idle_since", "answered", "reusable", "received")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.state = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEADERS)
        self.idle_since = 0.0
        self.answered = False  # whether any byte of an answer came on it (then it is not stale)
        self.reusable = False  # whether the last exchange left it ready for another
        self.received = 0  # bytes of the answer under way read so far

    def usable(self, now: float, expiry: float) -> bool:
        # An idle connection the server closed reads as EOF once the event
        # loop has seen the FIN; one idle for too long is likely closed by
        # now, and reusing it would fail a request that could not be retried.
        return (
            now - self.idle_since < expiry
            and not self.reader.at_eof()
            and not self.writer.is_closing()
        )

    def abort(self) -> None:
        self.writer.transport.abort()  # a no-op on a closed connection


class AsyncH11Transport(httpx.AsyncBaseTransport):
    """Kept-alive HTTP/1.1 connections, ``max_idle`` idle ones per origin."""

    def __init__(self, tls: Callable[[], ssl.SSLContext], *, keepalive_expiry: float = 5.0,
                 max_idle: int = 20) -> None:
        self._tls = tls
        self._expiry = keepalive_expiry
        self._max_idle = max_idle
        self._idle: dict[Origin, list[_Connection]] = {}
        self._closed = False
        # Closes idle connections once expired, so none is left open for
        # long when no request comes to take (and close) it.
        self._sweep: asyncio.TimerHandle | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise RuntimeError("the transport is closed")
        url = request.url
        origin = (url.raw_scheme, url.raw_host, url.port or _DEFAULT_PORTS.get(url.raw_scheme, 80))
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        replayable = request.method in _REPLAYABLE
        conn = self._take(origin, self._expiry if replayable else min(self._expiry, _WRITE_REUSE_SECONDS))
        reused = conn is not None
        if conn is None:
            conn = await self._connect(origin, request, timeouts.get("connect"))
        try:
            head, body = await self._exchange(conn, request, timeouts)
        except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError):
            conn.abort()
            if not (reused and replayable and not conn.answered):
                raise
            # The keep-alive race: closed by the server as we reused it. Once
            # more, on a new connection (the request never reached the app).
            conn = await self._connect(origin, request, timeouts.get("connect"))
            try:
                head, body = await self._exchange(conn, request, timeouts)
            except BaseException:
                conn.abort()
                raise
        except BaseException:
            conn.abort()  # in an unknown state (cancelled, failed): never reused
            raise
        self._release(origin, conn)
        response = httpx.Response(
            head.status_code,
            headers=head.raw_items,
            stream=httpx.ByteStream(body),
            extensions={"http_version": b"HTTP/" + head.http_version, "reason_phrase": head.reason},
        )
        # The content given to the response: httpx does not read it again through its chain of
        # async iterators (~4 % of a cycle at rest), nor decode it without a limit. Its stream is
        # still there for a caller that reads it.
        content = decoded_body(head.raw_items, body, request) if head.encoded else body
        if content is not None:
            response._content = content
        return response

    def close_idle(self) -> None:
        """Close the idle connections (a reload: the accounts may have
        changed); those in use are kept when their request ends."""
        for conns in self._idle.values():
            for conn in conns:
                conn.writer.close()
        self._idle.clear()

    async def aclose(self) -> None:
        self._closed = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        idle = [conn for conns in self._idle.values() for conn in conns]
        self._idle.clear()
        for conn in idle:
            conn.writer.close()
        try:
            async with asyncio.timeout(_CLOSE_TIMEOUT):
                for conn in idle:
                    with contextlib.suppress(OSError):
                        await conn.writer.wait_closed()
        except TimeoutError:
            pass
        finally:  # what has not closed by now (or if we are cancelled) is cut
            for conn in idle:
                conn.abort()

    # --- connections ------------------------------------------------------------

    def _take(self, origin: Origin, expiry: float) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            conn = idle.pop()  # the most recently used: the least likely to be closed
            if conn.usable(now, expiry):
                return conn
            conn.abort()
        return None

    def _release(self, origin: Origin, conn: _Connection) -> None:
        if self._closed or not conn.reusable:
            conn.abort()  # the server closes it (Connection: close), or we are done
            return
        idle = self._idle.setdefault(origin, [])
        if len(idle) >= self._max_idle:
            conn.abort()
            return
        conn.idle_since = time.monotonic()
        idle.append(conn)
        if self._sweep is None:
            self._sweep = asyncio.get_running_loop().call_later(self._expiry, self._close_expired)

    def _close_expired(self) -> None:
        self._sweep = None
        now = time.monotonic()
        oldest = now
        for origin, conns in list(self._idle.items()):
            keep = [c for c in conns if c.usable(now, self._expiry)]
            for conn in conns:
                if conn not in keep:
                    conn.writer.close()
            if keep:
                self._idle[origin] = keep
                oldest = min(oldest, keep[0].idle_since)
            else:
                del self._idle[origin]
        if self._idle and not self._closed:  # again when the oldest left expires
            self._sweep = asyncio.get_running_loop().call_later(
                max(0.01, oldest + self._expiry - now), self._close_expired)

    async def _connect(self, origin: Origin, request: httpx.Request, timeout: float | None) -> _Connection:
        scheme, host, port = origin
        hostname = host.decode("ascii")
        tls = scheme == b"https"
        sni = request.extensions.get("sni_hostname", hostname) if tls else None
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    hostname, port, ssl=self._tls() if tls else None, server_hostname=sni,
                    limit=_READ_SIZE * 4,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {hostname}:{port} timed out",
                                       request=request) from None
        except OSError as e:  # refused, unreachable, DNS, TLS (ssl.SSLError is an OSError)
            raise httpx.ConnectError(str(e) or type(e).__name__, request=request) from None
        return _Connection(reader, writer)

    # --- one request and its response ------------------------------------------

    async def _exchange(
        self, conn: _Connection, request: httpx.Request, timeouts: dict[str, float | None],
    ) -> tuple[_Head, bytes]:
        state = conn.state
        conn.answered = conn.reusable = False
        conn.received = 0
        target = request.url.raw_path
        try:
            raw = tuple(request.headers.raw)
            headers = _checked_headers(raw)
            if getattr(request, "_content", None) == b"" and state.our_state is h11.IDLE and _unframed(raw):
                # No body (every poll): the request's bytes as h11 writes them, kept; its answer
                # read by _read_simple where it is simple (h11 reads it otherwise).
                await self._write(conn, _request_bytes(request.method, target, raw), request,
                                  timeouts.get("write"))
                return await self._read_simple(conn, request, headers, timeouts.get("read"))
            data = state.send(h11.Request(method=request.method, target=target, headers=headers))
            assert data is not None
            chunks = [data]
            stream = request.stream
            assert isinstance(stream, httpx.AsyncByteStream)  # an AsyncClient's request always has one
            async for chunk in stream:
                chunks.append(state.send(h11.Data(data=chunk)) or b"")
            chunks.append(state.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError as e:
            raise httpx.LocalProtocolError(str(e), request=request) from None
        await self._write(conn, b"".join(chunks), request, timeouts.get("write"))
        return await self._read_h11(conn, request, timeouts.get("read"))

    async def _read_simple(self, conn: _Connection, request: httpx.Request, headers: h11._headers.Headers,
                           timeout: float | None) -> tuple[_Head, bytes]:
        """The answer to a request without a body, read by httptools when it is
        simple: HTTP/1.1, a final status (not 204 or 304), one Content-Length
        and no Transfer-Encoding, to a method other than HEAD. h11's state
        machine and parser, in Python, cost about a sixth of a daemon's CPU at
        rest, for answers that are all like this. Anything else, and anything
        llhttp refuses, is handed to h11 as it came, with the request recorded
        as sent (its bytes were the ones h11 writes), so it reads it as it
        always has: its framing, its errors."""
        answer = _Answer()
        received = b""
        try:
            while not answer.head_done:
                if len(received) > _MAX_HEADERS:
                    return await self._hand_to_h11(conn, request, headers, received, timeout)
                data = await self._read(conn, request, timeout)
                if not data:  # closed before the end of the head: as h11 says it
                    return await self._hand_to_h11(conn, request, headers, received, timeout)
                conn.answered = True
                received += data
                answer.parser.feed_data(data)
        except httptools.HttpParserError:
            return await self._hand_to_h11(conn, request, headers, received, timeout)
        if not answer.simple(request.method):
            return await self._hand_to_h11(conn, request, headers, received, timeout)
        try:
            while not answer.complete:
                data = await self._read(conn, request, timeout)
                if not data:
                    raise httpx.RemoteProtocolError(
                        "peer closed connection without sending complete message body", request=request)
                answer.parser.feed_data(data)
        except httptools.HttpParserError:
            if not answer.complete:  # (a Content-Length body: nothing in it to refuse)
                raise httpx.RemoteProtocolError("the answer's body could not be read", request=request) from None
            answer.messages += 1  # refused after the answer: bytes came after it
        # Bytes after the answer (nothing should follow one we did not ask for): not used again.
        conn.reusable = answer.keep_alive and answer.messages == 1
        return (_Head(answer.parser.get_status_code(), answer.reason, b"1.1", answer.raw_items,
                      any(name.lower() == b"content-encoding" for name, _ in answer.raw_items)),
                b"".join(answer.body))

    async def _hand_to_h11(self, conn: _Connection, request: httpx.Request, headers: h11._headers.Headers,
                           received: bytes, timeout: float | None) -> tuple[_Head, bytes]:
        state = conn.state
        state.send(h11.Request(method=request.method, target=request.url.raw_path, headers=headers))
        state.send(h11.EndOfMessage())  # (the bytes were written already: the same)
        if received:
            state.receive_data(received)
        return await self._read_h11(conn, request, timeout)

    async def _read_h11(self, conn: _Connection, request: httpx.Request,
                        read_timeout: float | None) -> tuple[_Head, bytes]:
        state = conn.state
        head: h11.Response | None = None
        body: list[bytes] = []
        while True:
            try:
                event = state.next_event()
            except h11.RemoteProtocolError as e:
                raise httpx.RemoteProtocolError(str(e), request=request) from None
            if event is h11.NEED_DATA:
                data = await self._read(conn, request, read_timeout)
                conn.answered = conn.answered or bool(data)
                if not data and state.their_state is h11.SEND_RESPONSE:
                    raise httpx.RemoteProtocolError(
                        "Server disconnected without sending a response.", request=request)
                state.receive_data(data)
            elif isinstance(event, h11.Data):
                body.append(event.data)
            elif isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                # Bytes after the answer (nothing should follow one we did not ask for): not used again.
                conn.reusable = (state.our_state is h11.DONE and state.their_state is h11.DONE
                                 and not state.trailing_data[0])
                if conn.reusable:
                    state.start_next_cycle()
                return _Head.of(head), b"".join(body)
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                # Not before the end of an answer, as h11 reads HTTP; never loop on it.
                raise httpx.RemoteProtocolError("the connection ended before the answer did",
                                                request=request)
            # An InformationalResponse (1xx) is skipped.

    @staticmethod
    async def _write(conn: _Connection, data: bytes, request: httpx.Request, timeout: float | None) -> None:
        try:
            conn.writer.write(data)
            if conn.writer.transport.get_write_buffer_size():  # not all sent at once: wait
                async with asyncio.timeout(timeout):
                    await conn.writer.drain()
        except TimeoutError:
            raise httpx.WriteTimeout("writing the request timed out", request=request) from None
        except OSError as e:
            # The server may have answered and closed early (an error before
            # reading the body): read what it said, as httpcore does.
            if conn.reader.at_eof():
                raise httpx.WriteError(str(e) or type(e).__name__, request=request) from None

    @staticmethod
    async def _read(conn: _Connection, request: httpx.Request, timeout: float | None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                data = await conn.reader.read(_READ_SIZE)
        except TimeoutError:
            raise httpx.ReadTimeout("reading the response timed out", request=request) from None
        except OSError as e:
            raise httpx.ReadError(str(e) or type(e).__name__, request=request) from None
        conn.received += len(data)
        if conn.received > MAX_ANSWER_BYTES:
            raise _too_large(request, "is larger than")
        return data


class KeptTransport(httpx.AsyncBaseTransport):
    """A client's share of a transport kept by its owner (one per account,
    across cycles: see :meth:`~syncd.connector.AccountRegistry.keep_connections`):
    closing the client leaves the transport and its kept-alive connections
    open; the owner closes it."""

    def __init__(self, transport: AsyncH11Transport) -> None:
        self.transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.transport.handle_async_request(request)

    async def aclose(self) -> None:
        pass  # the owner's to close
