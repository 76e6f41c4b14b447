"""The control API of record errors and conflicts (``syncd errors``, ``syncd conflicts``)::

    GET  /v1/integrations/{name}/errors?limit=N     the open errors, newest first
    POST /v1/integrations/{name}/errors/retry       {"ids": [1, 2]} or {"all": true}:
                                                    sync those records now, answer
                                                    what became of each
    GET  /v1/integrations/{name}/conflicts?limit=N  the conflict log, newest first

A retry holds the integration's lock (:meth:`Supervisor.lock_for`), so it
never writes while a cycle of the same integration does: it waits for the
running cycle to end (and logs that it waits). Unknown integration: 404 (:func:`unknown_integration`);
an id that is not an open error: 404 naming it (``unknown_ids``), nothing
retried; a malformed body or limit: 400.
"""

from __future__ import annotations

from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from syncd.connector import PROCESS_MASKER, ConnectorError
from syncd.daemon._control import unknown_integration
from syncd.daemon._not_owner import not_owner
from syncd.daemon._supervisor import Supervisor
from syncd.sync import (
    CycleStopped,
    UnknownErrors,
    conflict_count,
    conflict_entries,
    error_entries,
    open_errors,
    retry_entries,
    retry_errors,
)

__all__ = ["errors_routes"]

log = structlog.get_logger("syncd.daemon")


def _limit(request: Request, default: int) -> int | JSONResponse:
    raw = request.query_params.get("limit", str(default))
    if not raw.isdigit() or int(raw) < 1:
        return JSONResponse({"error": f"limit must be a whole number of at least 1, not {raw!r}"},
                            status_code=400)
    return int(raw)


def errors_routes(supervisor: Supervisor) -> list[Route]:
    def known(request: Request) -> str | JSONResponse:
        name = str(request.path_params["name"])
        if name not in supervisor.config.integrations:
            return unknown_integration(name, supervisor.config.integrations)
        return name

    async def get_errors(request: Request) -> JSONResponse:
        name, limit = known(request), _limit(request, 1000)
        if isinstance(name, JSONResponse):
            return name
        if isinstance(limit, JSONResponse):
            return limit
        store = supervisor.store
        return JSONResponse({"integration": name, "open": open_errors(store, name),
                             "errors": error_entries(store, name, limit=limit)})

    async def post_retry(request: Request) -> JSONResponse:
        name = known(request)
        if isinstance(name, JSONResponse):
            return name
        refused = not_owner(supervisor.owner, name)
        if refused is not None:
            return refused  # another daemon runs it (several daemons): a retry writes
        ids = _ids(await _json(request))
        if isinstance(ids, JSONResponse):
            return ids
        store = supervisor.store
        lock = supervisor.lock_for(name)
        if lock.locked():
            log.info("retry waits for the running cycle", integration=name)
        async with lock:  # after the running cycle, never beside it
            try:
                outcomes = await retry_errors(supervisor.cycles, name, ids)
            except UnknownErrors as e:
                return JSONResponse({"error": str(e), "unknown_ids": e.ids}, status_code=404)
            except CycleStopped:  # several daemons: the lease was lost during the retry
                refused = not_owner(supervisor.owner, name)
                return refused if refused is not None else JSONResponse(
                    {"ok": False, "error": f"the retry of {name} stopped before a write: try again"}, status_code=409)
            except ConnectorError as e:  # the app refuses us or cannot be reached
                return JSONResponse({"error": PROCESS_MASKER.mask(f"the retry was aborted: {e}")},
                                    status_code=502)
        return JSONResponse({"integration": name, "results": retry_entries(store, name, outcomes),
                             "open": store.count_errors(name)})

    async def get_conflicts(request: Request) -> JSONResponse:
        name, limit = known(request), _limit(request, 50)
        if isinstance(name, JSONResponse):
            return name
        if isinstance(limit, JSONResponse):
            return limit
        store = supervisor.store
        return JSONResponse({"integration": name, "total": conflict_count(store, name),
                             "conflicts": conflict_entries(store, name, limit=limit)})

    return [
        Route("/v1/integrations/{name}/errors", get_errors, methods=["GET"]),
        Route("/v1/integrations/{name}/errors/retry", post_retry, methods=["POST"]),
        Route("/v1/integrations/{name}/conflicts", get_conflicts, methods=["GET"]),
    ]


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


def _ids(body: Any) -> list[int] | None | JSONResponse:
    """The error ids to retry; None for every open one."""
    if isinstance(body, dict) and body.get("all") is True and "ids" not in body:
        return None
    ids = body.get("ids") if isinstance(body, dict) else None
    if isinstance(ids, list) and ids and all(type(i) is int for i in ids):
        return ids
    return JSONResponse({"error": 'the body must be {"ids": [ERROR_ID, ...]} or {"all": true}'}, status_code=400)
