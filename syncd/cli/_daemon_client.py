"""What the commands that talk to the daemon share: finding its socket, asking it.

A command that can do without a daemon (``status``, ``errors``,
``conflicts``, ``bulk status`` read the state store; ``sync`` and ``bulk
start`` run in the foreground) calls :func:`ask_daemon` and goes on by
itself when it answers None.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from syncd.cli._common import add_config_dir_argument
from syncd.config import ConfigError, DaemonSettings, config_directory, load_daemon_settings
from syncd.daemon import DaemonUnreachable, call_daemon, control_socket


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
    if args.socket is not None:
        return Path(args.socket)
    config_dir = config_directory(args.config_dir)[0]
    try:
        settings: DaemonSettings | None = load_daemon_settings(args.config_dir)
    except (ConfigError, FileNotFoundError, NotADirectoryError):
        # syncd.yaml unreadable: the default place; the daemon has the errors
        settings = None
    return control_socket(config_dir, settings).path


def ask_daemon(args: argparse.Namespace, method: str, route: str, *, body: dict[str, Any] | None = None,
               timeout: float = 120.0) -> tuple[int, dict[str, Any]] | None:
    """The daemon's answer ``(status code, JSON body)``, or None when no
    daemon runs for this config (no socket, nothing listening on it).

    :class:`~syncd.daemon.DaemonUnreachable` when one may run but cannot be
    reached (not allowed, no answer in time): going on without it then
    would race it.
    """
    try:
        return call_daemon(socket_path(args), method, route, body=body, timeout=timeout)
    except DaemonUnreachable as e:
        if e.running:
            raise
        return None
