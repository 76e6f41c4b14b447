"""What the request handlers see of a sample app.

The handlers (``_server``, ``_contacts``, ``_lists``) are given the app
they serve; typing it as this protocol rather than as
:class:`~syncd.sampleapp.SampleApp` keeps them from importing the module
that imports them (``_app`` starts the server).
"""

from __future__ import annotations

import threading
from typing import Protocol

from ._auth import Authenticator, AuthMode
from ._child_store import ChildStore
from ._faults import FaultQueue
from ._log import RequestLog
from ._quota import Quota
from ._store import ContactStore
from ._webhooks import WebhookSender


class AppState(Protocol):
    store: ContactStore
    children: ChildStore  # notes and tasks under contacts
    max_page_size: int
    default_page_size: int
    auth_mode: AuthMode
    authenticator: Authenticator
    requests: RequestLog
    faults: FaultQueue
    quota: Quota | None  # with one, every answer reports it in headers
    stopping: threading.Event  # set by stop(): ends delays early
    server_errors: list[BaseException]  # exceptions the app answered 500 for
    webhooks: WebhookSender  # subscriptions, and the thread that sends their events

    @property
    def host_port(self) -> str: ...
