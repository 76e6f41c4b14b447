"""Running one cycle: connectors opened for both sides, closed after."""

from __future__ import annotations

from contextlib import AsyncExitStack

from syncd.config import Config
from syncd.connector import AccountRegistry, Connector
from syncd.state import Origin, StateStore
from syncd.sync._cycle import Cycle, CycleSummary
from syncd.sync._plan import IntegrationPlan


async def run_cycle(
    config: Config, name: str, store: StateStore, accounts: AccountRegistry, *,
    origin: Origin = "scheduled", dry_run: bool = False, write: bool = True, full: bool = False,
) -> CycleSummary:
    """One cycle of integration ``name``; connector errors end up in the summary."""
    integration = config.integrations[name]
    sides = {"left": integration.left, "right": integration.right}
    async with AsyncExitStack() as stack:
        connectors = {
            side: await stack.enter_async_context(Connector(
                config.connectors[s.connector], s.object, s.settings, accounts=accounts))
            for side, s in sides.items()
        }
        plan = IntegrationPlan.compile(
            integration, connectors["left"].object, connectors["right"].object)
        cycle = Cycle(integration, plan, store, connectors,  # type: ignore[arg-type]
                      origin=origin, dry_run=dry_run, write=write, full=full)
        return await cycle.run()
