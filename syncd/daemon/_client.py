"""The command line's side of the control API (see :mod:`syncd.daemon._control`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

__all__ = ["DaemonUnreachable", "call_daemon"]


class DaemonUnreachable(Exception):
    """No daemon answers on the control socket."""


def call_daemon(path: Path, method: str, route: str, *, timeout: float = 120.0) -> tuple[int, dict[str, Any]]:
    """``(status code, JSON body)`` of one request to the daemon at *path*."""
    transport = httpx.HTTPTransport(uds=str(path))
    try:
        with httpx.Client(transport=transport, base_url="http://syncd", timeout=timeout) as client:
            response = client.request(method, route)
    except httpx.ConnectError as e:  # httpx wraps the socket's OSError, whatever it was
        if not path.exists():
            why = "no such socket"
        elif not os.access(path, os.W_OK):
            why = "not allowed: run as the daemon's user or root"
        else:
            why = "nothing listens there"
        raise DaemonUnreachable(f"no syncd daemon answers at {path} ({why}); is `syncd run` running, "
                                f"and is this its config (-c) or its socket?") from e
    except httpx.TimeoutException as e:
        raise DaemonUnreachable(f"the daemon at {path} did not answer within {timeout:g} s") from e
    try:
        body = response.json()
    except ValueError:
        body = {"error": response.text[:500]}
    return response.status_code, body
