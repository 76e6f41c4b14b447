"""What a cycle did, and the one way it stops early."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from syncd.state import Outcome, Side



class CycleStopped(Exception):
    """A stop was asked for (daemon stopping, integration disabled or
    changed): the cycle ends at the checkpoint it reached, a page read or a
    batch written and committed. The next cycle goes on from there."""


@dataclass
class PlannedWrite:
    side: Side
    action: Literal["create", "update", "delete"]
    record_id: str | None
    source_id: str
    fields: dict[str, Any]


@dataclass
class CycleSummary:
    integration: str
    read: dict[str, int] = field(default_factory=lambda: {"left": 0, "right": 0})
    created: dict[str, int] = field(default_factory=lambda: {"left": 0, "right": 0})
    updated: dict[str, int] = field(default_factory=lambda: {"left": 0, "right": 0})
    deleted: dict[str, int] = field(default_factory=lambda: {"left": 0, "right": 0})
    unchanged: int = 0
    skipped: int = 0  # directions a rule's `then: skip` held back (rules only)
    not_created: int = 0  # records `create:` does not let be created on the other side
    no_match_key: int = 0  # unlinked records without a match key: never created blind
    conflicts: int = 0
    errors: int = 0  # records that could not be read or written in this cycle; kept, retried later
    delayed: int = 0  # records changed less than `delay` ago, left for a later cycle
    retry_later: int = 0  # records that failed before, left until their retry is due (record_retries:)
    waiting_for_operator: int = 0  # records whose automatic retries are used up (syncd errors --retry)
    aborted: str | None = None
    stopped: bool = False  # ended early at a checkpoint, when asked to stop
    writes: list[PlannedWrite] = field(default_factory=list)  # filled on a dry run
    children: dict[str, dict[str, Any]] = field(default_factory=dict)  # child object -> its counts
    children_not_previewed: list[str] = field(default_factory=list)  # a dry run's child objects (not planned)

    def child_counts(self) -> dict[str, Any]:
        """What a child pass did (see :mod:`syncd.sync._children`)."""
        return {"read": self.read, "created": self.created, "updated": self.updated,
                "deleted": self.deleted, "unchanged": self.unchanged, "not_created": self.not_created,
                "conflicts": self.conflicts, "errors": self.errors, "waiting": self.delayed}

    def counts(self) -> dict[str, Any]:
        """What the cycle read and did, as plain values (JSON output, status)."""
        return {"read": self.read, "created": self.created, "updated": self.updated,
                "deleted": self.deleted, "unchanged": self.unchanged, "skipped": self.skipped,
                "not_created": self.not_created, "no_match_key": self.no_match_key,
                "conflicts": self.conflicts, "errors": self.errors, "delayed": self.delayed,
                "retry_later": self.retry_later, "waiting_for_operator": self.waiting_for_operator,
                # only with children: (the counts of an integration without stay as they were)
                **({"children": self.children} if self.children else {})}

    @property
    def outcome(self) -> Outcome:
        """How the cycle ended (``failed`` is for a cycle that raised, which has no summary)."""
        if self.aborted:
            return "aborted"
        if self.stopped:
            return "stopped"
        # Records held back for their retry are not synced either: as once's exit 3.
        return "errors" if self.errors or self.retry_later or self.waiting_for_operator else "ok"

    @property
    def write_count(self) -> int:
        return sum(self.created.values()) + sum(self.updated.values()) + sum(self.deleted.values())
