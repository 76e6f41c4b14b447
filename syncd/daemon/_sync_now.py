"""``POST /v1/integrations/{name}/sync``: a cycle now, as ``syncd sync`` asks.

Body ``{"wait": true}`` (the default) answers when the cycle has ended,
with its outcome and counts; ``{"wait": false}`` answers 202 at once. The
cycle is the integration's runner's (so it never overlaps a scheduled one:
asked for while one runs, it runs right after it). 404 for an integration
the running config does not have, 409 for a disabled one, 503 when the
daemon stopped before the cycle ran.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from syncd.daemon._control import unknown_integration
from syncd.daemon._not_owner import not_owner
from syncd.daemon._supervisor import Supervisor

__all__ = ["sync_routes"]


def sync_routes(supervisor: Supervisor) -> list[Route]:
    async def post_sync(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        integration = supervisor.config.integrations.get(name)
        if integration is None:
            return unknown_integration(name, supervisor.config.integrations)
        refused = not_owner(supervisor.owner, name) if integration.enabled else None
        if refused is not None:
            return refused  # another daemon runs it (several daemons)
        runner = supervisor.runners.get(name)
        if runner is None:
            why = "disabled (enabled: false)" if not integration.enabled else "not running"
            return JSONResponse({"error": f"integration {name!r} is {why} in {integration.source}: "
                                          f"enable it, or run one cycle without the daemon with "
                                          f"`syncd once {name}`"}, status_code=409)
        try:
            body: Any = await request.json() if await request.body() else {}
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return JSONResponse({"error": "the body must be a JSON object such as {\"wait\": true}"},
                                status_code=400)
        asked = runner.request_cycle()
        if not body.get("wait", True):
            return JSONResponse({"integration": name, "queued": True}, status_code=202)
        await asked.done.wait()
        if not asked.ran:
            return JSONResponse({"error": f"the daemon stopped {name!r} before the cycle ran"}, status_code=503)
        return JSONResponse({"integration": name, "result": asked.result, "error": asked.error,
                             "seconds": asked.seconds, "create": integration.create, **asked.summary})

    return [Route("/v1/integrations/{name}/sync", post_sync, methods=["POST"])]
