"""Serving a Starlette app on a socket the daemon bound, inside its task group.

Both HTTP surfaces (the control API on its Unix socket, metrics and the
status page on TCP) are served this way: uvicorn on an already bound
socket (the daemon binds it first, to refuse a taken address or a socket
others could reach before anything starts), without uvicorn's own signal
handling (the daemon handles SIGTERM, SIGINT and SIGHUP itself), its
logging or lifespan, ended by :meth:`Serving.stop`.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator, Sequence

import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute

__all__ = ["Serving"]


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the daemon's own handlers stay in place


class Serving:
    """*routes* on *sock* from :meth:`serve` until :meth:`stop`; the socket is closed after."""

    def __init__(self, sock: socket.socket, routes: Sequence[BaseRoute]) -> None:
        self.sock = sock
        config = uvicorn.Config(Starlette(routes=list(routes)), log_config=None, access_log=False,
                                lifespan="off", timeout_graceful_shutdown=2, server_header=False)
        self._server = _Server(config)

    async def serve(self) -> None:
        try:
            await self._server.serve(sockets=[self.sock])
        finally:
            self.sock.close()

    def stop(self) -> None:
        self._server.should_exit = True
