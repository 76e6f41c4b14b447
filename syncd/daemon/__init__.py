"""The daemon: scheduler, supervisor, systemd notify and watchdog, control API.

See :class:`Notifier` for the systemd notify protocol.
"""

from syncd.daemon._notify import Notifier

__all__ = ["Notifier"]
