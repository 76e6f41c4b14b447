"""One cycle of one integration: read, diff, map, plan, write, checkpoint.

:class:`Cycles` is the one way to start a cycle: ``await
Cycles(config, store, accounts).run(name, origin=...)``, or ``with
Cycles.open(config) as cycles`` for a command that has no store open;
:class:`CycleSummary` says what the cycle did. :class:`BulkSync` is a bulk
sync (every linked pair, every mapped field), built on the same cycles.
"""

from syncd.sync._bulk import BulkSync, bulk_progress
from syncd.sync._cycle import Cycle
from syncd.sync._factory import Cycles
from syncd.sync._plan import IntegrationPlan
from syncd.sync._summary import CycleStopped, CycleSummary, PlannedWrite

__all__ = ["BulkSync", "Cycle", "CycleStopped", "CycleSummary", "Cycles", "IntegrationPlan", "PlannedWrite",
           "bulk_progress"]
