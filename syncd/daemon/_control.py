"""The control API: HTTP over the daemon's Unix socket.

HTTP rather than a protocol of our own: the command line's client is a few
lines of httpx, an operator can ``curl --unix-socket`` it, and metrics and
webhooks are served the same way (:mod:`syncd.daemon._serving`). Routes (JSON in and out), each
feature's from its own module, put together by :class:`~syncd.daemon.Daemon`::

    GET  /v1/status    the daemon, its last reload, every integration
    POST /v1/reload    reload now; 200 with what changed, 422 with the
                       FILE:LINE:COL errors (the old config keeps running),
                       503 while the daemon is stopping

and, per integration (``syncd sync``, ``errors``, ``conflicts``, ``bulk``)::

    POST /v1/integrations/{name}/sync          a cycle now        (_sync_now.py)
    GET  /v1/integrations/{name}/errors        open record errors (_errors_api.py)
    POST /v1/integrations/{name}/errors/retry  retry some or all
    GET  /v1/integrations/{name}/conflicts     the conflict log
    GET  /v1/integrations/{name}/bulk          bulk progress      (_bulk.py)
    POST /v1/integrations/{name}/bulk/start    start one
    POST /v1/integrations/{name}/bulk/stop     stop it at its next checkpoint

Metrics, health and the status page are on another listener, TCP
(``metrics.listen``): see :mod:`syncd.daemon._web`.

A route for one integration is under ``/v1/integrations/{name}/…`` and
answers 404 with ``{"error": …}`` naming the integration when it is not
configured (:func:`unknown_integration`).

The socket is bound here, not by uvicorn: uvicorn would make it 0666, and
this one is 0600 in a private directory (see :mod:`syncd.daemon._paths`).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from syncd.daemon._client import DaemonUnreachable, call_daemon
from syncd.daemon._paths import ControlPathError, ControlSocket, prepare_socket_dir
from syncd.daemon._serving import Serving

__all__ = ["ControlServer", "bind_control_socket", "unknown_integration"]


def bind_control_socket(where: ControlSocket) -> socket.socket:
    """A listening Unix socket at ``where.path``, owner-only.

    A socket file left by a daemon that died is replaced; one that answers
    means another syncd is running there, which is an error that says
    which daemon, and how to give this one a socket of its own.
    """
    path = where.path
    prepare_socket_dir(where)
    if path.exists() or path.is_symlink():
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink()  # stale: nobody listens
        else:
            raise ControlPathError(_taken(where))
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # no window in which the socket is open to others
    try:
        sock.bind(str(path))
    except OSError as e:
        sock.close()
        raise ControlPathError(f"cannot listen on {path}: {e.strerror}") from None
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(16)
    sock.setblocking(False)
    return sock


def _taken(where: ControlSocket) -> str:
    """Why this daemon cannot have the socket a live one answers on."""
    mine = where.config_dir
    other_pid, other_dir = _other_daemon(where.path)
    if other_dir is not None and os.path.realpath(other_dir) == os.path.realpath(mine):
        return (f"syncd is already running for the config directory {mine} (pid {other_pid}, control "
                f"socket {where.path}): see `syncd status -c {mine}`, or stop that daemon first")
    other = f"another syncd (pid {other_pid}, config {other_dir})" if other_dir is not None \
        else "another syncd"
    return (f"the control socket {where.path} is taken: {other} is running on it, and two daemons "
            f"cannot share one. Give this one (config {mine}) its own: set {where.setting()} to "
            f"another path; `syncd status -c {mine}` then finds it (or `syncd status --socket PATH`)")


def _other_daemon(path: Path) -> tuple[str, str | None]:
    """The pid and config directory of the daemon answering at *path*, as
    its status says; ``("?", None)`` when it does not say (a busy daemon,
    or something else than syncd: this is a courtesy, not worth a long wait
    nor a failure of its own)."""
    try:
        code, body = call_daemon(path, "GET", "/v1/status", timeout=3.0)
    except (DaemonUnreachable, httpx.HTTPError, OSError):
        return "?", None
    if code != 200 or not isinstance(body, dict) or not isinstance(body.get("config_dir"), str):
        return "?", None
    return str(body.get("pid", "?")), body["config_dir"]


def unknown_integration(name: str, known: Iterable[str]) -> JSONResponse:
    """404 for a route about an integration the running config does not have."""
    names = ", ".join(sorted(known)) or "none"
    return JSONResponse({"error": f"no integration {name!r} in the running config (configured: {names})"},
                        status_code=404)


def core_routes(status: Callable[[], dict[str, Any]],
                reload: Callable[[str], Awaitable[tuple[int, dict[str, Any]]]]) -> list[Route]:
    """``/v1/status`` and ``/v1/reload``."""

    async def get_status(request: Request) -> JSONResponse:
        return JSONResponse(status())

    async def post_reload(request: Request) -> JSONResponse:
        code, body = await reload("syncd reload")
        return JSONResponse(body, status_code=code)

    return [Route("/v1/status", get_status, methods=["GET"]),
            Route("/v1/reload", post_reload, methods=["POST"])]


class ControlServer(Serving):
    """Serves *routes* on a bound socket until :meth:`stop`; removes the socket file after."""

    def __init__(self, sock: socket.socket, routes: Sequence[BaseRoute]) -> None:
        super().__init__(sock, routes)
        self.path = Path(sock.getsockname())

    async def serve(self) -> None:
        try:
            await super().serve()
        finally:
            with contextlib.suppress(OSError):
                self.path.unlink()
