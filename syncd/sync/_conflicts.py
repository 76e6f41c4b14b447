"""Conflicts: a mapped field changed on both sides since the last sync.

Only a ``direction: both`` mapping can conflict, and only when the two new
values really differ (both sides set the same value: no conflict, nothing
to write).  Who wins, in this order:

1. the mapping's ``prefer:``: ``left_unless_blank`` gives the left value
   unless it is blank, then the right one (``right_unless_blank`` the
   other way round);
2. a blank value never beats a filled one, unless the mapping says
   ``clear: true`` (rule ``blank_never_erases``);
3. the integration's ``conflict:``: ``left_wins``, ``right_wins``, or
   ``newest_wins`` (the default), which compares the records' ``updated_at``:
   the later one wins, a tie goes to the left, a side without a timestamp
   loses to one with, and with neither the left wins.

Every conflict is recorded, with both values, the winner and the rule that
chose it (see :class:`Conflict`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from syncd.config import SideName
from syncd.sync._transforms import is_blank

__all__ = ["Conflict", "resolve"]


@dataclass(frozen=True, slots=True)
class Conflict:
    """One settled conflict, as the state store's conflict log records it.

    ``left_value`` / ``right_value`` are the fields' values on each side
    (the value itself for a mapping of one field, a ``{field: value}`` dict
    for ``join_name`` / ``split_name`` mappings).
    """

    left_fields: tuple[str, ...]
    right_fields: tuple[str, ...]
    left_value: Any
    right_value: Any
    winner: SideName
    rule: str  # prefer left_unless_blank | right_unless_blank, blank_never_erases, conflict policy

    @property
    def left_field(self) -> str:
        """The left field names, as ``"first_name, last_name"``."""
        return ", ".join(self.left_fields)

    @property
    def right_field(self) -> str:
        return ", ".join(self.right_fields)

    @property
    def field(self) -> str:
        """The mapping as ``"first_name, last_name -> full_name"`` (``ConflictRow.field``)."""
        return f"{self.left_field} -> {self.right_field}"


def _blank(values: Sequence[Any]) -> bool:
    return all(is_blank(v) for v in values)


def resolve(
    *,
    policy: str,
    prefer: str | None,
    clear: bool,
    left: Sequence[Any],
    right: Sequence[Any],
    left_updated: datetime | None,
    right_updated: datetime | None,
) -> tuple[SideName, str]:
    """(winner, rule) for a mapping whose *left* and *right* values conflict."""
    left_blank, right_blank = _blank(left), _blank(right)
    if prefer == "left_unless_blank":
        return ("right" if left_blank else "left"), prefer
    if prefer == "right_unless_blank":
        return ("left" if right_blank else "right"), prefer
    if not clear and left_blank != right_blank:
        return ("right" if left_blank else "left"), "blank_never_erases"
    if policy == "left_wins":
        return "left", policy
    if policy == "right_wins":
        return "right", policy
    return _newest(left_updated, right_updated), "newest_wins"


def _newest(left: datetime | None, right: datetime | None) -> SideName:
    if left is None and right is not None:
        return "right"
    if left is not None and right is not None and right > left:
        return "right"
    return "left"
