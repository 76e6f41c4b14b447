"""The HTTP server: stdlib ``ThreadingHTTPServer``, HTTP/1.1 keep-alive.

One thread per connection, as the stdlib does it, plus what a test suite
needs: every open connection is tracked so ``stop()`` can close them and join
their threads (no thread or socket outlives the app, so pytest sees no
ResourceWarning) and a test can wait until none is open (``wait_idle``), and
a client hanging up mid-answer is not an error.
"""

from __future__ import annotations

import contextlib
import select
import socket
import sys
import threading
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from . import _children, _contacts, _lists, _webhooks
from ._auth import AuthMode
from ._http import ApiError, Request, Response, error_response, json_response
from ._log import RequestRecord
from ._state import AppState


_ROUTES: dict[tuple[str, str], _lists.Endpoint] = {
    ("GET", "/cursor/contacts"): _lists.cursor,
    ("POST", "/search/contacts"): _lists.search,
    ("GET", "/next/contacts"): _lists.next_url,
    ("GET", "/link/contacts"): _lists.link_header,
    ("GET", "/offset/contacts"): _lists.offset,
    ("GET", "/pages/contacts"): _lists.pages,
    ("GET", "/all/contacts"): _lists.everything,
    ("GET", "/stuck/contacts"): _lists.stuck,
    ("GET", "/contacts"): _lists.cursor,  # what a user tries first: the HubSpot-style list
    ("GET", "/contacts/search"): _contacts.search,
    ("POST", "/contacts"): _contacts.create,
    ("POST", "/contacts/batch/create"): _contacts.batch_create,
    ("POST", "/contacts/batch/update"): _contacts.batch_update,
}
_ONE = {"GET": _contacts.get, "PATCH": _contacts.patch, "PUT": _contacts.put,
        "DELETE": _contacts.delete}
_OAUTH = (AuthMode.OAUTH2_CLIENT_CREDENTIALS, AuthMode.OAUTH2_REFRESH_TOKEN)
_DISCONNECTS = (ConnectionError, TimeoutError, OSError)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a fault may use a status the stdlib has no name for (499, 520)
        return "Error"


def dispatch(app: AppState, req: Request) -> Response:
    """Route one request (faults are handled by the caller)."""
    if req.path == "/_health":
        return json_response(200, {"ok": True, "n": len(app.store)})
    if req.path == "/oauth/token" and app.auth_mode in _OAUTH:
        if req.method != "POST":
            raise ApiError(405, "method not allowed", headers=[("Allow", "POST")])
        return app.authenticator.token_endpoint(req)
    app.authenticator.check(req)
    endpoint = _ROUTES.get((req.method, req.path))
    if endpoint is not None:
        return endpoint(app, req)
    if req.path == "/webhooks" or req.path.startswith("/webhooks/"):
        return _webhook_endpoint(app, req)
    if req.path.startswith("/contacts/") and req.path.count("/") == 2:
        one = _ONE.get(req.method)
        if one is None:
            raise ApiError(405, "method not allowed", headers=[("Allow", ", ".join(_ONE))])
        return one(app, req, unquote(req.path[len("/contacts/"):]))
    child = _children.route(app, req)
    if child is not None:
        return child
    allowed = sorted(m for m, p in _ROUTES if p == req.path)
    if allowed:
        raise ApiError(405, "method not allowed", headers=[("Allow", ", ".join(allowed))])
    raise ApiError(404, "not found")


def _webhook_endpoint(app: AppState, req: Request) -> Response:
    """``/webhooks`` and ``/webhooks/ID``: the subscriptions (see _webhooks)."""
    if req.path == "/webhooks":
        if req.method == "POST":
            return _webhooks.create(app.webhooks, req)
        if req.method == "GET":
            return _webhooks.listing(app.webhooks, req)
        raise ApiError(405, "method not allowed", headers=[("Allow", "GET, POST")])
    if req.path.count("/") != 2:
        raise ApiError(404, "not found")
    if req.method != "DELETE":
        raise ApiError(405, "method not allowed", headers=[("Allow", "DELETE")])
    return _webhooks.delete(app.webhooks, req, unquote(req.path[len("/webhooks/"):]))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as every real API
    disable_nagle_algorithm = True  # TCP_NODELAY: no 40 ms delayed-ACK stalls
    server_version = "sampleapp/1"
    sys_version = ""
    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the RequestLog records requests; stderr stays quiet in tests

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET  # noqa: N815

    def _serve(self) -> None:
        started, wall = time.perf_counter(), time.time()
        app = self.server.app
        url = urlsplit(self.path)
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            # a real API gateway may refuse chunked uploads the same way
            self.close_connection = True
            self._write(error_response(411, "Content-Length required"))
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            self._write(error_response(400, "invalid Content-Length"))
            return
        query: dict[str, str] = {}
        for key, value in parse_qsl(url.query, keep_blank_values=True):
            query.setdefault(key, value)  # the first value wins, as in most frameworks
        req = Request(method=self.command, path=url.path.rstrip("/") or "/", query=query,
                      headers=self.headers, body=self.rfile.read(length) if length > 0 else b"",
                      base_url=f"http://{self.headers.get('Host') or app.host_port}")
        resp = self._answer(app, req)
        # logged before answering: once a client has its answer, a test
        # reading the log sees the request
        app.requests.append(RequestRecord(
            method=req.method, path=req.path, query=req.query,
            headers={k.lower(): v for k, v in req.headers.items()}, body=req.logged_body(),
            status=None if resp is None else resp.status, time=wall,
            duration=time.perf_counter() - started))
        if resp is None:  # a "close" fault: hang up without a word
            self.close_connection = True
        else:
            self._write(resp)

    def _answer(self, app: AppState, req: Request) -> Response | None:
        resp = self._answer_unmetered(app, req)
        if resp is not None and app.quota is not None and req.path != "/_health":
            resp.headers = [*resp.headers, *app.quota.spend()]
        return resp

    def _answer_unmetered(self, app: AppState, req: Request) -> Response | None:
        fault = None if req.path == "/_health" else app.faults.take(req.method, req.path, req.query)
        if fault is not None and fault.after:
            if fault.delay > 0:
                fault.wait_out(app.stopping)
            try:
                dispatch(app, req)  # done; what it answered is lost
            except ApiError:
                pass
            if fault.close:
                return None
            assert fault.status is not None  # FaultQueue.add allows after only with one of the two
            return error_response(fault.status, _phrase(fault.status), list(fault.headers.items()))
        if fault is not None:
            if fault.delay > 0:
                fault.wait_out(app.stopping)  # stop() or the test's release() cuts it short
            if fault.close:
                return None
            if fault.status is not None:
                headers = list(fault.headers.items())
                if fault.retry_after is not None:
                    headers.append(("Retry-After", fault.retry_after))
                return error_response(fault.status, _phrase(fault.status), headers)
            if isinstance(fault.body, bytes):  # sent verbatim: b"" is an empty answer
                return Response(200, fault.body, list(fault.headers.items()))
            if fault.body is not None:
                return json_response(200, fault.body, list(fault.headers.items()))
        try:
            resp = dispatch(app, req)
        except ApiError as exc:
            resp = exc.response()
        except Exception as exc:  # a bug in the fake app: answer 500, keep serving, tell the tests
            app.server_errors.append(exc)
            traceback.print_exc(file=sys.stderr)
            resp = error_response(500, "internal server error")
        if fault is not None and fault.malformed:
            # the real answer, cut in half: a strict prefix of a JSON
            # object or array is never valid JSON
            body = resp.body or b'{"results":['
            resp = Response(200, body[: max(1, len(body) // 2)], resp.headers)
        return resp

    def _write(self, resp: Response) -> None:
        lines = [f"HTTP/1.1 {resp.status} {_phrase(resp.status)}", f"Date: {self.date_time_string()}",
                 f"Server: {self.server_version}"]
        if resp.content_type and resp.status != 204:
            lines.append(f"Content-Type: {resp.content_type}")
        if resp.status != 204:
            lines.append(f"Content-Length: {len(resp.body)}")
        lines.extend(f"{k}: {v}" for k, v in resp.headers)
        if self.close_connection:
            lines.append("Connection: close")
        # one write for head and body: one packet for a small answer
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + resp.body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # the CLI can be restarted on its fixed port at once
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: AppState) -> None:
        self.app = app
        self._conn_lock = threading.Lock()
        self._conns_closed = threading.Condition(self._conn_lock)  # notified when a connection ends
        self._conns: dict[socket.socket, threading.Thread] = {}
        self._accepting = 0  # connections taken from the listen queue, not yet in _conns
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        with self._conn_lock:
            self._accepting += 1
        try:
            return super().get_request()
        except BaseException:
            with self._conn_lock:
                self._accepting -= 1
            raise

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self._serve_connection, args=(request, client_address),
                                  name="sampleapp-conn", daemon=True)
        with self._conn_lock:
            self._conns[request] = thread
            self._accepting -= 1
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._conn_lock:
                self._conns.pop(request, None)
                self._conns_closed.notify_all()

    def wait_idle(self, timeout: float) -> None:
        """Block until no connection is open, none is being accepted and none
        waits in the listen queue (TimeoutError after ``timeout`` seconds)."""
        def idle() -> bool:
            # Under the lock: a connection leaves the listen queue only while
            # _accepting counts it, and _accepting drops once it is in _conns.
            return not self._conns and not self._accepting and not select.select([self.socket], [], [], 0)[0]

        with self._conns_closed:
            if not self._conns_closed.wait_for(idle, timeout):
                raise TimeoutError(f"{len(self._conns) + self._accepting} connections still open after {timeout} s")

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], _DISCONNECTS):
            return  # the client hung up (e.g. its timeout fired during a delay)
        super().handle_error(request, client_address)

    def close_connections(self, timeout: float = 5.0) -> None:
        """Hang up on every client and wait for the connection threads to end."""
        with self._conn_lock:
            conns = list(self._conns.items())
        for sock, _ in conns:
            # wakes a thread blocked reading; OSError: the socket is already closed
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for _, thread in conns:
            thread.join(timeout)
