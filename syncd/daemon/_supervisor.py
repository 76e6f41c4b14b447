"""The supervisor: one runner per enabled integration, and reloads.

A reload validates the whole new tree first (in a worker thread: a large
tree takes a while, and the event loop keeps the running cycles and the
watchdog going meanwhile). If anything is invalid nothing changes; the
errors are kept for ``syncd status`` and returned to ``syncd reload``.
If it is valid, only what changed is touched: an integration whose
*effective* config differs (its own file, or a connector spec it uses)
is stopped at a checkpoint and started again with the new config; added
ones start, removed and disabled ones stop; every other runner goes on
untouched, mid-cycle or not. Daemon settings that cannot change while
running (the state path, listen addresses) are reported as needing a
restart rather than silently ignored.

Several daemons (``state.url``, :mod:`syncd.daemon._cluster`): a runner
exists only for an integration whose lease this daemon holds. The cluster
task renews the leases every ``lease_seconds / 3``, starts a runner for
each lease it acquires (its first cycle at once: it goes on from the last
checkpoint another daemon committed; a create that daemon left open is
resolved by the intents' adoption), and stops the runner of each lease it
loses or gives up (at its checkpoint; a lease given up is released only
once its runner has stopped). Another task watches the local deadlines, so
a lease runs out here even while the database does not answer.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.abc
import structlog

from syncd.config import Config, ConfigError, ConnectorSpec, DaemonSettings, Integration, load_config
from syncd.connector import AccountRegistry
from syncd.daemon._budgets import AHEAD_REQUESTS, Budgets
from syncd.daemon._bulk import Bulks
from syncd.daemon._cluster import Cluster, Ownership, SoleOwner
from syncd.daemon._runner import CycleEnd, Runner
from syncd.daemon._status import config_errors_of, stored_status
from syncd.state import StateError, StateStore, shown_location
from syncd.sync import Cycles, child_keys

__all__ = ["ReloadResult", "Supervisor"]

log = structlog.get_logger("syncd.daemon")

# Settings the daemon applies live; any other difference needs a restart.
_LIVE_SETTINGS = frozenset({"log_level", "log_format", "budgets", "webhooks_max_body_bytes"})


@dataclass
class ReloadResult:
    trigger: str
    at: float
    ok: bool
    errors: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    restart_needed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


Effective = tuple[Integration, ConnectorSpec, ConnectorSpec]


def _effective(config: Config, name: str) -> Effective | None:
    """What an integration's behaviour depends on: its own config and its specs."""
    integration = config.integrations.get(name)
    if integration is None:
        return None
    return (integration, config.connectors[integration.left.connector],
            config.connectors[integration.right.connector])


def _restart_needed(running: DaemonSettings, new: DaemonSettings) -> list[str]:
    # Fields left out of comparison say where a setting is written, not what it is.
    return [f.name for f in fields(DaemonSettings)
            if f.compare and f.name not in _LIVE_SETTINGS and getattr(running, f.name) != getattr(new, f.name)]


class Supervisor:
    def __init__(self, config: Config, store: StateStore, *, environ: Mapping[str, str],
                 on_settings: Callable[[DaemonSettings], None] = lambda settings: None) -> None:
        self.config = config
        self.on_cycle_end: CycleEnd | None = None  # given to every runner (the daemon's metrics)
        self.running_settings = config.daemon  # what the daemon was started with
        self.store = store
        self.environ = environ
        # One store and one account registry for the daemon's life; the
        # cycles are remade for each config a reload brings.
        self.cycles = Cycles(config, store, AccountRegistry.for_state(config.daemon))
        # Each account's connections kept alive from cycle to cycle (closed by the daemon as it stops).
        self.cycles.accounts.keep_connections()
        # Who runs which integration: every one here on SQLite; on PostgreSQL
        # the ones whose lease this daemon holds, and every transaction for
        # an integration needs its fence (a daemon that lost it commits nothing).
        self.cluster: Cluster | None = None
        self.owner: Ownership
        settings = config.daemon
        if settings.state_url is not None:
            self.cluster = self.owner = Cluster(settings.state_url.reveal(), host=settings.cluster_name,
                                                lease_seconds=settings.cluster_lease_seconds,
                                                fence=store.fence, companions=self._child_keys)
            store.require_fences(self.cluster.daemon_id)
            self.cycles.write_permit = self.cluster.permit
        else:
            self.owner = SoleOwner(settings.cluster_name)
        self._cluster_wake = anyio.Event()
        self._cluster_done = anyio.Event()
        self._shedding: set[str] = set()
        # Every request of every account counts against its API budget.
        self.budgets = Budgets(config, store)
        self.budgets.ahead = AHEAD_REQUESTS  # stored a few requests ahead; exact again at a clean stop
        self.cycles.accounts.listen(self.budgets.count)
        self.runners: dict[str, Runner] = {}
        self.last_reload: ReloadResult | None = None
        self.restart_needed: list[str] = []
        self.started_at = time.time()
        self.last_good_load = self.started_at  # the start-up load, then each valid reload
        self._on_settings = on_settings
        self._lock = anyio.Lock()
        self.stopping = False
        self._tg: anyio.abc.TaskGroup | None = None
        self._locks: dict[str, anyio.Lock] = {}
        self.bulks = Bulks(store, self.lock_for)  # bulk syncs, beside the runners
        # A bulk runs only below its tier of the API budget (the lowest: it
        # is the least urgent), and waits between batches above it.
        self.bulks.held_back_by = lambda name: self.budgets.allows("bulk", name)

    def lock_for(self, name: str) -> anyio.Lock:
        """The lock that whatever writes for integration *name* holds (its
        runner's cycles, a retry, a bulk batch): kept across reloads, so a
        restarted runner and a retry still exclude each other."""
        lock = self._locks.get(name)
        if lock is None:
            lock = self._locks[name] = anyio.Lock()
        return lock

    # --- runners -------------------------------------------------------------

    def start_all(self, tg: anyio.abc.TaskGroup) -> None:
        """Start every enabled integration in *tg* (the daemon's start-up)."""
        self._tg = tg
        if self.cluster is not None:
            # Runners start as leases are acquired; the first renewal is now.
            tg.start_soon(self._cluster_loop, name="syncd cluster leases")
            tg.start_soon(self._deadline_watch, name="syncd lease deadlines")
            return
        for name, integration in sorted(self.config.integrations.items()):
            if integration.enabled:
                self._start(name, immediate=False)
            else:
                self._mark_disabled(name)

    def _start(self, name: str, *, immediate: bool) -> None:
        assert self._tg is not None
        if self.stopping or not self.owner.owns(name):
            return  # a reload that ends while the daemon stops starts nothing; nor one for a lease lost
        # For the lease held now: once lost, this runner never writes again, even if the lease comes back.
        may_write = self.cluster.permit(name) if self.cluster is not None else None
        runner = Runner(self.cycles, name, immediate=immediate, lock=self.lock_for(name),
                        on_cycle_end=self.on_cycle_end, budgets=self.budgets, may_write=may_write)
        self.runners[name] = runner
        self._tg.start_soon(runner.run, name=f"syncd integration {name}")

    async def _stop(self, name: str) -> None:
        runner = self.runners.pop(name, None)  # None: a lost lease stopped it meanwhile
        if runner is None:
            return
        runner.stop()
        await runner.done.wait()

    # --- leases (several daemons) ------------------------------------------------

    def _enabled(self) -> list[str]:
        return sorted(name for name, i in self.config.integrations.items() if i.enabled)

    async def _cluster_loop(self) -> None:
        cluster = self.cluster
        assert cluster is not None
        try:
            # Join first, acquire a moment later: daemons started together then
            # see each other at their first share, rather than the first one
            # taking everything and giving most of it up again.
            if await cluster.renew(self._enabled()) is not None and cluster.held() == {}:
                with anyio.move_on_after(min(cluster.interval, 1.0)):
                    await self._cluster_wake.wait()
            while not self.stopping:
                try:
                    await self._cluster_tick(cluster)
                except Exception:  # a bug here must not end the daemon; the deadlines still hold
                    log.exception("lease renewal failed unexpectedly")
                self._cluster_wake = anyio.Event()
                with anyio.move_on_after(cluster.interval):
                    await self._cluster_wake.wait()
        finally:
            self._cluster_done.set()

    async def _cluster_tick(self, cluster: Cluster) -> None:
        enabled = self._enabled()
        step = await cluster.renew(enabled)
        if step is None or self.stopping:
            return  # the database failed (logged once); the deadlines decide meanwhile
        for name in step.lost:
            self._lose(name, "another daemon holds it now, or it ran out before it was renewed")
        held = cluster.held()
        wanted = set(enabled)
        # Held but no longer enabled (a reload removed or disabled it, and stopped its runner).
        stale = [n for n in held if n not in wanted and n not in self.runners]
        if stale:
            await self._release(stale)
        if step.excess > len(self._shedding):
            self._shed(step.excess - len(self._shedding))
        holding = sum(1 for n in cluster.held() if n in wanted)
        for lease in await cluster.acquire(enabled, step.target - holding):
            self._acquired(lease.integration, lease.token)

    def _child_keys(self, name: str) -> list[str]:
        """The state keys of *name*'s child objects (fenced by leases of their own)."""
        integration = self.config.integrations.get(name)
        return child_keys(integration) if integration is not None else []

    def _acquired(self, name: str, token: int) -> None:
        log.info("lease acquired: running the integration here", integration=name, token=token)
        integration = self.config.integrations.get(name)
        if self.stopping or integration is None or not integration.enabled or name in self.runners:
            return
        try:  # a bulk its previous owner was running ended with that daemon's lease
            self.bulks.mark_interrupted([name])
        except StateError as e:
            log.error("could not mark an interrupted bulk sync", integration=name, error=str(e))
        self._start(name, immediate=True)  # failover: at once, from the last checkpoint

    def _lose(self, name: str, why: str) -> None:
        """The lease is gone (its fence cleared, may_write False): the runner stops at its checkpoint."""
        log.warning(f"lease of {name} lost: its runner stops at its checkpoint", integration=name, reason=why)
        self.bulks.stop(name, "stopped: this daemon lost the integration's lease")
        runner = self.runners.pop(name, None)
        if runner is not None:
            runner.stop()

    def _shed(self, count: int) -> None:
        """Give up *count* leases beyond this daemon's share: waiting runners first
        (nothing to interrupt), each released once its runner has stopped."""
        assert self.cluster is not None and self._tg is not None
        held = [n for n in sorted(self.cluster.held()) if n not in self._shedding]
        order = sorted(held, key=lambda n: (n in self.runners and self.runners[n].status.state != "waiting", n))
        for name in order[:count]:
            self._shedding.add(name)
            self._tg.start_soon(self._give_up, name, name=f"syncd release {name}")

    async def _give_up(self, name: str) -> None:
        try:
            log.info("giving the integration up to another daemon (more than this daemon's share)",
                     integration=name)
            self.bulks.stop(name, "stopped: the integration moves to another daemon")
            await self._stop(name)
            await self._release([name])
        finally:
            self._shedding.discard(name)

    async def _release(self, names: list[str]) -> None:
        assert self.cluster is not None
        await self.cluster.release(names)

    async def _deadline_watch(self) -> None:
        """Leases whose local deadline passed are lost here, answer or not from the database."""
        assert self.cluster is not None
        while not self.stopping:
            for name in self.cluster.expired():
                self._lose(name, "not renewed before its local deadline: the database did not answer in "
                                 "time, or this daemon was too busy to renew (short leases need a responsive daemon)")
            await anyio.sleep(min(0.25, self.cluster.margin / 2))

    async def leave(self) -> None:
        """After the runners stopped (a clean stop): release every lease and leave,
        so the others take the integrations at their next renewal, not after a lease."""
        if self.cluster is None:
            return
        self._cluster_wake.set()
        with anyio.move_on_after(self.cluster.lease_seconds):
            await self._cluster_done.wait()  # no acquire after the leave
        await self.cluster.leave()

    def _mark_disabled(self, name: str) -> None:
        """Remember that a synced integration is disabled: when it is
        enabled again, its first cycle is a catch-up (``catch_up:``)."""
        try:
            if self.store.disabled_since(name) is not None:
                return
            synced = any(self.store.side_state(name, side).cursor is not None for side in ("left", "right"))
            if synced:  # never synced: its first cycle is an initial sync, not a catch-up
                with self.store.transaction(name) as t:
                    t.set_disabled(datetime.now(UTC))
        except Exception:  # the state store failing must not stop the reload
            log.exception("could not record that the integration is disabled", integration=name)

    def stop_all(self) -> None:
        self.stopping = True
        self._cluster_wake.set()
        for runner in self.runners.values():
            runner.stop()

    async def wait_all_stopped(self) -> None:
        for runner in list(self.runners.values()):
            await runner.done.wait()

    # --- reload --------------------------------------------------------------

    async def reload(self, trigger: str) -> ReloadResult:
        """Load the tree again and apply what changed (see the module docstring)."""
        async with self._lock:
            start = time.monotonic()
            result = ReloadResult(trigger=trigger, at=time.time(), ok=False)
            log.info("reload started", trigger=trigger)
            try:
                new = await anyio.to_thread.run_sync(self._load)
            except ConfigError as e:
                result.errors = [str(p) for p in e.problems]
            except (FileNotFoundError, NotADirectoryError, OSError) as e:
                result.errors = [str(e)]
            except Exception as e:  # a bug in loading: the running config is still sound
                log.exception("reload failed unexpectedly", trigger=trigger)
                result.errors = [f"internal error while loading the config: {type(e).__name__}: {e}"]
            else:
                result.ok = True
                self.last_good_load = result.at
                await self._apply(new, result)
            result.seconds = round(time.monotonic() - start, 3)
            self.last_reload = result
            if result.ok:
                log.info("reload applied", trigger=trigger, started=result.started,
                         restarted=result.restarted, stopped=result.stopped,
                         restart_needed=result.restart_needed, seconds=result.seconds)
            else:
                log.error("reload failed: the previous config keeps running", trigger=trigger,
                          errors=result.errors)
            return result

    def _load(self) -> Config:
        # Under the name it was first loaded by (`-c config`, not the
        # absolute path): the same files, named the same in messages and in
        # each integration's `source`, so an unchanged one compares equal.
        # A name defined twice stays with the file that runs it now: the file
        # just saved is the one reported.
        return load_config(self.config.shown_directory or self.config.directory, environ=self.environ,
                           running=self.config)

    async def _apply(self, new: Config, result: ReloadResult) -> None:
        old = self.config
        self.restart_needed = result.restart_needed = _restart_needed(self.running_settings, new.daemon)
        if new.daemon.log_level != old.daemon.log_level or new.daemon.log_format != old.daemon.log_format:
            self._on_settings(new.daemon)
        self.config = new
        self.cycles = Cycles(new, self.store, self.cycles.accounts, write_permit=self.cycles.write_permit)
        # An account the new config no longer uses keeps no connection open (the others reconnect once).
        self.cycles.accounts.close_idle_connections()
        self.budgets.reconfigure(new)
        changes: list[tuple[str, bool, bool]] = []  # name, stop the runner, start one
        for name in sorted(set(old.integrations) | set(new.integrations)):
            running = name in self.runners
            wanted = name in new.integrations and new.integrations[name].enabled
            same = _effective(old, name) == _effective(new, name)
            if running and not wanted:
                changes.append((name, True, False))
                result.stopped.append(name)
            elif wanted and not running and self.owner.owns(name):
                changes.append((name, False, True))
                result.started.append(name)
            elif running and not same:
                changes.append((name, True, True))
                result.restarted.append(name)
        # Every change at once: a runner that takes a while to reach its
        # checkpoint does not hold back the others.
        async with anyio.create_task_group() as tg:
            for name, stop, start in changes:
                tg.start_soon(self._change, new, name, stop, start)
        if new.daemon.budgets != old.daemon.budgets:
            for runner in self.runners.values():
                runner.recheck()  # a paused one may run now, or a waiting one be held back
        self._cluster_wake.set()  # several daemons: the new count of integrations, shared out now

    async def _change(self, new: Config, name: str, stop: bool, start: bool) -> None:
        if stop:
            # A bulk runs under the old config: it ends too (not resumed), saying why.
            if start:
                why = "the integration's config changed (reload): start a new bulk sync for the new config"
            elif name in new.integrations:
                why = "the integration was disabled (reload)"
            else:
                why = "the integration was removed from the config (reload)"
            bulk_ended = self.bulks.stop(name, f"stopped: {why}")
            await self._stop(name)
            if bulk_ended is not None:
                await bulk_ended.wait()
        if start:
            self._start(name, immediate=True)
        else:
            if name in new.integrations:  # still configured, disabled (its lease still held here)
                self._mark_disabled(name)
            self._cluster_wake.set()  # several daemons: its lease is released now, not at the next renewal

    # --- status --------------------------------------------------------------

    def summary_line(self) -> str:
        """One line for systemd's STATUS=."""
        running = len(self.runners)
        failing = sum(1 for r in self.runners.values() if r.status.failures_in_a_row)
        disabled = sum(1 for i in self.config.integrations.values() if not i.enabled)
        line = f"{running} integration{'s' * (running != 1)} running, {failing} failing, {disabled} disabled"
        if self.cluster is not None:
            daemons = len(self.cluster.members())
            line += f" (this daemon's share; {daemons} daemon{'s' * (daemons != 1)} in the cluster)"
        if self.last_reload is not None and not self.last_reload.ok:
            first = self.last_reload.errors[0] if self.last_reload.errors else "?"
            more = len(self.last_reload.errors) - 1
            line += f"; last reload FAILED ({first}{f' and {more} more' if more > 0 else ''}), previous config running"
        if self.restart_needed:
            line += f"; restart needed for {', '.join(self.restart_needed)}"
        return line

    def status(self) -> dict[str, Any]:
        failed = self.last_reload is not None and not self.last_reload.ok
        errors = self.last_reload.errors if self.last_reload is not None and failed else []
        integrations = []
        for name, integration in sorted(self.config.integrations.items()):
            runner = self.runners.get(name)
            entry = stored_status(integration, self.store)  # what the store kept: a disabled one's last cycle
            if runner is not None:
                entry.update(runner.status.as_dict())
                entry["paused"] = self.budgets.allows("scheduled", name)  # now, not at the runner's last look
            else:
                entry["paused"] = None
            entry["budget"] = self.budgets.accounts(name)
            # Its file failed the last reload: what runs is the config from before.
            entry["config_errors"] = config_errors_of(integration.source, errors)
            entry["bulk"] = self.bulks.status(name)  # read again: a running bulk's latest checkpoint
            entry["owner"] = self.owner_entry(name)
            integrations.append(entry)
        return {
            "pid": os.getpid(), "started_at": self.started_at, "config_dir": str(self.config.directory),
            "state_path": shown_location(self.running_settings.state_target()),
            "summary": self.summary_line(),
            "config": {"valid": not failed, "errors": errors},
            "last_reload": self.last_reload.as_dict() if self.last_reload else None,
            "restart_needed": self.restart_needed,
            "daemon": {"id": self.owner.daemon_id, "host": self.owner.host, "pid": os.getpid()},
            "cluster": None if self.cluster is None else {
                "lease_seconds": self.cluster.lease_seconds, "members": self.cluster.members()},
            "integrations": integrations,
        }

    def owner_entry(self, name: str) -> dict[str, Any] | None:
        """``{"host", "pid", "lease_expires"}`` of the daemon running *name*, None when nobody holds it."""
        owner = self.owner.owner_of(name)
        return None if owner is None else {k: owner[k] for k in ("host", "pid", "lease_expires")}
