"""The daemon: scheduler, supervisor, reloads, systemd notify and watchdog, control API,
metrics, health and the status page.

:class:`Daemon` runs it all (``syncd run``); :func:`call_daemon` is the
command line's way in, over the control socket; :func:`stored_status` what
``syncd status`` shows of an integration when no daemon runs (and
:class:`Budgets`, read-only, its API budget).

What serves HTTP (uvicorn, Starlette, prometheus-client: a fifth of a
second to import) is imported on first use: every command imports this
package for its client side, and only ``syncd run`` serves.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from syncd.daemon._budgets import Budgets
from syncd.daemon._client import DaemonUnreachable, call_daemon
from syncd.daemon._notify import Notifier
from syncd.daemon._paths import ControlPathError, ControlSocket, control_socket
from syncd.daemon._status import stored_status
from syncd.daemon._stop import STOP_TIMEOUT

if TYPE_CHECKING:
    from syncd.daemon._command_leases import command_cycles
    from syncd.daemon._control import bind_control_socket
    from syncd.daemon._daemon import Daemon
    from syncd.daemon._watch import config_fingerprint
    from syncd.daemon._web import ListenError, bind_web_listener
    from syncd.daemon._webhooks import bind_webhook_listener

_LAZY = {
    "Daemon": "syncd.daemon._daemon",
    "ListenError": "syncd.daemon._web",
    "bind_control_socket": "syncd.daemon._control",
    "bind_web_listener": "syncd.daemon._web",
    "bind_webhook_listener": "syncd.daemon._webhooks",
    "command_cycles": "syncd.daemon._command_leases",
    "config_fingerprint": "syncd.daemon._watch",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'syncd.daemon' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "STOP_TIMEOUT",
    "Budgets",
    "ControlPathError",
    "ControlSocket",
    "Daemon",
    "DaemonUnreachable",
    "ListenError",
    "Notifier",
    "bind_control_socket",
    "bind_web_listener",
    "bind_webhook_listener",
    "call_daemon",
    "command_cycles",
    "config_fingerprint",
    "control_socket",
    "stored_status",
]
