"""A bulk sync: every linked pair, every mapped field, in its declared direction.

What Intercom calls a manual bulk sync, for when the two apps may have
drifted apart behind syncd's back (an import, a restore, a field edited
while the integration was off): a normal cycle only carries *changes*, so
it never repairs such a difference.

1. **Read** both sides in full (the connectors' ``list``), refreshing the
   snapshots, as a full-read cycle does: under the integration's lock
   (``lock``), since the cursor and the deletion check are the cycle's too.
2. **Write**, linked pair by linked pair, in batches of :data:`BATCH`:
   each pair is planned as if neither side had ever been synced, so every
   mapped value that differs is written in the mapping's direction; for a
   ``both`` mapping the integration's conflict policy picks the side that
   wins (a blank never erases, ``prefer:`` holds). Values that are already
   equal are not written: that would only spend API budget. Updates only:
   a record without a partner, or a deleted one, is the scheduled cycles'
   job. Each batch is written and committed by the cycle's own
   :class:`~syncd.sync._writing.Writer` under the lock (taken per batch,
   never for the whole bulk, so scheduled cycles go on between batches); a
   failed write is a record error with origin ``bulk`` and the bulk goes on.
3. **Checkpoint** after each batch: the progress (a :class:`BulkRun`) is
   committed, and a stop asked for (:meth:`BulkSync.stop`) ends the bulk
   there, ``stopped``. A bulk is not resumable: a new one starts over.

Before each batch the bulk asks ``held_back_by`` (the API budgets' check
point) whether it may go on; while it answers a reason, the bulk waits.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from typing import Any

import anyio
import structlog

from syncd.connector import ConnectorError
from syncd.state import BulkRun, BulkState, Snapshot, StateStore
from syncd.sync._context import SIDES, CycleContext
from syncd.sync._factory import Cycles
from syncd.sync._plan import PairPlan, SideView
from syncd.sync._reading import Reader
from syncd.sync._summary import CycleStopped
from syncd.sync._writing import Writer

__all__ = ["BATCH", "BulkSync", "bulk_progress"]

log = structlog.get_logger("syncd.sync")

BATCH = 100  # linked pairs a batch: a short hold of the lock, few API calls
HELD_BACK_POLL = 1.0  # seconds between two questions to `held_back_by` while held back

Lock = Callable[[], AbstractAsyncContextManager[Any]]


@asynccontextmanager
async def _no_lock() -> AsyncIterator[None]:
    yield


def _go_on() -> str | None:
    return None


def bulk_progress(run: BulkRun | None, now: float | None = None) -> dict[str, Any] | None:
    """A bulk sync as ``syncd status`` and ``syncd bulk … --json`` show it:
    state, done, total, failed, rate (pairs a second since it started),
    eta_seconds (while running, once a rate is known), started_at, ended_at
    (epoch seconds), message."""
    if run is None:
        return None
    started = run.started_at.timestamp()
    end = run.ended_at.timestamp() if run.ended_at is not None else (time.time() if now is None else now)
    elapsed = max(end - started, 0.0)
    rate = run.done / elapsed if elapsed > 0 else 0.0
    eta = (run.total - run.done) / rate if run.state == "running" and rate > 0 else None
    return {"state": run.state, "done": run.done, "total": run.total, "failed": run.failed,
            "rate": round(rate, 3), "eta_seconds": None if eta is None else round(eta, 1),
            "started_at": started, "ended_at": run.ended_at.timestamp() if run.ended_at else None,
            "message": run.message}


class BulkSync:
    """One bulk sync of integration *name*: ``await BulkSync(cycles, name).run()``.

    *lock*: what each batch (and the read) holds, the daemon's per-
    integration lock (by default none: a command without a daemon).
    *held_back_by*: the check point where a batch asks whether it may go
    on: None to go on, else why it must wait (the API budgets' tier).
    *on_progress*: called with each checkpoint's :class:`BulkRun`.
    """

    def __init__(self, cycles: Cycles, name: str, *, lock: Lock = _no_lock,
                 held_back_by: Callable[[], str | None] = _go_on, batch: int = BATCH,
                 on_progress: Callable[[BulkRun], None] = lambda run: None) -> None:
        self.cycles = cycles
        self.name = name
        self.lock = lock
        self.held_back_by = held_back_by
        self.batch = batch
        self.on_progress = on_progress
        self.stop_message: str | None = None
        now = cycles.store.now()
        self.progress = BulkRun("running", started_at=now, updated_at=now)

    @property
    def store(self) -> StateStore:
        return self.cycles.store

    def stop(self, message: str) -> None:
        """End the bulk at its next checkpoint, ``stopped``, with *message* (why)."""
        if self.stop_message is None:
            self.stop_message = message

    def _save(self, **changes: Any) -> None:
        self.progress = replace(self.progress, updated_at=self.store.now(), **changes)
        with self.store.transaction(self.name) as t:
            t.put_bulk_run(self.progress)
        self.on_progress(self.progress)

    def _end(self, state: BulkState, message: str | None) -> None:
        now = self.store.now()
        self._save(state=state, ended_at=now, message=message)

    async def run(self) -> BulkRun:
        """Run it to its end: ``done``, ``stopped`` or ``failed`` (the
        returned run, also in the state store)."""
        self._save()
        log.info("bulk sync started", integration=self.name)
        try:
            async with self.cycles.cycle(self.name, origin="bulk", full=True,
                                         stop=lambda: self.stop_message is not None) as cycle:
                ctx = cycle.ctx
                async with self.lock():
                    reader = Reader(ctx)
                    for side in SIDES:
                        await reader.read(side, True)
                self._save(total=self.store.link_count(self.name))
                writer = Writer(ctx, set())
                for links in self.store.links(self.name, batch=self.batch):
                    await self._wait_while_held_back()
                    if self.stop_message is not None:
                        raise CycleStopped
                    async with self.lock():
                        failed = await self._batch(ctx, writer, links)
                    self._save(done=self.progress.done + len(links), failed=self.progress.failed + failed,
                               message=None)
            if self.stop_message is not None:
                raise CycleStopped  # asked for during the last batch: still an asked-for end
            self._end("done", None)
        except CycleStopped:
            self._end("stopped", self.stop_message)
        except ConnectorError as e:
            # credentials refused, an app down past its retries: nothing to go on with
            self._end("failed", str(e))
        except (KeyboardInterrupt, anyio.get_cancelled_exc_class()):
            # Ctrl-C, or cancelled at the daemon's stop timeout: never left `running`
            self._end("stopped", self.stop_message or "interrupted")
            raise
        except BaseException as e:
            self._end("failed", f"internal error: {type(e).__name__}: {e}")  # a bug: never left `running`
            raise
        finally:
            log.info("bulk sync ended", integration=self.name, state=self.progress.state,
                     done=self.progress.done, total=self.progress.total, failed=self.progress.failed)
        return self.progress

    async def _wait_while_held_back(self) -> None:
        """The budgets' check point: wait while ``held_back_by`` says why."""
        while self.stop_message is None:
            reason = self.held_back_by()
            if reason is None:
                return
            if self.progress.message != reason:
                self._save(message=reason)
            await anyio.sleep(HELD_BACK_POLL)

    async def _batch(self, ctx: CycleContext, writer: Writer, links: list[tuple[str, str]]) -> int:
        """Plan and write one batch of linked pairs; how many had a write fail."""
        # The links may have changed since the batch was listed (a cycle ran
        # meanwhile): only pairs still linked, both records still there.
        current = self.store.linked(self.name, "left", [left for left, _ in links])
        lefts = self.store.snapshots(self.name, "left", [left for left, _ in links])
        rights = self.store.snapshots(self.name, "right", [right for _, right in links])
        pairs: list[tuple[PairPlan, Snapshot, Snapshot]] = []
        for left_id, right_id in links:
            left, right = lefts.get(left_id), rights.get(right_id)
            if current.get(left_id) != right_id or left is None or right is None or left.deleted or right.deleted:
                continue  # a deletion or a new partner: the scheduled cycles' job
            plan = ctx.plan.plan(_as_never_synced(left), _as_never_synced(right))
            # Differences settled by the conflict policy are not conflicts
            # (neither side need have changed): the conflict log stays for
            # real ones.
            plan.conflicts.clear()
            plan.create = plan.delete = None  # updates only
            pairs.append((plan, left, right))
        return await writer.update_pairs(pairs)


def _as_never_synced(snap: Snapshot) -> SideView:
    """The record as if never synced: every value it has counts as changed,
    so the plan writes every mapped value that differs, the conflict policy
    settling a ``both`` mapping (see the module docstring)."""
    return SideView(id=snap.record_id, seen=snap.seen, synced=None, updated_at=snap.updated_at,
                    deleted=snap.deleted)

