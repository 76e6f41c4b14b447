"""``syncd run``: the daemon, in the foreground (systemd runs it as Type=notify).

Exit 0 after a stop by SIGTERM/SIGINT, 78 when the config is invalid at
start (the FILE:LINE:COL errors on stderr; the unit does not restart on
78) or ``metrics.listen`` or ``webhooks.listen`` cannot be listened on, 1 when the state store or
the control socket cannot be opened. A PostgreSQL server that does not
answer yet (down, starting, unreachable) is waited for rather than exited on.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import structlog

from syncd._logging import configure_logging
from syncd.cli._common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, add_config_dir_argument, error
from syncd.cli._local import load
from syncd.config import Config, DaemonSettings, config_directory
from syncd.connector import PROCESS_MASKER
from syncd.daemon import STOP_TIMEOUT, ControlPathError, Notifier, control_socket
from syncd.state import StateError, StateStore, StateUnreachable, open_state

log = structlog.get_logger("syncd.daemon")

# Seconds between tries of a state store that does not answer yet: doubling, then this at most.
_FIRST_TRY_AGAIN, _LAST_TRY_AGAIN = 1.0, 30.0


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
        store = _open_state_when_it_answers(config)
    except StateError as e:
        error(str(e))
        _close(listeners)
        return EXIT_FAILED
    if store is None:  # stopped while waiting for it
        _close(listeners)
        return EXIT_OK
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


def _open_state_when_it_answers(config: Config) -> StateStore | None:
    """The state store; None if SIGTERM or SIGINT came while waiting for it.

    A PostgreSQL server that does not answer, or answers that it cannot take
    connections now (StateUnreachable), is tried again (1 s, 2 s, 4 s… then
    every 30 s), each try logged, systemd's start timeout extended and its
    STATUS saying why: a daemon started with its database down (a boot, a
    deploy, a failover) would otherwise exit 1 and be restarted a few times
    by systemd, which then gives up, leaving it stopped after the database
    came back. Anything else (a wrong password, no such database, a SQLite
    file that cannot be opened) raises: the operator has to act.
    """
    notifier = Notifier.from_environ()
    wait = _FIRST_TRY_AGAIN
    with _stop_requested() as stop:
        try:
            while not stop.is_set():
                try:
                    store = open_state(config.daemon.state_target(), answer_within=config.daemon.state_timeout)
                except StateUnreachable as e:
                    log.warning("waiting for the state store", error=str(e), next_try_in=wait)
                    notifier.status(f"waiting for the state store: {e}")
                    # a try takes up to the timeout, the wait before it, and a margin
                    notifier.notify(f"EXTEND_TIMEOUT_USEC={int((wait + config.daemon.state_timeout + 5) * 1e6)}")
                    stop.wait(wait)
                    wait = min(wait * 2, _LAST_TRY_AGAIN)
                    continue
                if not stop.is_set():
                    return store
                store.close()  # the stop came while it opened: it is not lost
        finally:
            notifier.close()
    log.info("stopped while waiting for the state store")
    return None


@contextmanager
def _stop_requested() -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT for the block (before the daemon's own handlers)."""
    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _close(listeners: list[socket.socket]) -> None:
    for sock in listeners:
        sock.close()
