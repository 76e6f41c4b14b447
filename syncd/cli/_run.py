"""``syncd run``: the daemon, in the foreground (systemd runs it as Type=notify).

Exit 0 after a stop by SIGTERM/SIGINT, 78 when the config is invalid at
start (the FILE:LINE:COL errors on stderr; the unit does not restart on
78) or ``metrics.listen`` or ``webhooks.listen`` cannot be listened on, 1 when the state store or
the control socket cannot be opened.
"""

from __future__ import annotations

import argparse
import socket
import sys
from typing import Any

import anyio

from syncd._logging import configure_logging
from syncd.cli._common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, add_config_dir_argument, error
from syncd.cli._local import load
from syncd.config import DaemonSettings, config_directory
from syncd.connector import PROCESS_MASKER
from syncd.daemon import STOP_TIMEOUT, ControlPathError, control_socket
from syncd.state import StateError, open_state


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "run", help="run the daemon: every enabled integration on its schedule, reloading on change",
        description="Run every enabled integration on its schedule until stopped (SIGTERM/SIGINT). "
                    "Config changes are picked up on save, on SIGHUP and on `syncd reload`.")
    add_config_dir_argument(p)
    p.add_argument("--stop-timeout", type=float, default=STOP_TIMEOUT, metavar="SECONDS",
                   help="on SIGTERM/SIGINT, how long running cycles get to reach a checkpoint "
                        f"before they are cancelled (default {STOP_TIMEOUT:g})")
    p.set_defaults(run=run)


def _configure(settings: DaemonSettings) -> None:
    configure_logging(settings.log_level, settings.log_format, mask=PROCESS_MASKER.mask)


def run(args: argparse.Namespace) -> int:
    # What serves HTTP, imported only by the command that serves (~0.2 s).
    from syncd.daemon import (
        Daemon,
        ListenError,
        bind_control_socket,
        bind_web_listener,
        bind_webhook_listener,
        config_fingerprint,
    )

    # Before the load: a file saved while the daemon starts is not missed.
    loaded = config_fingerprint(config_directory(args.config_dir)[0])
    config = load(args)
    if isinstance(config, int):
        return config
    _configure(config.daemon)
    # First, before anything is opened: a port in use is a config problem
    # (metrics.listen, webhooks.listen), and nothing is left half-started.
    listeners: list[socket.socket] = []
    web = webhooks = None
    try:
        if config.daemon.metrics_enabled:
            web = bind_web_listener(config.daemon)
            listeners.append(web)
        if config.daemon.webhooks_enabled:
            webhooks = bind_webhook_listener(config.daemon)
            listeners.append(webhooks)
    except ListenError as e:
        print(e, file=sys.stderr)  # FILE:LINE:COL: error: …, as the other config problems
        _close(listeners)
        return EXIT_CONFIG
    try:
        store = open_state(config.daemon.state_target(), answer_within=config.daemon.state_timeout)
    except StateError as e:
        error(str(e))
        _close(listeners)
        return EXIT_FAILED
    try:
        try:
            control = bind_control_socket(control_socket(config.directory, config.daemon))
        except ControlPathError as e:
            error(str(e))
            return EXIT_FAILED
        daemon = Daemon(config, store, control, on_settings=_configure, stop_timeout=args.stop_timeout,
                        loaded=loaded, web=web, webhooks=webhooks)
        anyio.run(daemon.run)
    finally:
        store.close()
        _close(listeners)  # closed already when the daemon ran; not when it could not start
    return EXIT_OK


def _close(listeners: list[socket.socket]) -> None:
    for sock in listeners:
        sock.close()
