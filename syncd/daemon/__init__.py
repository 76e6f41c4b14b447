"""The daemon: scheduler, supervisor, reloads, systemd notify and watchdog, control API.

:class:`Daemon` runs it all (``syncd run``); :func:`call_daemon` is the
command line's way in, over the control socket; :func:`stored_status` what
``syncd status`` shows of an integration when no daemon runs.
"""

from syncd.daemon._client import DaemonUnreachable, call_daemon
from syncd.daemon._control import bind_control_socket
from syncd.daemon._daemon import STOP_TIMEOUT, Daemon
from syncd.daemon._notify import Notifier
from syncd.daemon._paths import ControlPathError, ControlSocket, control_socket
from syncd.daemon._status import stored_status
from syncd.daemon._watch import config_fingerprint

__all__ = [
    "STOP_TIMEOUT",
    "ControlPathError",
    "ControlSocket",
    "Daemon",
    "DaemonUnreachable",
    "Notifier",
    "bind_control_socket",
    "call_daemon",
    "config_fingerprint",
    "control_socket",
    "stored_status",
]
