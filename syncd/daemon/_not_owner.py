"""409 for a control request about an integration another daemon runs.

With several daemons (``state.url``), ``syncd sync``, ``syncd errors --retry``
and ``syncd bulk`` write for an integration, so only the daemon holding its
lease may do them; the others answer 409 naming the owner, which any
daemon's ``syncd status`` shows too.
"""

from __future__ import annotations

from starlette.responses import JSONResponse

from syncd.daemon._cluster import Ownership, owner_message

__all__ = ["not_owner"]


def not_owner(owner: Ownership, name: str) -> JSONResponse | None:
    """409 when this daemon does not hold *name*'s lease, else None (go on)."""
    if owner.owns(name):
        return None
    return JSONResponse({"ok": False, "error": owner_message(name, owner.owner_of(name))}, status_code=409)
