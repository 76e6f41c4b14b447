"""The webhook listener on ``webhooks.listen``: apps tell syncd what changed.

Served like the metrics (Starlette under uvicorn on a socket bound before
anything starts: :func:`bind_webhook_listener`, a taken port is a config
error naming ``webhooks.listen``), in the daemon's task group::

    POST /webhooks/INTEGRATION/left|right

Each call is checked in this order, and the first failure answers at once,
having done nothing:

- 404: no such integration (in the config as it is now: a reload counts at
  once), disabled, a side other than left or right, or a side whose
  connector spec has no ``webhooks:`` for the side's object, or no
  webhook secret given;
- 503: the daemon is starting or stopping (an app retries it later);
- 413: a body over ``webhooks.max_body_bytes`` (read as it arrives and
  dropped at the limit, never held whole);
- 401: a missing or wrong signature, or a timestamp outside the spec's
  window ("stale": a replay);
- 400: a body that is not JSON, or an event without a record id.

A verified call is answered 202 at once and its records are queued for a
webhook round (:mod:`syncd.daemon._webhook_rounds`). Every call is one
log line (never its body or the secret) and one count in
``syncd_webhooks_total{integration,side,outcome}``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import structlog
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from syncd.config import DaemonSettings
from syncd.connector import WebhookEvent, WebhookRejected, read_events, verify_webhook, webhook_secret
from syncd.daemon._serving import Serving
from syncd.daemon._web import bind_listener
from syncd.daemon._webhook_rounds import WebhookRounds

__all__ = ["UNKNOWN", "WebhookCount", "WebhookServer", "bind_webhook_listener"]

log = structlog.get_logger("syncd.daemon")

# The integration and side labels of a call to a path that names none of
# ours: a caller must not mint label values (one series per guessed name).
UNKNOWN = "(unknown)"
# (integration, side, outcome): accepted, not_found, too_large, bad_signature, stale, malformed, unavailable
WebhookCount = Callable[[str, str, str], None]


def bind_webhook_listener(settings: DaemonSettings) -> socket.socket:
    """A listening TCP socket on ``webhooks.listen``, or :class:`~syncd.daemon._web.ListenError`."""
    return bind_listener(settings.webhooks_listen, settings.webhooks_listen_at, "webhooks.listen", "webhooks")


class _Refused(Exception):
    def __init__(self, status: int, outcome: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.outcome = outcome


class WebhookServer(Serving):
    """``POST /webhooks/{integration}/{side}`` on a bound socket until :meth:`stop`."""

    def __init__(self, sock: socket.socket, rounds: WebhookRounds, count: WebhookCount) -> None:
        self.address = sock.getsockname()
        self.rounds = rounds
        self.count = count
        super().__init__(sock, [Route("/webhooks/{integration}/{side}", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        name, side = request.path_params["integration"], request.path_params["side"]
        supervisor = self.rounds.supervisor
        labels = (name, side) if name in supervisor.config.integrations and side in ("left", "right") \
            else (UNKNOWN, UNKNOWN)
        try:
            events = await self._check(request, name, side)
        except _Refused as e:
            log.warning("webhook refused", integration=labels[0], side=labels[1], status=e.status,
                        outcome=e.outcome, reason=str(e))
            self.count(labels[0], labels[1], e.outcome)
            return JSONResponse({"ok": False, "error": str(e)}, status_code=e.status)
        self.rounds.add(name, "left" if side == "left" else "right", events)
        log.info("webhook accepted", integration=name, side=side, records=len(events))
        self.count(name, side, "accepted")
        return JSONResponse({"ok": True, "records": len(events)}, status_code=202)

    async def _check(self, request: Request, name: str, side: str) -> list[WebhookEvent]:
        config = self.rounds.supervisor.config
        integration = config.integrations.get(name)
        if integration is None or side not in ("left", "right"):
            raise _Refused(404, "not_found", "no such integration and side: POST /webhooks/INTEGRATION/left|right")
        if not integration.enabled:
            raise _Refused(404, "not_found", "the integration is disabled")
        if not self.rounds.ready:
            # 503: an app retries it later, when a 404 might make it drop the subscription
            raise _Refused(503, "unavailable", "the daemon is starting or stopping: try again shortly")
        side_config = integration.left if side == "left" else integration.right
        spec = config.connectors[side_config.connector]
        if spec.webhooks is None or spec.webhooks.object != side_config.object:
            raise _Refused(404, "not_found", f"connector {spec.name!r} declares no webhooks for "
                           f"{side_config.object!r} (webhooks: in its spec)")
        secret = webhook_secret(spec, side_config.settings)
        if secret is None:
            raise _Refused(404, "not_found", f"no webhook secret given: set {spec.webhooks.verify.secret.source} "
                           f"in the {side} side's settings")
        body = await self._body(request, config.daemon.webhooks_max_body_bytes)
        try:
            verify_webhook(spec.webhooks.verify, secret, request.headers, body, time.time())
            return read_events(spec.webhooks, body)
        except WebhookRejected as e:
            raise _Refused(e.status, e.outcome, str(e)) from None

    @staticmethod
    async def _body(request: Request, limit: int) -> bytes:
        """The body, or 413 as soon as it is known to be over *limit*."""
        too_large = _Refused(413, "too_large", f"the body is over {limit} bytes (webhooks.max_body_bytes)")
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
        except ClientDisconnect:
            raise _Refused(400, "malformed", "the client hung up before the body ended") from None
        return b"".join(chunks)
