"""The one way to start a cycle: :class:`Cycles`, a config over a state store.

Everything that syncs (the daemon's schedule, ``syncd once``, ``reset``,
``demo``, a bulk sync, a retry of failed records, a webhook round) builds
its cycles here, so a cycle is always put together the
same way: the integration's compiled plan, one connector per side reading
only the fields the integration compares, the caller's state store and
account registry.

A :class:`Cycles` is cheap: the daemon keeps one store and one account
registry for its life and makes a new :class:`Cycles` for each config a
reload brings, so the plans cached here (per integration, compiled on first
use) can never outlive the config they were compiled from.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager

import structlog

from syncd.config import ChildSync, Config
from syncd.config import Side as SideConfig
from syncd.connector import PROCESS_MASKER, AccountRegistry, Connector
from syncd.state import CycleRow, LeaseLost, Origin, Side, StateError, StateStore, open_state
from syncd.sync._children import child_integration, child_key, child_keys, child_states
from syncd.sync._cycle import Cycle
from syncd.sync._plan import IntegrationPlan
from syncd.sync._summary import CycleStopped, CycleSummary

__all__ = ["Cycles"]

log = structlog.get_logger("syncd.sync")


class Cycles:
    """Cycles of *config*'s integrations over *store*.

    *accounts* is shared by every connector this makes, so integrations
    using the same app account share its rate limit and quota; by default
    a registry of its own. The store is the caller's to close, unless
    opened by :meth:`open`.
    """

    def __init__(self, config: Config, store: StateStore, accounts: AccountRegistry | None = None,
                 *, write_permit: Callable[[str], Callable[[], bool]] | None = None) -> None:
        self.config = config
        # Whether this process may still write for an integration (several
        # daemons: it holds the lease, its local deadline not passed): taken
        # when a cycle starts, for the lease held then, and asked before every
        # request that changes an app. None: always.
        self.write_permit = write_permit
        self.store = store
        # Rotated refresh tokens are kept with the state (see AccountRegistry.for_state).
        self.accounts = accounts if accounts is not None else AccountRegistry.for_state(config.daemon)
        # A registry made here is closed by close() (on PostgreSQL it holds a connection for the
        # shared rates); one given is its giver's to close.
        self._own_accounts = accounts is None
        self._plans: dict[str, IntegrationPlan] = {}

    def close(self) -> None:
        """Close the account registry this made, if it made one; closing twice is harmless."""
        if self._own_accounts:
            self.accounts.close()

    @classmethod
    @contextmanager
    def open(cls, config: Config, *, accounts: AccountRegistry | None = None) -> Iterator[Cycles]:
        """Cycles over the store ``config.daemon`` names (state.url or state.path), closed on exit
        (a command without a daemon); :class:`~syncd.state.StateError` if it
        cannot be opened."""
        with open_state(config.daemon.state_target()) as store:
            cycles = cls(config, store, accounts)
            try:
                yield cycles
            finally:
                cycles.close()

    async def run(
        self, name: str, *, origin: Origin, dry_run: bool = False, write: bool = True,
        full: bool = False, stop: Callable[[], bool] | None = None,
    ) -> CycleSummary:
        """One cycle of integration *name*; connector errors end up in the summary.

        *write* False reads both sides and takes them as in step without
        writing (``reset --read-only``, ``catch_up: skip``); *full* reads
        everything, not the changes since the cursor. *stop* is asked after
        every commit (a page read, a batch written); when it answers True
        the cycle ends there with ``summary.stopped`` set. How it ended is
        kept in the store (``store.cycles(name)``), a dry run's excepted.
        """
        started = self.store.now()
        try:
            async with self.cycle(name, origin=origin, dry_run=dry_run, write=write, full=full, stop=stop) as cycle:
                summary = await cycle.run()
        except Exception as e:
            if not dry_run:
                self._record(name, CycleRow(origin, started, self.store.now(), "failed", {},
                                            PROCESS_MASKER.mask(f"{type(e).__name__}: {e}")))
            raise
        if not dry_run:
            self._record(name, CycleRow(origin, started, self.store.now(), summary.outcome, summary.counts(),
                                        PROCESS_MASKER.mask(summary.aborted) if summary.aborted else None))
        return summary

    def forget(self, name: str) -> None:
        """Clear integration *name*'s state and its child objects' (``syncd reset``),
        those of child objects no longer in its config too."""
        stored = [key for key, _ in child_states(self.store, name)]
        for key in dict.fromkeys([name, *child_keys(self.config.integrations[name]), *stored]):
            with self.store.transaction(key) as t:
                t.reset()

    def _record(self, name: str, row: CycleRow) -> None:
        """Keep how the cycle ended (``syncd status``, with or without a
        daemon); a store that fails here has failed the cycle's own commits
        too, so its error is the one to see: this one is only logged."""
        try:
            with self.store.transaction(name) as t:
                t.add_cycle(row)
        except LeaseLost as e:  # several daemons: the cycle ended because the lease went; said there already
            log.info("the cycle's outcome is not recorded: the lease is gone", integration=name, reason=str(e))
        except StateError as e:  # (the store's message says it all: no traceback, as for `cycle failed`)
            log.error("could not record the cycle's outcome", integration=name, error=str(e))

    @asynccontextmanager
    async def cycle(
        self, name: str, *, origin: Origin, dry_run: bool = False, write: bool = True,
        full: bool = False, stop: Callable[[], bool] | None = None,
    ) -> AsyncIterator[Cycle]:
        """The cycle :meth:`run` would run, its connectors open until the
        block ends: for a caller that needs its context (``cycle.ctx``)
        rather than a whole run, such as writing one record."""
        integration = self.config.integrations[name]
        plan = self._plan(name)
        match: dict[Side, str] = {"left": integration.match_left, "right": integration.match_right}
        guard = self._write_guard(name)
        async with AsyncExitStack() as stack:
            connectors: dict[Side, Connector] = {}
            sides: tuple[tuple[Side, SideConfig], ...] = (("left", integration.left), ("right", integration.right))
            for side, s in sides:
                # Only the compared fields are read: a bad value in a field the
                # integration does not use cannot make its record unreadable.
                connectors[side] = await stack.enter_async_context(Connector(
                    self.config.connectors[s.connector], s.object, s.settings, accounts=self.accounts,
                    fields=plan.compared_fields(side) | {match[side]}, write_guard=guard))
            children = []
            for child in integration.children:
                child_plan = self._child_plan(name, child)
                child_connectors: dict[Side, Connector] = {}
                for side, s in sides:
                    child_connectors[side] = await stack.enter_async_context(Connector(
                        self.config.connectors[s.connector], child.left if side == "left" else child.right,
                        s.settings, accounts=self.accounts, fields=child_plan.compared_fields(side),
                        write_guard=guard))
                children.append((child, child_plan, child_connectors))
            yield Cycle(integration, plan, self.store, connectors,
                        origin=origin, dry_run=dry_run, write=write, full=full, stop=stop, children=children)

    def _write_guard(self, name: str) -> Callable[[str], None] | None:
        """What the connectors of *name*'s cycles ask before each write: a
        refusal ends the cycle as stopped (:class:`CycleStopped`) with that
        write unsent, as a stop at a checkpoint would, but before the write."""
        if self.write_permit is None:
            return None
        may_write = self.write_permit(name)  # for the lease held as the cycle starts, not a later one

        def guard(label: str) -> None:
            if not may_write():
                log.warning(f"lease of {name} lost: stopping before the write", integration=name,
                            operation=label)
                raise CycleStopped
        return guard

    def _child_plan(self, name: str, child: ChildSync) -> IntegrationPlan:
        key = child_key(name, child)
        plan = self._plans.get(key)
        if plan is None:
            integration = self.config.integrations[name]
            left, right = integration.left, integration.right
            plan = self._plans[key] = IntegrationPlan.compile(
                child_integration(integration, child),
                self.config.connectors[left.connector].objects[child.left],
                self.config.connectors[right.connector].objects[child.right])
        return plan

    def _plan(self, name: str) -> IntegrationPlan:
        # Config objects are immutable, so a plan compiled once serves every
        # cycle of this config; compiled on first use, so an integration
        # that never runs costs nothing and a compile error is its cycle's.
        plan = self._plans.get(name)
        if plan is None:
            integration = self.config.integrations[name]
            left, right = integration.left, integration.right
            plan = self._plans[name] = IntegrationPlan.compile(
                integration, self.config.connectors[left.connector].objects[left.object],
                self.config.connectors[right.connector].objects[right.object])
        return plan
