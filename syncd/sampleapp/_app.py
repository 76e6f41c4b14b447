"""``SampleApp``: the fake contacts app, served from a background thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Self

from ._auth import Authenticator, AuthMode
from ._child_store import ChildStore
from ._faults import FaultQueue
from ._log import RequestLog, RequestRecord
from ._quota import Quota
from ._server import Server
from ._store import ContactStore
from ._webhooks import WebhookSender

_LOOPBACK = ("127.0.0.1", "localhost")


class SampleApp:
    """A fake SaaS contacts app on 127.0.0.1, speaking real HTTP.

    The data (``store``), the request log (``requests``) and the faults
    (``faults``) are live: a test changes them while a client talks to the app.
    """

    def __init__(self, n: int = 100, *, auth: AuthMode | str = AuthMode.NONE,
                 token: str = "sample-token", username: str = "sample-user",
                 password: str | None = None, client_id: str = "sample-client",
                 client_secret: str | None = None, seed: int = 0,
                 max_page_size: int = 100, default_page_size: int = 10,
                 token_ttl: float = 3600.0, rotate_refresh_token: bool = False,
                 token_endpoint_delay: float = 0.0, host: str = "127.0.0.1", port: int = 0,
                 on_request: Callable[[RequestRecord], None] | None = None,
                 quota: Quota | None = None, webhook_secret: str = "sample-webhook-secret") -> None:
        """``password`` and ``client_secret`` default to ``token``: one secret
        to pass around, whatever the auth mode. ``quota`` makes every answer
        report a request quota in headers (see :class:`Quota`).
        ``webhook_secret`` signs the webhooks sent to subscribers (``webhooks``)."""
        if host not in _LOOPBACK:
            raise ValueError("the sample app only listens on a loopback address")
        if not 1 <= default_page_size <= max_page_size:
            raise ValueError("need 1 <= default_page_size <= max_page_size")
        self.auth_mode = AuthMode(auth)
        self.max_page_size = max_page_size
        self.default_page_size = default_page_size
        self.store = ContactStore(n, seed)
        self.children = ChildStore(self.store)  # notes and tasks under contacts
        self.requests = RequestLog(on_request)
        self.faults = FaultQueue()
        self.webhooks = WebhookSender(webhook_secret)
        self.store.on_change = self.webhooks.notify
        self.quota = quota
        self.stopping = threading.Event()  # set by stop(): ends delays early
        self.server_errors: list[BaseException] = []  # exceptions the app answered 500 for
        self.authenticator = Authenticator(
            self.auth_mode, token=token, username=username,
            password=token if password is None else password, client_id=client_id,
            client_secret=token if client_secret is None else client_secret,
            token_ttl=token_ttl, rotate_refresh_token=rotate_refresh_token,
            token_endpoint_delay=token_endpoint_delay, stopping=self.stopping)
        self._address = (host, port)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def contacts(self) -> ContactStore:
        """Same as ``store``."""
        return self.store

    # -- credentials ---------------------------------------------------------

    @property
    def token(self) -> str:
        return self.authenticator.token

    @property
    def username(self) -> str:
        return self.authenticator.username

    @property
    def password(self) -> str:
        return self.authenticator.password

    @property
    def client_id(self) -> str:
        return self.authenticator.client_id

    @property
    def client_secret(self) -> str:
        return self.authenticator.client_secret

    @property
    def refresh_token(self) -> str:
        """The refresh token valid now (it changes on each refresh when rotating)."""
        return self.authenticator.refresh_token

    @property
    def token_requests(self) -> int:
        """How many requests reached ``/oauth/token`` (good or bad)."""
        return self.authenticator.token_requests

    @property
    def tokens_issued(self) -> int:
        return self.authenticator.tokens_issued

    @property
    def token_overlap(self) -> int:
        """The most requests ``/oauth/token`` served at the same time."""
        return self.authenticator.token_overlap

    def expire_tokens(self) -> None:
        """Expire every OAuth2 access token issued so far, now."""
        self.authenticator.expire_tokens()

    def issue_access_token(self) -> str:
        """A valid OAuth2 access token, without a round trip to /oauth/token."""
        return self.authenticator.issue_access_token()

    # -- lifecycle -----------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (once started)."""
        return f"http://{self.host_port}"

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the sample app is not started")
        return int(self._server.server_address[1])

    @property
    def host_port(self) -> str:
        return f"{self._address[0]}:{self.port}"

    def start(self) -> Self:
        """Bind (a free port unless one was given) and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("the sample app is already started")
        self.stopping.clear()
        self._server = Server(self._address, self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"sampleapp-{self.port}", daemon=True)
        self._thread.start()
        self.webhooks.start()
        return self

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until no client connection is open.

        Every request the app read from a connection has then been answered
        and logged: after a client closed its connections, ``requests`` holds
        all it asked for, and a request it did not send will not appear
        later. Raises ``TimeoutError`` if connections stay open for
        ``timeout`` seconds (a client still holding a kept-alive one).
        """
        if self._server is None:
            raise RuntimeError("the sample app is not started")
        self._server.wait_idle(timeout)

    def stop(self) -> None:
        """Stop serving, hang up on every client, join every thread.  Idempotent."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self.stopping.set()
        self.webhooks.stop()
        server.shutdown()  # ends serve_forever: no new connections
        server.server_close()
        server.close_connections()
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self if self._server is not None else self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "stopped"
        return f"<SampleApp {where} n={len(self.store)} auth={self.auth_mode.value}>"
