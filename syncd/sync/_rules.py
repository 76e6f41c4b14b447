"""Rules: ``if:`` conditions on the record being synced, and their actions.

A rule is checked for one direction of a record pair at a time, against
the *source* record of that direction (the record whose values are being
written to the other side).  Its condition is JMESPath over::

    <field>          each compared field of the source side, by its name in
                     the source's connector spec (in the stored form: a
                     datetime is ISO 8601 text, tags a sorted list; a
                     field the source side lacks is null)
    other            the linked record on the other side, the same way,
                     or null when there is none (a record about to be created)
    exists_in_other  true when there is a linked record on the other side

so the conditions PieSync users rely on read naturally::

    contains(tags, 'vip')           has a tag
    score > `50`                    score above a number
    stage == 'customer'             a stage equals
    exists_in_other                 already exists in the other app
    !exists_in_other && stage == 'lead'

A rule with ``from: left`` (or ``right``) is checked only for the direction
away from that side; without ``from`` it is checked for both.  A result is
true as JMESPath means it: anything but null, false, "", [] and {} (so 0 is
true).  A condition that cannot be evaluated for a record (``contains()``
on a null field) does not hold.

Rules run in order.  ``then: skip`` stops the direction: nothing is
written or created that way, and later rules are not checked.  The actions
change the *destination* record, in the same write as the mapped fields:
``add_tag`` / ``remove_tag`` edit its field of ``type: tags`` (starting
from the tags being written by a mapping, else from its current tags),
``set`` writes fixed values (normalised by the field's type).  An action on
a field the destination does not have is left out: a rule without
``from`` may tag on the one side that has tags.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jmespath
from jmespath import exceptions as jmespath_errors

from syncd.config import Action, ObjectSpec, Rule, SideName
from syncd.connector import normaliser_for
from syncd.sync._transforms import same_value

__all__ = ["Outcome", "RuleBook", "apply_actions", "holds", "other_reads"]

SPECIAL_VARIABLES = frozenset({"other", "exists_in_other"})


def holds(rule: Rule, data: Mapping[str, Any]) -> bool:
    """Whether *rule*'s condition is true (JMESPath truthiness) for *data*."""
    try:
        result = rule.condition.search(data)
    except (jmespath_errors.JMESPathError, TypeError, ValueError):
        return False
    return not (result is None or result is False or result == "" or result == []
                or result == {})


def _heads(node: Mapping[str, Any]) -> set[str]:
    kind = node.get("type")
    if kind == "field":
        return {node["value"]}
    children = node.get("children") or []
    if kind in ("subexpression", "index_expression", "projection", "value_projection",
                "flatten", "filter_projection") and children:
        return _heads(children[0])
    return set()


def _other_names(node: Any) -> set[str]:
    if not isinstance(node, dict):
        return set()
    children = node.get("children") or []
    names: set[str] = set()
    if node.get("type") == "subexpression" and len(children) >= 2 \
            and children[0] == {"type": "field", "children": [], "value": "other"}:
        names |= _heads(children[1])
    for child in children:
        names |= _other_names(child)
    return names


def other_reads(rule: Rule) -> frozenset[str]:
    """The fields a condition reads from ``other`` (``other.stage`` → stage)."""
    if "other" not in rule.condition.variables:
        return frozenset()
    return frozenset(_other_names(jmespath.compile(rule.condition.source).parsed))


@dataclass(slots=True)
class Outcome:
    """What the rules say about one direction of one record pair."""

    fired: list[int] = field(default_factory=list)  # indexes into rules:, in order
    skipped_by: int | None = None  # the rule whose then: skip held
    actions: list[Action] = field(default_factory=list)


class RuleBook:
    """An integration's rules, compiled for the two sides' objects."""

    def __init__(self, rules: Sequence[Rule], objects: Mapping[SideName, ObjectSpec]) -> None:
        self.rules = tuple(rules)
        self.objects = objects
        self._other_reads = tuple(other_reads(r) for r in self.rules)
        self._checked_from = {side: any(self.applies(r, side) for r in self.rules) for side in ("left", "right")}

    def applies(self, rule: Rule, source: SideName) -> bool:
        return rule.side is None or rule.side == source

    def checked_from(self, source: SideName) -> bool:
        """Whether any rule is checked for the direction away from *source*."""
        return self._checked_from[source]

    def reads(self, side: SideName) -> frozenset[str]:
        """Fields of *side* some condition reads, as a source or as ``other``."""
        fields = self.objects[side].fields
        names: set[str] = set()
        for rule, via_other in zip(self.rules, self._other_reads):
            if self.applies(rule, side):
                names |= rule.condition.variables - SPECIAL_VARIABLES
            if rule.side != side:  # checked with this side as the other one
                names |= via_other
        return frozenset(n for n in names if n in fields)

    def writes(self, side: SideName, tags_field: str | None) -> frozenset[str]:
        """Fields of *side* an action may change (its tags field, set: fields)."""
        source: SideName = "right" if side == "left" else "left"
        fields = self.objects[side].fields
        names: set[str] = set()
        for rule in self.rules:
            if rule.then == "skip" or not self.applies(rule, source):
                continue
            names |= action_fields(rule.then, tags_field)
        return frozenset(n for n in names if n in fields)

    def condition_data(self, source: SideName, seen: Mapping[str, Any], fields: Iterable[str],
                       other: Mapping[str, Any] | None) -> dict[str, Any]:
        data: dict[str, Any] = {f: seen.get(f) for f in fields}
        for rule in self.rules:
            if self.applies(rule, source):
                for name in rule.condition.variables - SPECIAL_VARIABLES:
                    data.setdefault(name, None)
        data["other"] = None if other is None else dict(other)
        data["exists_in_other"] = other is not None
        return data

    def evaluate(self, source: SideName, data: Mapping[str, Any]) -> Outcome:
        out = Outcome()
        for i, rule in enumerate(self.rules):
            if not self.applies(rule, source) or not holds(rule, data):
                continue
            out.fired.append(i)
            if rule.then == "skip":
                out.skipped_by = i
                out.actions = []
                break
            out.actions.extend(rule.then)
        return out


def action_fields(actions: Iterable[Action], tags_field: str | None) -> set[str]:
    names: set[str] = set()
    for action in actions:
        if action.kind in ("add_tag", "remove_tag") and tags_field is not None:
            names.add(tags_field)
        elif action.kind == "set":
            names |= set(action.value)
    return names


def apply_actions(actions: Iterable[Action], writes: dict[str, Any], seen: Mapping[str, Any],
                  obj: ObjectSpec, tags_field: str | None) -> list[str]:
    """Apply tag and set actions to the *writes* for a destination record.

    *seen* is the destination as last read (empty for a record being
    created).  A value equal to what the destination already holds is not
    written.  Returns problems (a set: value its field's type refuses).
    """
    problems: list[str] = []
    tags: list[str] | None = None
    for action in actions:
        if action.kind in ("add_tag", "remove_tag"):
            if tags_field is None:
                continue
            if tags is None:
                start = writes.get(tags_field, seen.get(tags_field))
                tags = list(start) if isinstance(start, list) else []
            tag = str(action.value)
            if action.kind == "add_tag" and tag not in tags:
                tags.append(tag)
            elif action.kind == "remove_tag" and tag in tags:
                tags.remove(tag)
            writes[tags_field] = sorted(tags)  # the stored form of tags
        elif action.kind == "set":
            for name, value in action.value.items():
                spec = obj.fields.get(name)
                if spec is None:
                    continue
                normalise = normaliser_for(spec)
                try:
                    writes[name] = normalise(value) if normalise is not None else value
                except ValueError as e:
                    problems.append(f"set: {name}: {e}")
    for name in list(writes):
        spec = obj.fields.get(name)
        if name in seen and same_value(writes[name], seen[name], spec.type if spec else None):
            del writes[name]
    return problems
