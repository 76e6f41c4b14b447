"""What ``syncd status`` shows of an integration that the state store knows.

One function for both ways of asking: the daemon's ``/v1/status`` lays its
runners' live state over it, and ``syncd status`` without a daemon shows
it alone (the last cycle kept in the store, and no next run). So an
integration reads the same either way, and a daemon just restarted shows
the last cycle before running one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import structlog

from syncd.config import Integration
from syncd.state import StateError, StateStore
from syncd.sync import bulk_progress, errors_status

__all__ = ["SaidOnce", "config_errors_of", "stored_status"]

log = structlog.get_logger("syncd.daemon")


class SaidOnce:
    """A warning logged once while the same error repeats, again once it changes or after
    a read that worked: during an outage every status call (a status page polls it) meets
    the same error for each integration, and would log each again."""

    def __init__(self, event: str) -> None:
        self.event = event
        self._last: str | None = None

    def failed(self, error: str, **fields: Any) -> None:
        if error != self._last:
            self._last = error
            log.warning(self.event, error=error, **fields)

    def worked(self) -> None:
        self._last = None


_UNREAD = SaidOnce("could not read the last cycle")


def stored_status(integration: Integration, store: StateStore | None) -> dict[str, Any]:
    """The entry of *integration*: its config, and its last cycle as the
    store kept it (without a store, or when reading it fails, none)."""
    entry: dict[str, Any] = {
        "name": integration.name, "enabled": integration.enabled, "schedule": integration.schedule.source,
        "source": integration.source, "state": "stopped" if integration.enabled else "disabled",
        "next_run": None, "last_start": None, "last_end": None, "last_result": None, "last_error": None,
        "last_origin": None, "last_summary": {}, "bulk": None,
    }
    if store is None:
        return entry
    try:
        last = store.cycles(integration.name, limit=1)
        entry.update(errors_status(store, integration.name))  # open_errors, errors_preview, conflicts
        entry["bulk"] = bulk_progress(store.bulk_run(integration.name))
    except StateError as e:  # status still shows the rest; the error says why this part is missing
        _UNREAD.failed(str(e), integration=integration.name)
        return entry
    _UNREAD.worked()
    if last:
        c = last[0]
        entry.update(last_start=c.started_at.timestamp(), last_end=c.ended_at.timestamp(),
                     last_result=c.outcome, last_error=c.error, last_origin=c.origin,
                     last_summary=dict(c.counts))
    return entry


def config_errors_of(source: str, errors: Iterable[str]) -> list[str]:
    """The errors (``FILE:LINE:COL: …``) that are in the file *source*."""
    return [e for e in errors if source and e.startswith(f"{source}:")]
