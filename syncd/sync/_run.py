"""Running one cycle: connectors opened for both sides, closed after."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack

from syncd.config import Config
from syncd.config import Side as SideConfig
from syncd.connector import AccountRegistry, Connector
from syncd.state import Origin, Side, StateStore
from syncd.sync._cycle import Cycle
from syncd.sync._plan import IntegrationPlan
from syncd.sync._summary import CycleSummary


async def run_cycle(
    config: Config, name: str, store: StateStore, accounts: AccountRegistry, *,
    origin: Origin = "scheduled", dry_run: bool = False, write: bool = True, full: bool = False,
    stop: Callable[[], bool] | None = None,
) -> CycleSummary:
    """One cycle of integration ``name``; connector errors end up in the summary.

    *write* False reads both sides and takes them as in step without writing
    (``reset --read-only``, ``catch_up: skip``). *stop* is asked after every
    commit (a page read, a batch written); when it answers True the cycle
    ends there with ``summary.stopped`` set.
    """
    integration = config.integrations[name]
    sides: dict[Side, tuple[str, str]] = {
        "left": (integration.left.connector, integration.left.object),
        "right": (integration.right.connector, integration.right.object),
    }
    objects = {side: config.connectors[c].objects[o] for side, (c, o) in sides.items()}
    plan = IntegrationPlan.compile(integration, objects["left"], objects["right"])
    match: dict[Side, str] = {"left": integration.match_left, "right": integration.match_right}
    async with AsyncExitStack() as stack:
        connectors: dict[Side, Connector] = {}
        pairs: tuple[tuple[Side, SideConfig], ...] = (("left", integration.left), ("right", integration.right))
        for side, s in pairs:
            # Only the compared fields are read: a bad value in a field the
            # integration does not use cannot make its record unreadable.
            fields = plan.compared_fields(side) | {match[side]}
            connectors[side] = await stack.enter_async_context(Connector(
                config.connectors[s.connector], s.object, s.settings, accounts=accounts, fields=fields))
        cycle = Cycle(integration, plan, store, connectors,
                      origin=origin, dry_run=dry_run, write=write, full=full, stop=stop)
        return await cycle.run()
