"""The command line's side of the control API (see :mod:`syncd.daemon._control`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

__all__ = ["DaemonUnreachable", "call_daemon"]


class DaemonUnreachable(Exception):
    """No daemon answers on the control socket.

    ``running`` is False when none runs there (no socket, or nothing
    listens on it): a command that can do without the daemon goes on
    without it. True when one may run but did not answer (not allowed to
    reach it, no answer in time): that is an error.
    """

    def __init__(self, message: str, *, running: bool) -> None:
        super().__init__(message)
        self.running = running


def call_daemon(path: Path, method: str, route: str, *, timeout: float = 120.0,
                body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    """``(status code, JSON body)`` of one request to the daemon at *path*;
    *body*, if given, is sent as JSON."""
    transport = httpx.HTTPTransport(uds=str(path))
    try:
        with httpx.Client(transport=transport, base_url="http://syncd", timeout=timeout) as client:
            response = client.request(method, route, json=body)
    except httpx.ConnectError as e:  # httpx wraps the socket's OSError, whatever it was
        denied = path.exists() and not os.access(path, os.W_OK)
        if not path.exists():
            why = "no such socket"
        elif denied:
            why = "not allowed: run as the daemon's user or root"
        else:
            why = "nothing listens there"
        raise DaemonUnreachable(f"no syncd daemon answers at {path} ({why}); is `syncd run` running, "
                                f"and is this its config (-c) or its socket?", running=denied) from e
    except httpx.TimeoutException as e:
        raise DaemonUnreachable(f"the daemon at {path} did not answer within {timeout:g} s",
                                running=True) from e
    try:
        answer = response.json()
    except ValueError:
        answer = {"error": response.text[:500]}
    return response.status_code, answer
