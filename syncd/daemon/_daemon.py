"""``syncd run``: the long-running daemon, put together.

One task group holds everything: the integrations' runners and bulk syncs
(under the :class:`~syncd.daemon._supervisor.Supervisor`), the control API on its Unix
socket, the config watcher, the signal handler and the systemd watchdog,
when ``metrics.enabled``, the HTTP listener of metrics, health and the
status page (:mod:`syncd.daemon._web`), and when ``webhooks.enabled`` the
webhook listener and its rounds (:mod:`syncd.daemon._webhooks`).

Signals: SIGHUP reloads. SIGTERM or SIGINT stops gracefully: no new
cycles, running ones end at their next checkpoint (a page read or a batch
written, committed), then exit 0, at most :data:`STOP_TIMEOUT` seconds
later. A second SIGTERM/SIGINT, or the timeout, cancels what still runs at
once: still safe, because nothing awaits inside a state transaction and a
create in flight is covered by its intent.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import anyio
import anyio.abc
import structlog

from syncd.config import Config, DaemonSettings
from syncd.daemon._bulk import bulk_routes
from syncd.daemon._control import ControlServer, core_routes
from syncd.daemon._errors_api import errors_routes
from syncd.daemon._long_lived import freeze_long_lived
from syncd.daemon._metrics import Metrics
from syncd.daemon._notify import Notifier
from syncd.daemon._stop import STOP_TIMEOUT
from syncd.daemon._supervisor import ReloadResult, Supervisor
from syncd.daemon._sync_now import sync_routes
from syncd.daemon._watch import Fingerprint, watch_config
from syncd.daemon._web import WebServer, http_address
from syncd.daemon._webhook_rounds import WebhookRounds
from syncd.daemon._webhooks import WebhookServer
from syncd.state import StateStore

__all__ = ["STOP_TIMEOUT", "Daemon"]

log = structlog.get_logger("syncd.daemon")



class Daemon:
    def __init__(self, config: Config, store: StateStore, control: socket.socket, *,
                 environ: Mapping[str, str] | None = None, notifier: Notifier | None = None,
                 on_settings: Callable[[DaemonSettings], None] = lambda settings: None,
                 stop_timeout: float = STOP_TIMEOUT, loaded: Fingerprint | None = None,
                 web: socket.socket | None = None, webhooks: socket.socket | None = None) -> None:
        self.environ = dict(os.environ if environ is None else environ)
        self.notifier = notifier if notifier is not None else Notifier.from_environ(self.environ)
        self.supervisor = Supervisor(config, store, environ=self.environ, on_settings=on_settings)
        self.control = ControlServer(control, [
            *core_routes(self.supervisor.status, self._reload_for_client),
            *sync_routes(self.supervisor),
            *errors_routes(self.supervisor),
            *bulk_routes(self.supervisor),
        ])
        # metrics, health and the status page, on *web* (bound by bind_web_listener)
        self.web: WebServer | None = None
        # the records webhooks name, synced in rounds; and their listener, on *webhooks*
        self.rounds = WebhookRounds(self.supervisor)
        self.webhooks: WebhookServer | None = None
        metrics = Metrics(self.supervisor) if web is not None or webhooks is not None else None
        if metrics is not None:
            self.supervisor.on_cycle_end = metrics.on_cycle_end
            self.supervisor.cycles.accounts.listen(metrics.on_request)
            self.rounds.on_round_end = metrics.on_webhook_round
        if web is not None and metrics is not None:
            self.web = WebServer(web, metrics, ready=lambda: self._ready)
        if webhooks is not None and metrics is not None:
            self.webhooks = WebhookServer(webhooks, self.rounds, metrics.on_webhook)
        self._ready = False  # integrations started, not stopping: /-/ready
        self.stop_timeout = stop_timeout
        self.loaded = loaded  # the config files as they were before the config was loaded
        self._stop = anyio.Event()
        self._watch_stop = anyio.Event()
        self.forced = False

    async def run(self) -> None:
        async with anyio.create_task_group() as tg:
            # Handlers in place before READY=1: a stop right after start is graceful.
            await tg.start(self._signals, tg)
            tg.start_soon(self.control.serve)
            if self.web is not None:
                tg.start_soon(self.web.serve)
            if self.webhooks is not None:
                tg.start_soon(self.webhooks.serve)
            settings = self.supervisor.running_settings
            tg.start_soon(partial(watch_config, self.supervisor.config.directory, self._reload, self._watch_stop,
                                  self.loaded, quiet_ms=round(settings.reload_quiet_seconds * 1000),
                                  max_ms=round(settings.reload_max_seconds * 1000)))
            interval = self.notifier.watchdog_interval()
            if interval is not None:
                tg.start_soon(self._watchdog, interval)
            async with anyio.create_task_group() as runners:
                self.supervisor.start_all(runners)
                if self.supervisor.cluster is None:  # several daemons: at each acquisition instead
                    self.supervisor.bulks.mark_interrupted()
                self.supervisor.bulks.attach(runners)
                self.rounds.attach(runners)
                self._ready = True
                self.notifier.ready(self.supervisor.summary_line())
                log.info("syncd started", pid=os.getpid(), config=str(self.supervisor.config.directory),
                         socket=str(self.control.path), integrations=len(self.supervisor.runners),
                         **self._web_address())
                freeze_long_lived()  # the config and the runners, alive until a reload
                await self._stop.wait()
                self._ready = False
                self.notifier.stopping()
                log.info("stopping: running cycles end at their next checkpoint",
                         running=sum(1 for r in self.supervisor.runners.values()
                                     if r.status.state in ("running", "stopping")))
                self._watch_stop.set()
                self.supervisor.stop_all()
                self.supervisor.bulks.stop_all("stopped: the daemon stopped")
                self.rounds.stop()  # a round running ends; the records pending wait for the next start
                with anyio.move_on_after(self.stop_timeout) as waited:
                    await self.supervisor.wait_all_stopped()
                    await self.supervisor.bulks.wait_all()
                if waited.cancelled_caught:
                    self.forced = True
                    log.warning("stop timeout reached: cancelling what still runs", seconds=self.stop_timeout)
                    runners.cancel_scope.cancel()
                else:
                    # Several daemons: the leases go once the runners have
                    # stopped, so the others take over at their next renewal.
                    await self.supervisor.leave()
            self.control.stop()
            self._stop_listeners()
            tg.cancel_scope.cancel()  # the signal handler and the watchdog
        await self.supervisor.cycles.accounts.close_connections()  # the kept-alive HTTP connections
        self.supervisor.budgets.flush()  # the API usage stored ahead of the requests: exact again
        self.supervisor.cycles.accounts.close()  # the shared rates' connection (PostgreSQL)
        log.info("syncd stopped", forced=self.forced)

    def _stop_listeners(self) -> None:
        for server in (self.web, self.webhooks):
            if server is not None:
                server.stop()

    def _web_address(self) -> dict[str, str]:
        """Where the metrics and webhooks listen, for the start-up log line (a port 0 is known only now)."""
        found = {}
        if self.web is not None:
            found["metrics"] = http_address(self.web.address)
        if self.webhooks is not None:
            found["webhooks"] = http_address(self.webhooks.address)
        return found

    async def _reload(self, trigger: str) -> ReloadResult | None:
        if self._stop.is_set():
            return None
        self.notifier.reloading()
        try:
            result = await self.supervisor.reload(trigger)
            if result.ok:
                freeze_long_lived()  # the new config in, the old one freed
            return result
        finally:
            self.notifier.ready(self.supervisor.summary_line())

    async def _reload_for_client(self, trigger: str) -> tuple[int, dict[str, Any]]:
        result = await self._reload(trigger)
        if result is None:
            return 503, {"ok": False, "error": "the daemon is stopping"}
        return (200 if result.ok else 422), result.as_dict()

    async def _signals(self, tg: anyio.abc.TaskGroup, *,
                       task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
            task_status.started()
            async for signum in signals:
                if signum == signal.SIGHUP:
                    # beside this handler: a signal during a long reload is still heard
                    tg.start_soon(self._reload, "SIGHUP")
                elif not self._stop.is_set():
                    log.info("signal received: stopping", signal=signal.Signals(signum).name)
                    self._stop.set()
                else:
                    log.warning("second signal: stopping at once", signal=signal.Signals(signum).name)
                    self.forced = True
                    self.control.stop()
                    self._stop_listeners()
                    tg.cancel_scope.cancel()

    async def _watchdog(self, interval: float) -> None:
        # From the event loop itself: a loop stuck in a blocking call stops
        # these, and systemd restarts the daemon.
        while True:
            self.notifier.watchdog()
            await anyio.sleep(interval)
