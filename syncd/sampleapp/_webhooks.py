"""Signed webhooks: the sample app tells subscribers when a contact changes.

Subscriptions, as most apps offer them::

    POST   /webhooks        {"url": ..., "events": ["contact.created", ...]} -> 201 {"id", "url", "events", ...}
    GET    /webhooks        {"results": [...]}
    DELETE /webhooks/ID     204 (404 if there is none)

On each create, update and delete of a contact (through the API, or a
test's direct edit of the store) an event goes to every subscription that
asked for its kind::

    {"id": "evt_…", "type": "contact.updated", "object_id": "1042",
     "occurred_at": "…", "data": {the contact as GET /contacts/ID shows it}}

signed as the connector spec ``connectors.d/sampleapp.yaml`` says: header
``X-Sampleapp-Timestamp`` (Unix seconds) and ``X-Sampleapp-Signature:
sha256=HEX``, an HMAC-SHA256 with the webhook secret of ``TIMESTAMP.BODY``.

Sent by one background thread from a queue, in the order of the changes,
so an API call never waits for a subscriber; a failed delivery is tried
twice more, then dropped (counted in ``failed``).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import itertools
import queue
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import orjson

from ._http import ApiError, Request, Response, json_response

__all__ = ["EVENT_KINDS", "WebhookSender", "sign"]

EVENT_KINDS = ("contact.created", "contact.updated", "contact.deleted")
_ATTEMPTS = 3
_STOP = None


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Sampleapp-Signature`` value of *body* sent at *timestamp*."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WebhookSender:
    """Subscriptions, and the thread that delivers their events."""

    def __init__(self, secret: str, on_delivery: Callable[[str, int | None], None] | None = None) -> None:
        self.secret = secret
        self._lock = threading.Lock()
        self._subscriptions: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._events = itertools.count(1)
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._idle = threading.Condition(self._lock)
        self._unsent = 0
        self.sent = 0  # deliveries answered 2xx
        self.failed = 0  # deliveries given up on
        self.on_delivery = on_delivery  # (url, status or None), after each attempt

    # -- subscriptions -------------------------------------------------------

    def subscribe(self, url: str, events: list[str]) -> dict[str, Any]:
        with self._lock:
            sub_id = f"wh_{next(self._ids)}"
            sub = {"id": sub_id, "url": url, "events": list(events),
                   "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            self._subscriptions[sub_id] = sub
            return dict(sub)

    def subscriptions(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(s) for s in self._subscriptions.values()]

    def unsubscribe(self, sub_id: str) -> bool:
        with self._lock:
            return self._subscriptions.pop(sub_id, None) is not None

    # -- events --------------------------------------------------------------

    def notify(self, kind: str, record: dict[str, Any], at: str) -> None:
        """Queue the event of a change to every subscriber of *kind* (never
        blocks; *record* is encoded at once, not kept)."""
        with self._lock:
            urls = [s["url"] for s in self._subscriptions.values() if kind in s["events"]]
            if not urls:
                return
            body = orjson.dumps({"id": f"evt_{next(self._events)}", "type": kind, "object_id": record["id"],
                                 "occurred_at": at, "data": record})
            self._unsent += len(urls)
        for url in urls:
            self._queue.put((url, body))

    def wait_sent(self, timeout: float = 10.0) -> None:
        """Block until every queued event is delivered or given up on."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._unsent == 0, timeout):
                raise TimeoutError(f"{self._unsent} webhook deliveries still queued after {timeout} s")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sampleapp-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        connections: dict[str, http.client.HTTPConnection] = {}
        try:
            while (item := self._queue.get()) is not _STOP:
                url, body = item
                ok = any(self._deliver(connections, url, body) for _ in range(_ATTEMPTS))
                with self._idle:
                    self.sent += ok
                    self.failed += not ok
                    self._unsent -= 1
                    self._idle.notify_all()
        finally:
            for conn in connections.values():
                conn.close()

    def _deliver(self, connections: dict[str, http.client.HTTPConnection], url: str, body: bytes) -> bool:
        parts = urlsplit(url)
        netloc = parts.netloc
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Sampleapp-Timestamp": timestamp,
                   "X-Sampleapp-Signature": sign(self.secret, timestamp, body)}
        status: int | None = None
        try:
            conn = connections.get(netloc)
            if conn is None:  # kept alive between deliveries, as a real sender does
                conn = connections[netloc] = http.client.HTTPConnection(netloc, timeout=10)
            conn.request("POST", parts.path or "/", body, headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            connections.pop(netloc).close()
        if self.on_delivery is not None:
            self.on_delivery(url, status)
        return status is not None and 200 <= status < 300


# -- endpoints (see _server) ---------------------------------------------------


def create(sender: WebhookSender, req: Request) -> Response:
    body = req.json
    if not isinstance(body, dict) or not isinstance(body.get("url"), str) \
            or not body["url"].startswith(("http://", "https://")):
        raise ApiError(400, "url must be an http:// or https:// URL")
    events = body.get("events", list(EVENT_KINDS))
    if not isinstance(events, list) or not events or any(e not in EVENT_KINDS for e in events):
        raise ApiError(400, f"events must be a non-empty list of: {', '.join(EVENT_KINDS)}")
    return json_response(201, sender.subscribe(body["url"], events))


def listing(sender: WebhookSender, req: Request) -> Response:
    return json_response(200, {"results": sender.subscriptions()})


def delete(sender: WebhookSender, req: Request, sub_id: str) -> Response:
    if not sender.unsubscribe(sub_id):
        raise ApiError(404, "webhook not found")
    return Response(204)
