"""The sample app's webhooks: subscriptions over HTTP, and signed events to a real receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from syncd.sampleapp import AuthMode, SampleApp

SECRET = "receiver-test-secret"


class _Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.status = 202
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Receiver

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    server = _Receiver()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_subscriber_gets_each_change_signed_in_order(sample_app: Callable[..., SampleApp],
                                                       receiver: _Receiver) -> None:
    app = sample_app(n=1, auth=AuthMode.BEARER, token="t", webhook_secret=SECRET)
    api = httpx.Client(base_url=app.url, headers={"Authorization": "Bearer t"}, timeout=10)
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    sub = api.post("/webhooks", json={"url": url, "events": ["contact.created", "contact.updated"]})
    assert sub.status_code == 201 and sub.json()["url"] == url
    assert api.get("/webhooks").json()["results"] == [sub.json()]
    created = api.post("/contacts", json={"email": "hooked@example.com"}).json()
    api.patch(f"/contacts/{created['id']}", json={"first_name": "Changed"})
    app.store.delete(created["id"])  # not subscribed: no event
    app.webhooks.wait_sent()
    events = []
    for headers, body in receiver.calls:
        at = headers["x-sampleapp-timestamp"]
        expected = hmac.new(SECRET.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
        assert headers["x-sampleapp-signature"] == f"sha256={expected}"
        events.append(json.loads(body))
    assert [(e["type"], e["object_id"]) for e in events] == [
        ("contact.created", created["id"]), ("contact.updated", created["id"])]
    assert events[1]["data"]["first_name"] == "Changed"
    assert api.delete(f"/webhooks/{sub.json()['id']}").status_code == 204
    assert api.get("/webhooks").json()["results"] == []
    assert api.delete(f"/webhooks/{sub.json()['id']}").status_code == 404
    api.close()


def test_a_refused_delivery_is_tried_three_times_then_dropped(sample_app: Callable[..., SampleApp],
                                                              receiver: _Receiver) -> None:
    app = sample_app(n=1)
    receiver.status = 500
    app.webhooks.subscribe(f"http://127.0.0.1:{receiver.server_address[1]}/hook", ["contact.updated"])
    app.store.update(app.store.ids()[0], last_name="X")
    app.webhooks.wait_sent()
    assert len(receiver.calls) == 3 and app.webhooks.failed == 1 and app.webhooks.sent == 0


@pytest.mark.parametrize("body", [{"url": "ftp://x"}, {"url": "http://x", "events": ["contact.exploded"]}, []])
def test_a_bad_subscription_is_a_400(sample_app: Callable[..., SampleApp], body: Any) -> None:
    app = sample_app(n=0)
    assert httpx.post(f"{app.url}/webhooks", json=body, timeout=10).status_code == 400
