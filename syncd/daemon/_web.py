"""The daemon's HTTP listener on ``metrics.listen``: metrics, health, the status page.

Served like the control API (Starlette under uvicorn, in the daemon's task
group), but on TCP and read-only: nothing here changes anything, so it
needs no credentials, and nothing on it is secret (settings are never
shown; error messages are masked before they reach the status)::

    GET /metrics     Prometheus text (syncd/daemon/_metrics.py)
    GET /-/healthy   200 while the daemon runs
    GET /-/ready     200 once the config is loaded and the integrations
                     started; 503 before, and while stopping
    GET /            the status page (syncd/daemon/_status_page.py)

The socket is bound by :func:`bind_web_listener` before the daemon starts
anything, so a port in use is a config error at start-up that names
``metrics.listen`` in syncd.yaml, with nothing left half-started.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from syncd.config import DaemonSettings
from syncd.daemon._metrics import CONTENT_TYPE, Metrics
from syncd.daemon._serving import Serving
from syncd.daemon._status_page import STYLESHEET, render_status_page

__all__ = ["ListenError", "WebServer", "bind_listener", "bind_web_listener", "http_address"]


class ListenError(Exception):
    """A listener (metrics, webhooks) cannot be had; the message says where and what to do."""


def _address(listen: str) -> tuple[str, int]:
    """``host:port`` as the schema allows it: ``[::1]:9464``, ``:9464``, ``name:9464``."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def bind_web_listener(settings: DaemonSettings) -> socket.socket:
    """A listening TCP socket on ``metrics.listen``, or :class:`ListenError`."""
    return bind_listener(settings.metrics_listen, settings.metrics_listen_at, "metrics.listen", "metrics")


def bind_listener(listen: str, at: str, key: str, purpose: str) -> socket.socket:
    """A listening TCP socket on *listen* (the setting *key* of syncd.yaml,
    written at *at*: FILE:LINE:COL), or :class:`ListenError` saying so.
    Every TCP listener of the daemon (metrics, webhooks) is bound here."""
    # As a config problem reads (FILE:LINE:COL: error: … (key)): it is one.
    where = f"{at}: error: " if at else "syncd: error: "
    advice = (f"set {key} in syncd.yaml to a free host:port (or stop what listens there), "
              f"then start syncd again ({key})")
    host, port = _address(listen)
    if port > 65535:  # 0 is allowed: a free port, the one taken is in the `syncd started` log line
        raise ListenError(f"{where}cannot listen on {listen} for {purpose}: port {port} is above 65535; {advice}")
    try:
        if host == "":  # every interface, IPv6 as well where the machine has it
            if socket.has_dualstack_ipv6():
                sock = socket.create_server(("", port), family=socket.AF_INET6, dualstack_ipv6=True)
            else:
                sock = socket.create_server(("", port))
        else:
            family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
            sock = socket.create_server(address[:2], family=family)
    except socket.gaierror as e:
        raise ListenError(f"{where}cannot listen on {listen} for {purpose}: no such host {host!r} "
                          f"({e.strerror}); {advice}") from None
    except OSError as e:
        reason = "the port is already in use by another process" if e.errno == errno.EADDRINUSE \
            else (e.strerror or type(e).__name__).lower()
        raise ListenError(f"{where}cannot listen on {listen} for {purpose}: {reason}; {advice}") from None
    # Inherited by every accepted connection: an answer's head and body go
    # out at once, not 40 ms apart (Nagle waiting on the client's delayed ACK
    # of the head), which a sender of many webhooks a connection would feel.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    return sock


def http_address(sock_name: Any) -> str:
    """``http://HOST:PORT`` of a bound socket, for log lines (a port 0 is known only once bound)."""
    host, port = sock_name[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class WebServer(Serving):
    """Serves metrics, health and the status page on a bound socket until :meth:`stop`.

    *ready* says whether the daemon is ready (its integrations started, not stopping).
    """

    def __init__(self, sock: socket.socket, metrics: Metrics, ready: Callable[[], bool]) -> None:
        self.address = sock.getsockname()
        supervisor = metrics.supervisor

        async def get_metrics(request: Request) -> Response:
            return Response(metrics.expose(), media_type=CONTENT_TYPE)

        async def healthy(request: Request) -> Response:
            return PlainTextResponse("syncd is running\n")

        async def is_ready(request: Request) -> Response:
            if ready():
                return PlainTextResponse("syncd is ready\n")
            return PlainTextResponse("syncd is not ready (starting or stopping)\n", status_code=503)

        async def page(request: Request) -> Response:
            return Response(render_status_page(supervisor.status()), media_type="text/html; charset=utf-8",
                            headers={"Cache-Control": "no-store"})

        async def stylesheet(request: Request) -> Response:
            return Response(STYLESHEET, media_type="text/css; charset=utf-8")

        super().__init__(sock, [
            Route("/metrics", get_metrics, methods=["GET"]),
            Route("/-/healthy", healthy, methods=["GET"]),
            Route("/-/ready", is_ready, methods=["GET"]),
            Route("/", page, methods=["GET"]),
            Route("/status.css", stylesheet, methods=["GET"]),
        ])
