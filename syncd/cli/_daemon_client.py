"""What the commands that talk to the daemon share: finding its socket, asking it.

A command that can do without a daemon (``status``, ``errors``,
``conflicts``, ``bulk status`` read the state store; ``sync`` and ``bulk
start`` run in the foreground) calls :func:`ask_daemon` and goes on by
itself when it answers None.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from syncd.cli._common import EXIT_FAILED, EXIT_USAGE, add_config_dir_argument, error
from syncd.config import DEFAULT_CONFIG_DIR, ConfigError, DaemonSettings, config_directory, load_daemon_settings
from syncd.daemon import DaemonUnreachable, call_daemon, control_socket

# Where the shipped unit's daemon listens (systemd/syncd.service:
# RuntimeDirectory=syncd): a root shell has XDG_RUNTIME_DIR=/run/user/0 and
# would look in /run/user/0/syncd/ first, and find nothing there.
UNIT_SOCKET = Path("/run/syncd/control.sock")


def add_socket_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_dir_argument(parser)
    parser.add_argument("--socket", metavar="PATH", type=Path, default=None,
                        help="the daemon's control socket (default: control.socket in syncd.yaml, else "
                             "$RUNTIME_DIRECTORY/control.sock, else one for the config directory in "
                             "$XDG_RUNTIME_DIR/syncd/, /run/syncd/ as root, or /tmp/syncd-UID/: "
                             "control.sock for /etc/syncd, control-NAME-HASH.sock for another; "
                             "see docs/daemon.md)")


def socket_path(args: argparse.Namespace) -> Path:
    """The socket the daemon of ``-c DIR`` listens on: the daemon's own rule."""
    return socket_paths(args)[0]


def socket_paths(args: argparse.Namespace) -> list[Path]:
    """Where to look for the daemon of ``-c DIR``, in order: the daemon's own
    rule, then, for the system config directory, the systemd unit's socket
    (the daemon's rule there depends on an environment the shell may not share)."""
    if args.socket is not None:
        return [Path(args.socket)]
    config_dir = config_directory(args.config_dir)[0]
    try:
        settings: DaemonSettings | None = load_daemon_settings(args.config_dir)
    except (ConfigError, FileNotFoundError, NotADirectoryError):
        # syncd.yaml unreadable: the default place; the daemon has the errors
        settings = None
    first = control_socket(config_dir, settings).path
    paths = [first]
    system = os.path.realpath(config_dir) == os.path.realpath(DEFAULT_CONFIG_DIR)
    if system and first != UNIT_SOCKET and (settings is None or settings.control_socket is None):
        paths.append(UNIT_SOCKET)
    return paths


def daemon_call(args: argparse.Namespace, method: str, route: str, *, body: dict[str, Any] | None = None,
                timeout: float = 120.0) -> tuple[int, dict[str, Any]]:
    """The answer of the daemon at the first of :func:`socket_paths` where
    one runs; when none does, the first place's :class:`DaemonUnreachable`."""
    first: DaemonUnreachable | None = None
    for path in socket_paths(args):
        try:
            return call_daemon(path, method, route, body=body, timeout=timeout)
        except DaemonUnreachable as e:
            if e.running:
                raise
            first = first or e
    assert first is not None  # socket_paths is never empty
    raise first


def ask_daemon(args: argparse.Namespace, method: str, route: str, *, body: dict[str, Any] | None = None,
               timeout: float = 120.0) -> tuple[int, dict[str, Any]] | None:
    """The daemon's answer ``(status code, JSON body)``, or None when no
    daemon runs for this config (no socket, nothing listening on it).

    :class:`~syncd.daemon.DaemonUnreachable` when one may run but cannot be
    reached (not allowed, no answer in time): going on without it then
    would race it.
    """
    try:
        return daemon_call(args, method, route, body=body, timeout=timeout)
    except DaemonUnreachable as e:
        if e.running:
            raise
        return None


def daemon_reply(args: argparse.Namespace, method: str, route: str, *, body: dict[str, Any] | None = None,
                 timeout: float = 30.0) -> dict[str, Any] | int | None:
    """The daemon's answer when it did what was asked (HTTP 200); an exit
    code, having said why, when it refused (400 or 404: 2, usage) or cannot
    be reached (1); None when no daemon runs (go on without it)."""
    try:
        answer = ask_daemon(args, method, route, body=body, timeout=timeout)
    except DaemonUnreachable as e:
        error(str(e))
        return EXIT_FAILED
    if answer is None:
        return None
    code, reply = answer
    if code != 200:
        error(str(reply.get("error", reply)))
        return EXIT_USAGE if code in (400, 404) else EXIT_FAILED
    return reply
