"""What ``syncd reload`` and ``syncd status`` share: finding the daemon's socket."""

from __future__ import annotations

import argparse
from pathlib import Path

from syncd.cli._common import add_config_dir_argument
from syncd.config import ConfigError, load_daemon_settings
from syncd.daemon import control_socket_path


def add_socket_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_dir_argument(parser)
    parser.add_argument("--socket", metavar="PATH", type=Path, default=None,
                        help="the daemon's control socket (default: control.socket in syncd.yaml, else "
                             "$RUNTIME_DIRECTORY/control.sock, $XDG_RUNTIME_DIR/syncd/control.sock, "
                             "/run/syncd/control.sock as root)")


def socket_path(args: argparse.Namespace) -> Path:
    if args.socket is not None:
        return Path(args.socket)
    try:
        configured = load_daemon_settings(args.config_dir).control_socket
    except (ConfigError, FileNotFoundError, NotADirectoryError):
        # syncd.yaml unreadable: the default place; the daemon has the errors
        configured = None
    return control_socket_path(configured)
