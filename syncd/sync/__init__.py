"""One cycle of one integration: read, diff, map, plan, write, checkpoint.

``run_cycle`` is the entry point; :class:`CycleSummary` says what it did.
"""

from syncd.sync._cycle import Cycle
from syncd.sync._summary import CycleAborted, CycleStopped, CycleSummary, PlannedWrite
from syncd.sync._plan import IntegrationPlan
from syncd.sync._run import run_cycle

__all__ = ["Cycle", "CycleAborted", "CycleStopped", "CycleSummary", "IntegrationPlan", "PlannedWrite", "run_cycle"]
