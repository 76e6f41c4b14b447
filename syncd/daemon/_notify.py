"""The systemd notify protocol (sd_notify(3)), hand-rolled.

Under ``Type=notify`` systemd passes ``$NOTIFY_SOCKET``, the address of an
AF_UNIX datagram socket, and waits for ``READY=1`` on it before it calls the
service started; ``RELOADING=1``/``READY=1`` bracket a reload, ``STOPPING=1``
announces a stop, ``STATUS=`` is the one line ``systemctl status`` shows and
``WATCHDOG=1`` keeps ``WatchdogSec=`` from killing us. Each message is one
datagram of ``KEY=VALUE`` lines.

The protocol is a dozen lines, so it is written here rather than taken from
a library (python-systemd needs libsystemd headers to build, sdnotify is
unmaintained and blocks). Two rules shape it:

* **It never blocks.** The socket is non-blocking: if systemd is busy and
  its queue is full the datagram is dropped (EAGAIN) instead of stalling the
  event loop. A lost ``STATUS=`` is harmless; a lost ``WATCHDOG=1`` is
  followed by the next one, sent at half the watchdog timeout.
* **It never raises into the daemon.** A failed send (systemd restarted or
  gone, ENOENT, ECONNREFUSED, EAGAIN, EPERM…) is swallowed and kept in
  :attr:`Notifier.last_error`: telling systemd how we are must not be what
  stops us from syncing.

Without ``$NOTIFY_SOCKET`` (run by hand, in tests, under another supervisor)
every call is a no-op. The socket is opened with SOCK_CLOEXEC so that no
child process inherits it.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping

_CLOEXEC = getattr(socket, "SOCK_CLOEXEC", 0)
_NONBLOCK = getattr(socket, "SOCK_NONBLOCK", 0)


def _one_line(text: str) -> str:
    """A value that cannot break the ``KEY=VALUE`` line framing."""
    return "; ".join(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))


def _address(value: str) -> bytes | None:
    """``$NOTIFY_SOCKET`` as a socket address: a path, or ``@name`` for an abstract socket."""
    if value.startswith("@"):
        return b"\0" + os.fsencode(value[1:])
    if value.startswith("/"):
        return os.fsencode(value)
    return None  # relative paths and vsock: addresses are not supported (sd_notify refuses the former)


def _watchdog_interval(environ: Mapping[str, str], pid: int) -> float | None:
    """Half of ``$WATCHDOG_USEC`` in seconds, if the watchdog is meant for ``pid``."""
    watchdog_pid = environ.get("WATCHDOG_PID")
    if watchdog_pid is not None:
        try:
            if int(watchdog_pid) != pid:
                return None  # set for another process (e.g. our parent)
        except ValueError:
            return None
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    return usec / 2 / 1_000_000


class Notifier:
    """sd_notify(3): datagrams to $NOTIFY_SOCKET; a no-op when it is unset."""

    def __init__(self, address: str | None = None, *, watchdog_interval: float | None = None) -> None:
        self.last_error: OSError | None = None
        self._address = _address(address) if address else None
        self._watchdog_interval = watchdog_interval
        self._sock: socket.socket | None = None
        if self._address is None:
            return
        try:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | _CLOEXEC | _NONBLOCK)
            self._sock.setblocking(False)
        except OSError as exc:
            self.last_error = exc

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None, pid: int | None = None) -> Notifier:
        """The notifier systemd's environment asks for (``os.environ`` and our pid by default)."""
        env = os.environ if environ is None else environ
        return cls(env.get("NOTIFY_SOCKET") or None,
                   watchdog_interval=_watchdog_interval(env, os.getpid() if pid is None else pid))

    @property
    def enabled(self) -> bool:
        """True when messages go somewhere (``$NOTIFY_SOCKET`` was usable and we are not closed)."""
        return self._sock is not None

    def notify(self, *lines: str) -> None:
        """Sends ``KEY=VALUE`` lines as one datagram; never raises, never blocks."""
        sock, address = self._sock, self._address
        if sock is None or address is None or not lines:
            return
        data = "\n".join(_one_line(line) for line in lines).encode("utf-8", "replace")
        try:
            sock.sendto(data, address)
        except OSError as exc:
            self.last_error = exc

    def ready(self, status: str) -> None:
        """Startup (or a reload) is done: ``READY=1`` and the status line."""
        self.notify("READY=1", "STATUS=" + status)

    def reloading(self) -> None:
        """A reload starts; ``MONOTONIC_USEC`` is required by ``Type=notify-reload`` (systemd ≥ 253)."""
        now_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.notify("RELOADING=1", f"MONOTONIC_USEC={now_usec}")

    def stopping(self) -> None:
        """A graceful stop starts."""
        self.notify("STOPPING=1")

    def status(self, text: str) -> None:
        """The line ``systemctl status`` shows (newlines become ``"; "``)."""
        self.notify("STATUS=" + text)

    def watchdog(self) -> None:
        """Keep-alive for ``WatchdogSec=``; send every :meth:`watchdog_interval` seconds."""
        self.notify("WATCHDOG=1")

    def watchdog_interval(self) -> float | None:
        """Seconds between ``WATCHDOG=1`` pings (half the timeout), or None without a watchdog."""
        return self._watchdog_interval

    def close(self) -> None:
        """Closes the socket; later calls are no-ops."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        target = "disabled" if self._address is None else repr(self._address.replace(b"\0", b"@", 1))
        return f"Notifier({target})"
