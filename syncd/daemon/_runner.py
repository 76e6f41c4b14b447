"""One integration's task: wait for its schedule, run a cycle, repeat.

A runner owns nothing but its loop: the :class:`~syncd.sync.Cycles` it
starts cycles with (the config, over the daemon's state store and
accounts) is passed in, and the supervisor replaces a runner (stop, then
a new one) when the integration's config changes. A cycle never overlaps
itself (the next one is scheduled from this one's start, and waits for
it to end), and nothing a cycle raises leaves the runner: an error is
logged and kept for ``syncd status``, and the next cycle is due as usual,
so one broken integration never stops the others.

``syncd sync`` asks for a cycle now (:meth:`Runner.request_cycle`): the
runner runs one at once, or right after the one running, and the request's
:class:`CycleRequest` tells the caller how it ended.

Stopping is cooperative: :meth:`Runner.stop` wakes a runner that waits, and
makes a running cycle end at its next checkpoint (a page read or a batch
written, committed), so nothing is lost and nothing is left half-done.

API budgets (:class:`~syncd.daemon._budgets.Budgets`): a cycle that is due
while an account it uses is above the scheduled tier does not run; the
runner sleeps until that account's quota window ends (:meth:`Runner.recheck`
wakes it sooner, at a reload that may have raised the tier). A cycle under
way when the tier is crossed ends at its next checkpoint, like a stop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import anyio
import structlog

from syncd.connector import PROCESS_MASKER
from syncd.daemon._budgets import Budgets
from syncd.daemon._schedule import jitter_for, next_run, on_tick, resume_from, tick_for
from syncd.state import LeaseLost, Origin, StateError, StateStore
from syncd.sync import Cycles, CycleSummary

__all__ = ["CycleRequest", "Runner", "RunnerStatus"]

log = structlog.get_logger("syncd.daemon")
_cycle_ids = itertools.count(1)

State = Literal["waiting", "running", "stopping", "stopped"]
# Called after every cycle with the runner's name, status and the cycle's
# summary (None when the cycle raised): the daemon's metrics count there.
CycleEnd = Callable[[str, "RunnerStatus", CycleSummary | None], None]


@dataclass
class RunnerStatus:
    """What ``syncd status`` shows of one integration."""

    state: State = "waiting"
    next_run: float | None = None  # time.time() seconds
    cycles: int = 0
    last_start: float | None = None
    last_end: float | None = None
    last_result: str | None = None  # ok | errors | aborted | stopped | failed (see syncd.state.Outcome)
    last_origin: str | None = None  # scheduled, manual (syncd sync), … (see syncd.state.Origin)
    last_error: str | None = None
    last_summary: dict[str, Any] = field(default_factory=dict)
    failures_in_a_row: int = 0
    paused: str | None = None  # why scheduled cycles are held back (the API budget), or None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def recall(self, store: StateStore, name: str) -> None:
        """Start from the last cycle the store kept (a daemon restarted,
        an integration restarted by a reload): status shows it at once."""
        last = store.cycles(name, limit=1)
        if last:
            c = last[0]
            self.last_start, self.last_end = c.started_at.timestamp(), c.ended_at.timestamp()
            self.last_result, self.last_error, self.last_summary = c.outcome, c.error, dict(c.counts)
            self.last_origin = c.origin


@dataclass
class CycleRequest:
    """A cycle asked for by an operator (``syncd sync``); :attr:`done` is
    set when it has ended, or when the runner stopped before running it."""

    done: anyio.Event = field(default_factory=anyio.Event)
    ran: bool = False
    result: str | None = None  # the cycle's last_result once ran
    error: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


class _Wake:
    """A wait for a time or a :meth:`set`, whichever comes first: a future and a
    timer of the event loop. An anyio event under ``move_on_after`` cost a
    cancellation (an exception through the task) at each of the runner's
    timed wakes, every cycle: about 2 % of a daemon's CPU at rest."""

    __slots__ = ("_waiter", "_set")

    def __init__(self) -> None:
        self._waiter: asyncio.Future[None] | None = None
        self._set = False

    def set(self) -> None:
        self._set = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def wait(self, seconds: float) -> None:
        if self._set:
            return
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        timer = loop.call_later(seconds, _wake_up, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None


def _wake_up(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Runner:
    def __init__(self, cycles: Cycles, name: str, *, immediate: bool = False,
                 lock: anyio.Lock | None = None, on_cycle_end: CycleEnd | None = None,
                 budgets: Budgets | None = None, may_write: Callable[[], bool] | None = None) -> None:
        self.cycles = cycles
        # Several daemons: whether this one still holds the integration's
        # lease (its local deadline not passed); asked at every checkpoint.
        self.may_write = may_write
        self.on_cycle_end = on_cycle_end
        # Held for each cycle; shared with whatever else writes for this
        # integration in the daemon (a retry, a bulk batch), so they never overlap.
        self.lock = lock if lock is not None else anyio.Lock()
        self.name = name
        self.integration = cycles.config.integrations[name]
        self.store = cycles.store
        self.status = RunnerStatus()
        # Started by a reload: an interval schedule runs the new config now; a
        # cron schedule keeps its times (it may be there to spare the API).
        self._immediate = immediate and self.integration.schedule.cron is None
        self.budgets = budgets
        self.done = anyio.Event()
        self._stopping = False
        self._wake = _Wake()
        self._jitter = jitter_for(name)
        # Its starts wait for the daemon's tick, shared with the others due then (see _schedule).
        self._tick = tick_for(self.integration.schedule)
        self._request: CycleRequest | None = None
        # When this runner last started a cycle: the schedule counts from it.
        self._started: float | None = None
        try:
            self.status.recall(self.store, name)
            if not immediate:  # a daemon's start-up (a reload's or a lease's first cycle runs at once)
                self._started = self._resumed()
        except StateError as e:  # status is a courtesy; the cycle will meet the store's error itself
            log.error("could not read the last cycle", integration=name, error=str(e))

    def _resumed(self) -> float | None:
        """The recalled cycle's start, if the schedule goes on from it (see
        ``resume_from``): not when a crash left a write open (the cycle that
        resolves it runs soon), nor for a catch-up after the integration was
        disabled."""
        s = self.status
        start = resume_from(self.integration.schedule, last_start=s.last_start, last_outcome=s.last_result,
                            now=time.time())
        if start is None or self.store.open_intents(self.name) or self.store.disabled_since(self.name) is not None:
            return None
        log.info("schedule resumed from the last cycle", integration=self.name,
                 last_start=datetime.fromtimestamp(start, UTC).isoformat())
        return start

    def request_cycle(self) -> CycleRequest:
        """Run a cycle now, or right after the running one; requests made
        meanwhile share that one cycle."""
        if self._request is None:
            self._request = CycleRequest()
            self._wake.set()
        return self._request

    def stop(self) -> None:
        """End at the next checkpoint (or now, if waiting); :attr:`done` is set then."""
        self._stopping = True
        if self.status.state == "running":
            self.status.state = "stopping"
        self._wake.set()

    def recheck(self) -> None:
        """Wake a waiting runner to look at its schedule and budget again (a reload changed the tiers)."""
        self._wake.set()

    async def _sleep_until(self, at: float) -> None:
        """Until *at*, or until :meth:`stop` or :meth:`recheck`."""
        self._wake = _Wake()
        if self._stopping:
            return
        await self._wake.wait(max(0.0, at - time.time()))

    def _held_back(self) -> str | None:
        """Why a scheduled cycle may not run now (None: it may); says so in
        the log once when it starts and once when it ends."""
        reason = self.budgets.allows("scheduled", self.name) if self.budgets is not None else None
        if reason is not None and self.status.paused is None:
            log.warning("scheduled cycles paused", integration=self.name, reason=reason)
        elif reason is None and self.status.paused is not None:
            log.info("scheduled cycles resumed", integration=self.name)
        self.status.paused = reason
        return reason

    async def run(self) -> None:
        try:
            while not self._stopping:
                if self._request is None and self._held_back() is not None and self.budgets is not None:
                    # Until the window rolls over (or `syncd sync` asks): no polling meanwhile.
                    resume = self.budgets.resumes_at("scheduled", self.name) or time.time() + 60.0
                    self.status.next_run = resume
                    await self._sleep_until(resume)
                    continue
                due = time.time() if self._immediate else next_run(
                    self.integration.schedule, last_start=self._started, now=time.time(),
                    jitter=self._jitter)
                if self._started is not None or self.integration.schedule.cron is not None:
                    due = on_tick(due, self._tick)  # a start-up's first runs have their own spread
                self.status.next_run = due
                if self._request is None:
                    await self._sleep_until(due)
                if self._stopping:
                    break
                request, self._request = self._request, None
                if request is None and (time.time() < due or self._held_back() is not None):
                    continue  # woken to look again, or the budget ran out meanwhile
                self._immediate = False
                async with self.lock:
                    await self.run_cycle("manual" if request is not None else "scheduled")
                if request is not None:
                    self._answer(request)
        finally:
            self.status.state = "stopped"
            self.status.next_run = None
            if self._request is not None:
                self._request.done.set()  # not run: ran stays False
            self.done.set()

    def _answer(self, request: CycleRequest) -> None:
        s = self.status
        request.ran, request.result, request.error = True, s.last_result, s.last_error
        request.summary = dict(s.last_summary)
        request.seconds = round((s.last_end or 0.0) - (s.last_start or 0.0), 3)
        request.done.set()

    def _should_stop(self) -> bool:
        """Asked at each checkpoint of a scheduled cycle: stopping, or the budget's tier crossed."""
        return self._lost() or (self.budgets is not None
                                and self.budgets.allows("scheduled", self.name) is not None)

    def _lost(self) -> bool:
        """Asked at each checkpoint of any cycle: stopping, or the lease lost."""
        return self._stopping or (self.may_write is not None and not self.may_write())

    async def run_cycle(self, origin: Origin = "scheduled") -> None:
        """One cycle, whatever happens in it; the outcome goes to :attr:`status`."""
        status = self.status
        status.state, status.next_run = "running", None
        status.last_start = self._started = start = time.time()
        status.last_origin = origin
        status.cycles += 1
        cycle = f"{self.name}-{next(_cycle_ids)}"
        summary: CycleSummary | None = None
        with structlog.contextvars.bound_contextvars(integration=self.name, cycle=cycle):
            try:
                catching_up = self.store.disabled_since(self.name) is not None
                write = not (catching_up and self.integration.catch_up == "skip")
                log.info("cycle started", origin=origin,
                         catch_up=self.integration.catch_up if catching_up else None)
                # A cycle an operator asked for (`syncd sync`) spends the budget
                # as they decided; only scheduled ones yield to its tier.
                stop = self._should_stop if origin == "scheduled" else self._lost
                summary = await self.cycles.run(self.name, origin=origin, write=write, stop=stop)
                if catching_up and not (summary.aborted or summary.stopped):
                    with self.store.transaction(self.name) as t:
                        t.set_disabled(None)  # caught up: from now on, a normal cycle
            except LeaseLost as e:  # several daemons: another one runs it now; nothing of that commit stayed
                status.last_result, status.last_error = "stopped", PROCESS_MASKER.mask(str(e))
                log.warning("cycle stopped: the lease was lost", error=status.last_error,
                            seconds=round(time.time() - start, 3))
            except Exception as e:  # a bug, or the state store failing: this integration only
                status.last_result = "failed"
                status.last_error = PROCESS_MASKER.mask(f"{type(e).__name__}: {e}")
                status.failures_in_a_row += 1
                if isinstance(e, StateError):  # its message names the store and why: no traceback
                    log.error("cycle failed", error=status.last_error, seconds=round(time.time() - start, 3))
                else:
                    log.exception("cycle failed", seconds=round(time.time() - start, 3))
            else:
                status.last_summary = summary.counts()
                if summary.aborted:
                    status.last_result, status.last_error = "aborted", PROCESS_MASKER.mask(summary.aborted)
                    status.failures_in_a_row += 1
                    log.error("cycle aborted", reason=summary.aborted, seconds=round(time.time() - start, 3),
                              **status.last_summary)
                else:
                    # "errors": completed, but some records failed (kept, retried):
                    # not "ok", or a cycle whose every write failed would look fine.
                    status.last_result = summary.outcome
                    status.last_error, status.failures_in_a_row = None, 0
                    log.info("cycle stopped at a checkpoint" if summary.stopped else "cycle finished",
                             seconds=round(time.time() - start, 3), **status.last_summary)
            finally:
                status.last_end = time.time()
                if status.state == "running":
                    status.state = "waiting"
                if self.on_cycle_end is not None:
                    self.on_cycle_end(self.name, status, summary)
