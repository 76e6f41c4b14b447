"""The daemon's TCP listeners (metrics, webhooks) answer without Nagle's delay.

uvicorn writes an answer's head and body in two writes; with Nagle's
algorithm on, the body waited for the client's delayed ACK of the head,
40 ms an answer on a kept-alive connection (a sender of many webhooks, or
Prometheus, felt it). The listening socket sets TCP_NODELAY, and Linux
hands it on to every connection it accepts.
"""

from __future__ import annotations

import socket
from pathlib import Path

from syncd.config import DaemonSettings
from syncd.daemon import bind_web_listener, bind_webhook_listener


def test_accepted_connections_of_both_listeners_have_tcp_nodelay(tmp_path: Path) -> None:
    settings = DaemonSettings(state_path=tmp_path / "state.db", metrics_listen="127.0.0.1:0",
                              webhooks_listen="127.0.0.1:0")
    for bind in (bind_web_listener, bind_webhook_listener):
        listener = bind(settings)
        try:
            listener.setblocking(True)
            with socket.create_connection(listener.getsockname()[:2], timeout=5):
                accepted, _ = listener.accept()
                with accepted:
                    assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        finally:
            listener.close()
