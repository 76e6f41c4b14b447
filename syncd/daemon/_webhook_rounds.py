"""Webhook rounds: the records verified webhooks named, synced in coalesced rounds.

Per integration, records wait in a pending set (one entry per side and
id: the same record named ten times in a burst is synced once) while a
round runs; the next round takes everything gathered meanwhile. A round
holds the integration's lock (:meth:`Supervisor.lock_for`), so it never
runs beside a scheduled or manual cycle, a retry or a bulk batch: a
webhook for a new contact and a cycle cannot both create it. It opens a
cycle with origin ``webhook`` and hands the records to
:func:`~syncd.sync.sync_records` (read, plan, write with intents,
commit). Like a retry, a round is not a cycle of the schedule: it is not
kept as the integration's last cycle (``syncd status`` keeps showing the
scheduled view); its record errors land in the error table as a cycle's.

A round that fails (the app refuses the credentials, cannot be reached)
is logged and counted; its records are not retried here: the next
scheduled cycle reads them anyway. A worker runs only while records are
pending, in the task group it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import structlog

from syncd.connector import PROCESS_MASKER, WebhookEvent
from syncd.state import Side
from syncd.sync import sync_records

if TYPE_CHECKING:
    from syncd.daemon._supervisor import Supervisor

__all__ = ["RoundEnd", "WebhookRounds"]

log = structlog.get_logger("syncd.daemon")

# (integration, outcome: ok | failed | dropped, records in the round)
RoundEnd = Callable[[str, str, int], None]
_READ = object()  # no record in the event: read it with `get`


class WebhookRounds:
    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.on_round_end: RoundEnd | None = None  # the daemon's metrics
        self._pending: dict[str, dict[tuple[Side, str], Any]] = {}
        self._working: set[str] = set()
        self._tg: anyio.abc.TaskGroup | None = None
        self.stopping = False
        self.rounds = 0  # every round run, for the tests and the benchmark's log

    def attach(self, tg: anyio.abc.TaskGroup) -> None:
        self._tg = tg

    @property
    def ready(self) -> bool:
        """Whether records added now get a round (started, not stopping)."""
        return self._tg is not None and not self.stopping

    def add(self, name: str, side: Side, events: Sequence[WebhookEvent]) -> None:
        """Queue *events* of integration *name*; a round starts soon unless one runs."""
        if self._tg is None or self.stopping:
            return  # the listener answered 503 (see ready); the next cycle reads these records anyway
        pending = self._pending.setdefault(name, {})
        for event in events:
            # The latest event of a record wins: its record, or a read.
            pending[(side, event.record_id)] = event.record if event.record is not None else _READ
        if name not in self._working and pending:
            self._working.add(name)
            self._tg.start_soon(self._work, name, name=f"syncd webhooks {name}")

    def stop(self) -> None:
        """No more rounds after the ones running (pending records wait for the next cycle)."""
        self.stopping = True
        self._pending.clear()

    async def _work(self, name: str) -> None:
        try:
            while not self.stopping and self._pending.get(name):
                batch = self._pending.pop(name)
                await self._round(name, batch)
        finally:
            self._working.discard(name)

    async def _round(self, name: str, batch: dict[tuple[Side, str], Any]) -> None:
        supervisor = self.supervisor
        integration = supervisor.config.integrations.get(name)
        if integration is None or not integration.enabled:
            log.info("webhook records dropped: the integration is gone or disabled", integration=name,
                     records=len(batch))
            return
        records = list(batch)
        given = {key: raw for key, raw in batch.items() if raw is not _READ}
        outcome = "failed"
        try:
            async with supervisor.lock_for(name):
                # The config as it is now: a reload while this waited for the lock counts.
                if name not in supervisor.runners:
                    outcome = "dropped"
                    if not supervisor.owner.owns(name):  # several daemons: another one runs it
                        log.info("webhook records left to the daemon that runs the integration: its next "
                                 "scheduled cycle reads them", integration=name, records=len(records))
                    return
                self.rounds += 1
                async with supervisor.cycles.cycle(name, origin="webhook") as cycle:
                    outcomes = await sync_records(cycle, records, given)
            failed = [o for o in outcomes if not o.ok]
            outcome = "ok"
            log.info("webhook round", integration=name, records=len(records), failed=len(failed),
                     **({"first_failure": failed[0].message} if failed else {}))
        except Exception as e:  # the listener and the other integrations go on
            log.error("webhook round failed: the next scheduled cycle reads these records", integration=name,
                      records=len(records), error=PROCESS_MASKER.mask(f"{type(e).__name__}: {e}"))
        finally:
            if self.on_round_end is not None:
                self.on_round_end(name, outcome, len(records))
