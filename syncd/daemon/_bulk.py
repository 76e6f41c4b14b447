"""Bulk syncs in the daemon, and their routes on the control socket.

A bulk sync (:class:`syncd.sync.BulkSync`) runs as a task beside its
integration's runner, at most one per integration. It takes the
integration's lock (:meth:`Supervisor.lock_for`) per batch only, so the
scheduled cycles go on between its batches. It ends by itself (``done``,
``failed``), or at its next checkpoint (``stopped``) when ``syncd bulk NAME
stop`` asks, when a reload restarts, disables or removes the integration,
or when the daemon stops; the message of its stored progress says which.
A bulk is never resumed: a daemon that died during one marks it ``failed``
at its next start.

Routes (JSON), under ``/v1/integrations/{name}``::

    GET  /bulk         {"integration", "bulk": progress or null}
    POST /bulk/start   202 with the progress; 409 when one runs already or
                       the integration is disabled; 503 while stopping
    POST /bulk/stop    200 with the progress once it stopped; 409 when none runs

The progress is :func:`syncd.sync.bulk_progress`'s dict (the ``bulk`` key
of each integration in ``/v1/status``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, Protocol

import anyio
import anyio.abc
import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from syncd.config import Config
from syncd.daemon._cluster import Ownership
from syncd.daemon._control import unknown_integration
from syncd.daemon._not_owner import not_owner
from syncd.daemon._status import SaidOnce
from syncd.state import StateError, StateStore
from syncd.sync import BulkSync, Cycles, bulk_progress

__all__ = ["Bulks", "bulk_routes"]

log = structlog.get_logger("syncd.daemon")

# How long `POST …/bulk/stop` waits for the bulk to reach its checkpoint.
STOP_WAIT = 60.0
INTERRUPTED = ("the daemon stopped before this bulk sync ended (killed or crashed); a bulk sync is not "
               "resumed: start a new one")


class Bulks:
    """The bulk syncs running in the daemon, by integration name."""

    def __init__(self, store: StateStore, lock_for: Callable[[str], anyio.Lock]) -> None:
        self.store = store
        self.lock_for = lock_for
        # The API budgets' check point: why integration NAME's bulk must wait
        # before its next batch (None: go on). The budgets set it.
        self.held_back_by: Callable[[str], str | None] = lambda name: None
        self.running: dict[str, BulkSync] = {}
        self._ended: dict[str, anyio.Event] = {}
        self._tg: anyio.abc.TaskGroup | None = None
        self._unread = SaidOnce("could not read the bulk sync's progress")

    def attach(self, tg: anyio.abc.TaskGroup) -> None:
        """Run bulk syncs in *tg* from now on (the daemon's runners' group)."""
        self._tg = tg

    @property
    def ready(self) -> bool:
        """Whether a bulk sync can start: the daemon has started its runners."""
        return self._tg is not None

    def mark_interrupted(self, names: Iterable[str] | None = None) -> None:
        """At start: a bulk the store says is running was cut off by the end of
        the daemon that ran it; say so rather than show it running forever.
        Several daemons: another one may be running it, so only *names* (the
        integrations whose lease this daemon has just acquired) are looked at."""
        for name in self.store.integrations() if names is None else names:
            if name in self.running:
                continue  # this daemon's own, still ending
            run = self.store.bulk_run(name)
            if run is not None and run.state == "running":
                now = self.store.now()
                with self.store.transaction(name) as t:
                    t.put_bulk_run(replace(run, state="failed", updated_at=now, ended_at=now, message=INTERRUPTED))
                log.warning("bulk sync interrupted by the daemon's end", integration=name,
                            done=run.done, total=run.total)

    def status(self, name: str) -> dict[str, Any] | None:
        try:
            run = self.store.bulk_run(name)
        except StateError as e:  # status still answers (the database is down): without this part
            self._unread.failed(str(e), integration=name)
            return None
        self._unread.worked()
        return bulk_progress(run)

    def start(self, cycles: Cycles, name: str) -> bool:
        """Start a bulk sync of *name*; False when one runs already."""
        if name in self.running:
            return False
        if self._tg is None:  # a request in the instant between the socket's opening and the runners'
            raise RuntimeError("the daemon is starting: no bulk sync can start yet")
        bulk = BulkSync(cycles, name, lock=lambda: self.lock_for(name),
                        held_back_by=lambda: self.held_back_by(name))
        ended = anyio.Event()
        self.running[name], self._ended[name] = bulk, ended
        with self.store.transaction(name) as t:  # `running` from now: what the caller is answered
            t.put_bulk_run(bulk.progress)
        self._tg.start_soon(self._run, name, bulk, ended, name=f"syncd bulk {name}")
        return True

    async def _run(self, name: str, bulk: BulkSync, ended: anyio.Event) -> None:
        try:
            with structlog.contextvars.bound_contextvars(integration=name):
                await bulk.run()
        except Exception:  # a bug, or the state store failing: this bulk only, never the daemon
            log.exception("bulk sync failed", integration=name)
        finally:
            if self.running.get(name) is bulk:
                del self.running[name]
            ended.set()

    def stop(self, name: str, message: str) -> anyio.Event | None:
        """Ask *name*'s bulk to end at its next checkpoint, saying *message*;
        the event set when it has ended, or None when none runs."""
        bulk = self.running.get(name)
        if bulk is None:
            return None
        log.info("bulk sync stopping", integration=name, reason=message)
        bulk.stop(message)
        return self._ended[name]

    def stop_all(self, message: str) -> None:
        for name in list(self.running):
            self.stop(name, message)

    async def wait_all(self) -> None:
        for event in list(self._ended.values()):
            await event.wait()


class _Host(Protocol):
    """What the routes need of the supervisor (not imported: it imports this module)."""

    @property
    def config(self) -> Config: ...

    @property
    def cycles(self) -> Cycles: ...

    @property
    def stopping(self) -> bool: ...

    @property
    def bulks(self) -> Bulks: ...

    @property
    def owner(self) -> Ownership: ...


def bulk_routes(host: _Host) -> list[Route]:
    """``/v1/integrations/{name}/bulk``, ``…/bulk/start``, ``…/bulk/stop``."""

    def known(name: str) -> JSONResponse | None:
        integrations = host.config.integrations
        return None if name in integrations else unknown_integration(name, integrations)

    async def get_bulk(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        refused = known(name)
        if refused is not None:
            return refused
        return JSONResponse({"integration": name, "bulk": host.bulks.status(name)})

    async def post_start(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        refused = known(name)
        if refused is not None:
            return refused
        if host.stopping or not host.bulks.ready:
            return JSONResponse({"error": "the daemon is stopping or still starting: try again"},
                                status_code=503)
        if not host.config.integrations[name].enabled:
            return JSONResponse({"error": f"integration {name!r} is disabled (enabled: false in "
                                          f"{host.config.integrations[name].source}): enable it first"},
                                status_code=409)
        refused = not_owner(host.owner, name)
        if refused is not None:
            return refused  # another daemon runs it (several daemons)
        if not host.bulks.start(host.cycles, name):
            shown = host.bulks.status(name) or {}
            return JSONResponse({
                "error": f"a bulk sync of {name!r} is already running ({shown.get('done', 0)} of "
                         f"{shown.get('total', 0)} pairs done): wait for it, or stop it with "
                         f"`syncd bulk {name} stop`",
                "bulk": shown or None}, status_code=409)
        return JSONResponse({"integration": name, "bulk": host.bulks.status(name)}, status_code=202)

    async def post_stop(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        refused = known(name)
        if refused is not None:
            return refused
        ended = host.bulks.stop(name, "stopped by `syncd bulk stop`")
        if ended is None:
            return JSONResponse({"error": f"no bulk sync of {name!r} is running",
                                 "bulk": host.bulks.status(name)}, status_code=409)
        with anyio.move_on_after(STOP_WAIT):
            await ended.wait()
        return JSONResponse({"integration": name, "bulk": host.bulks.status(name)})

    base = "/v1/integrations/{name}/bulk"
    return [Route(base, get_bulk, methods=["GET"]),
            Route(f"{base}/start", post_start, methods=["POST"]),
            Route(f"{base}/stop", post_stop, methods=["POST"])]
