"""Planning: what to write to each side of one linked record pair.

Pure functions of the config and the two records as the cycle knows them
(:class:`SideView`: the compared fields as last read, ``seen``, and as of
the last sync, ``synced``).  No I/O; the cycle performs the writes.

How a pair is planned:

- A side *changed* a field when its ``seen`` value differs from its
  ``synced`` one.  A record never synced (``synced`` is None) changed every
  field it has a value for (so linking a record with a blank phone to one
  with a phone fills it in, and is no conflict).  A field missing from
  ``synced`` (a mapping added since) did not change: the back-fill below
  takes care of it.
- Each mapping is converted (:mod:`syncd.sync._transforms`) and compared
  with the target's ``seen`` values; only values that differ are written,
  so a cycle after a cycle with no outside change writes nothing.
- A one-way mapping (``left_to_right`` / ``right_to_left``) makes its target
  follow its source: whenever the converted source value differs from the
  target's, it is written, whichever side changed.  An edit made on the
  target side is therefore overwritten at once, not one cycle later by the
  back-fill (use a rule on ``other`` to protect a value, e.g. skip when
  ``other.status == 'unsubscribed'``).
- A ``both`` mapping whose two sides already agree (converting either one
  gives the other: ``lower``, ``date`` and name splitting lose detail one
  way) writes nothing.  Otherwise the side that changed wins; if both
  changed, it is a conflict (:mod:`syncd.sync._conflicts`); if neither did
  (a mapping just added, its fields missing from ``synced``: back-fill),
  the left value is written to the right, unless the left value is blank
  or ``prefer: right_unless_blank`` says otherwise, then the right value
  goes left.  A difference neither side changed and both were synced with
  (a read-only reset takes the apps as they are) is left alone.
- A blank value never erases a filled one unless the mapping says
  ``clear: true``; when the winning side's value is blank, the other
  side's filled value is written back to it instead, so the two sides
  agree again (outside a conflict: a conflict's recorded winner stands).
- Rules (:mod:`syncd.sync._rules`) are checked for a direction when it
  writes or creates something, or when its source record changed (so a
  condition that became true tags the record even if no mapped field
  changed).  A skip empties that direction; actions join its write.
- With one side missing, the other side's record is created there if
  ``create:`` allows that direction and no rule skips it: every mapped
  field that is not blank, the match field, and the rules' actions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from types import MappingProxyType
from typing import Any

from syncd.config import FieldMapping, Integration, ObjectSpec, SideName
from syncd.connector import normaliser_for
from syncd.sync._conflicts import Conflict, resolve
from syncd.sync._rules import RuleBook, action_fields, apply_actions
from syncd.sync._transforms import Flow, TransformError, is_blank, joined, same_value

__all__ = ["IntegrationPlan", "PairPlan", "SideView", "Skip", "SkipKind"]

_OTHER: dict[SideName, SideName] = {"left": "right", "right": "left"}
_NO_RECORD: Mapping[str, Any] = MappingProxyType({})  # the target of a create: none yet
_SOURCES: dict[str, tuple[SideName, ...]] = {
    "both": ("left", "right"), "left_to_right": ("left",), "right_to_left": ("right",)}
_CREATES = {"both": ("left", "right"), "left_to_right": ("right",),
            "right_to_left": ("left",), "none": ()}


@dataclass(frozen=True, slots=True)
class SideView:
    """One record of one side as the cycle knows it."""

    id: str
    seen: Mapping[str, Any]  # compared fields as last read, normalised
    synced: Mapping[str, Any] | None  # the same as of the last sync; None: never synced
    updated_at: datetime | None = None
    deleted: bool = False


class SkipKind(Enum):
    """Why a direction was not written.  The summary counts each kind apart:
    a user who declared no rule must never read "skipped by rules"."""

    RULE = "rule"  # a rule's `then: skip` held
    CREATE_POLICY = "create_policy"  # `create:` does not allow creating on that side
    DELETION = "deletion"  # a deleted record: `deletions:` decides, or nothing is carried over


@dataclass(frozen=True, slots=True)
class Skip:
    kind: SkipKind
    reason: str  # for people: which rule, which policy


@dataclass(slots=True)
class PairPlan:
    """What to do to one record pair.  ``{}`` writes nothing to that side."""

    left: dict[str, Any] = field(default_factory=dict)
    right: dict[str, Any] = field(default_factory=dict)
    create: SideName | None = None  # create the missing record there, with its fields above
    delete: SideName | None = None  # delete the record on that side (deletions: then: delete)
    skipped: list[Skip] = field(default_factory=list)  # why a direction was not written
    conflicts: list[Conflict] = field(default_factory=list)
    rules_fired: list[int] = field(default_factory=list)  # indexes into rules:
    problems: list[str] = field(default_factory=list)  # values that could not be converted

    def writes(self, side: SideName) -> dict[str, Any]:
        return self.left if side == "left" else self.right

    def skipped_by(self, kind: SkipKind) -> list[str]:
        """The reasons of the skips of one kind."""
        return [s.reason for s in self.skipped if s.kind is kind]

    @property
    def empty(self) -> bool:
        """Nothing to write, create or delete."""
        return not (self.left or self.right or self.create or self.delete)


def _tags_field(obj: ObjectSpec) -> str | None:
    return next((f.name for f in obj.fields.values() if f.type == "tags"), None)


class IntegrationPlan:
    """An integration compiled for planning record pairs; build with :meth:`compile`."""

    def __init__(self, integration: Integration, objects: Mapping[SideName, ObjectSpec]) -> None:
        self.integration = integration
        self.objects = objects
        self.mappings: tuple[FieldMapping, ...] = integration.fields
        self.flows: dict[tuple[int, SideName], Flow] = {
            (i, source): Flow.compile(i, m, source, objects[source], objects[_OTHER[source]])
            for i, m in enumerate(self.mappings) for source in _SOURCES[m.direction]
        }
        # Each side's flows, in order: a create converts every flow from its source.
        self._flows_from: dict[SideName, tuple[Flow, ...]] = {
            side: tuple(flow for (_, source), flow in self.flows.items() if source == side)
            for side in ("left", "right")}
        self.rules = RuleBook(integration.rules, objects)
        self.tags = {side: _tags_field(objects[side]) for side in ("left", "right")}
        self.match = {"left": integration.match_left, "right": integration.match_right}
        self.types = {side: {n: f.type for n, f in objects[side].fields.items()}
                      for side in ("left", "right")}
        self._compared = {side: self._compare(side) for side in ("left", "right")}
        # A create's steps from each side, compiled once (see _create_steps).
        self._creates = {side: _create_steps(self._flows_from[side]) for side in ("left", "right")}
        self._match_normalise = {side: _normaliser_of(objects[side], self.match[side])
                                 for side in ("left", "right")}

    @classmethod
    def compile(cls, integration: Integration, left_object: ObjectSpec,
                right_object: ObjectSpec) -> IntegrationPlan:
        return cls(integration, {"left": left_object, "right": right_object})

    # --- what the cycle must snapshot -----------------------------------------

    def _compare(self, side: SideName) -> frozenset[str]:
        names = {n for m in self.mappings for n in getattr(m, side)}
        names.add(self.match[side])
        names |= self.rules.reads(side)
        names |= self.rules.writes(side, self.tags[side])
        deletions = self.integration.deletions
        if deletions is not None and deletions.side in (_OTHER[side], "both"):
            names |= action_fields(deletions.then, self.tags[side])
        return frozenset(n for n in names if n in self.objects[side].fields)

    def compared_fields(self, side: SideName) -> frozenset[str]:
        """Fields of *side* to snapshot: mapped, matched, read by a rule, written by an action."""
        return self._compared[side]

    def changed(self, side: SideName, view: SideView) -> frozenset[str]:
        """The compared fields *view* changed since it was last synced."""
        if view.synced is None:  # new: every field it has a value for
            return frozenset(f for f in self._compared[side] if not is_blank(view.seen.get(f)))
        types = self.types[side]
        return frozenset(
            f for f in self._compared[side]
            if f in view.synced and not same_value(view.seen.get(f), view.synced[f], types.get(f)))

    # --- planning a pair ------------------------------------------------------

    def plan(self, left: SideView | None, right: SideView | None) -> PairPlan:
        """The writes that bring *left* and *right* in step (see the module docstring)."""
        if right is None:  # a record to create on the right, if anything
            return self._create("left", left) if left is not None else PairPlan()
        if left is None:
            return self._create("right", right)
        views: dict[SideName, SideView] = {"left": left, "right": right}
        for side, view in views.items():
            if view.deleted:
                return PairPlan(skipped=[Skip(SkipKind.DELETION, f"the {side} record is deleted (see deletions:)")])
        out = PairPlan()
        changed = {side: self.changed(side, view) for side, view in views.items()}
        for i in range(len(self.mappings)):
            self._mapping(i, views, changed, out)
        for source in ("left", "right"):
            target = _OTHER[source]
            if out.writes(target) or changed[source]:
                self._rules(source, views[source], views[target], out)
        return out

    def _diff(self, flow: Flow, source: SideView, target: SideView,
              out: PairPlan) -> dict[str, Any] | None:
        """Converted values that differ from the target's; None: nothing to write."""
        try:
            values = flow.convert(source.seen, target.seen)
        except TransformError as e:
            out.problems.append(str(e))
            return None
        if values is None:
            return None
        types = self.types[_OTHER[flow.source]]
        return {name: value for name, value in values.items()
                if not same_value(value, target.seen.get(name), types.get(name))}

    @staticmethod
    def _protect(flow: Flow, diff: dict[str, Any] | None) -> dict[str, Any]:
        """*diff* without the blanks that would erase a value (unless ``clear: true``)."""
        if not diff:
            return {}
        return {n: v for n, v in diff.items() if flow.clear or not is_blank(v)}

    def _mapping(self, i: int, views: Mapping[SideName, SideView],
                 changed: Mapping[SideName, frozenset[str]], out: PairPlan) -> None:
        m = self.mappings[i]
        if m.direction != "both":
            source: SideName = _SOURCES[m.direction][0]
            flow = self.flows[(i, source)]
            diff = self._diff(flow, views[source], views[_OTHER[source]], out)
            out.writes(_OTHER[source]).update(self._protect(flow, diff))
            return
        left, right = views["left"], views["right"]
        flows = {side: self.flows[(i, side)] for side in ("left", "right")}
        scratch = PairPlan()  # conversion problems are reported once, below
        to_right = self._diff(flows["left"], left, right, scratch)
        to_left = self._diff(flows["right"], right, left, scratch)
        if to_right == {} or to_left == {}:
            return  # the two sides agree
        if to_right is None and to_left is None:
            out.problems += scratch.problems
            return  # neither value converts (values: names neither): nothing to settle
        left_values = [left.seen.get(f) for f in m.left]
        right_values = [right.seen.get(f) for f in m.right]
        left_changed = any(f in changed["left"] for f in m.left)
        right_changed = any(f in changed["right"] for f in m.right)
        conflict = left_changed and right_changed
        if conflict:
            winner, rule = resolve(
                policy=self.integration.conflict, prefer=m.prefer, clear=m.clear,
                left=left_values, right=right_values,
                left_updated=left.updated_at, right_updated=right.updated_at)
            out.conflicts.append(Conflict(
                m.left, m.right, _shown(m.left, left_values), _shown(m.right, right_values),
                winner, rule))
        elif left_changed or right_changed:
            winner = "left" if left_changed else "right"
        elif not self._just_mapped(m, left, right):
            # Neither side changed and both were synced with this mapping:
            # a difference both sides were left with on purpose (a
            # read-only reset takes the apps as they are) stays.
            return
        elif m.prefer == "right_unless_blank":
            winner = "left" if all(is_blank(v) for v in right_values) else "right"
        else:  # back-fill: left to right unless the left is blank
            winner = "right" if all(is_blank(v) for v in left_values) else "left"
        loser = _OTHER[winner]
        diff = self._diff(flows[winner], views[winner], views[loser], out)
        writes = self._protect(flows[winner], diff)
        if writes or not diff or conflict:
            out.writes(loser).update(writes)
            return
        # The winner's value is blank and may not erase: the filled side wins.
        back = self._diff(flows[loser], views[loser], views[winner], out)
        out.writes(winner).update(self._protect(flows[loser], back))

    @staticmethod
    def _just_mapped(m: FieldMapping, left: SideView, right: SideView) -> bool:
        """A mapping added since the last sync: its fields are missing from ``synced``."""
        return any(
            view.synced is not None and any(f not in view.synced for f in fields)
            for view, fields in ((left, m.left), (right, m.right)))

    def _rules(self, source: SideName, view: SideView, other: SideView | None,
               out: PairPlan) -> bool:
        """Check the rules for one direction; False if a rule skipped it."""
        target = _OTHER[source]
        if not self.rules.checked_from(source):
            # No rule to check: no condition data to build (a dict per record
            # of an initial sync), nothing fired, no action; and a create's
            # target has no values an empty action list could leave out.
            if other is not None:
                out.problems += apply_actions((), out.writes(target), other.seen,
                                              self.objects[target], self.tags[target])
            return True
        data = self.rules.condition_data(source, view.seen, self._compared[source],
                                         None if other is None else other.seen)
        outcome = self.rules.evaluate(source, data)
        out.rules_fired.extend(i for i in outcome.fired if i not in out.rules_fired)
        writes = out.writes(target)
        if outcome.skipped_by is not None:
            writes.clear()
            out.skipped.append(Skip(SkipKind.RULE, f"rules[{outcome.skipped_by}] (from {source}): skip"))
            return False
        out.problems += apply_actions(outcome.actions, writes,
                                      {} if other is None else other.seen,
                                      self.objects[target], self.tags[target])
        return True

    def _create(self, source: SideName, view: SideView) -> PairPlan:
        target = _OTHER[source]
        out = PairPlan()
        if view.deleted:
            return out
        policy = self.integration.create
        if target not in _CREATES[policy]:
            out.skipped.append(Skip(SkipKind.CREATE_POLICY, f"create: {policy} (no {target} record is created)"))
            return out
        writes = out.writes(target)
        seen = view.seen
        get = seen.get
        # Against no record: what differs is what is not blank, so the
        # converted values are kept without comparing each (an initial
        # sync plans every record this way). A plain one-field copy (most
        # mappings) is done inline: what Flow.convert does for it, without
        # a call, a tuple or a dict per field (tests/sync/
        # test_plancpu3_create_property.py holds the two to the same result).
        for flow, src, name, normalise, text, keeps in self._creates[source]:
            if src is None:  # a transform, values:, default:, several fields: the flow itself
                _converted(flow, seen, writes, out.problems)
                continue
            value = get(src)
            # A blank source without a default writes a blank: nothing to a new record.
            if value is None:
                continue
            kind = type(value)
            if kind is str:
                if not value or value.isspace():
                    continue
            elif kind is list:
                if not value:
                    continue
                if text:
                    value = joined(value)
            elif is_blank(value):
                continue
            elif text and isinstance(value, list):
                value = joined(value)
            if normalise is not None and not (keeps and kind is str):  # text not blank: kept as it is
                try:
                    value = normalise(value)
                except ValueError as e:  # the normaliser's FieldValueError
                    out.problems.append(f"{flow.label}: {name}: {e}")
                    continue
                if value is None or (value.isspace() or not value if type(value) is str else is_blank(value)):
                    continue
            writes[name] = value
        if self.match[target] not in writes:  # most integrations map the match field too
            self._add_match(source, seen, out)
        if not self.rules.checked_from(source) or self._rules(source, view, None, out):
            out.create = target
        return out

    def _add_match(self, source: SideName, seen: Mapping[str, Any], out: PairPlan) -> None:
        """A create's match field, unless a mapping wrote it: the source's key."""
        target = _OTHER[source]
        key, target_key = seen.get(self.match[source]), self.match[target]
        writes = out.writes(target)
        if target_key not in writes and not is_blank(key):
            normalise = self._match_normalise[target]
            try:
                writes[target_key] = normalise(key) if normalise is not None else key
            except ValueError as e:
                out.problems.append(f"match: {target_key}: {e}")

    # --- deletions --------------------------------------------------------------

    def deletion(self, deleted: SideView, other: SideView, *,
                 side: SideName | None = None) -> PairPlan:
        """What ``deletions:`` does to *other* now that the linked *deleted* record is gone.

        *side* is the side *deleted* was on; it may be left out when
        ``deletions: from:`` names one side (it is that one), not with
        ``from: both``.  ``then: delete`` gives a plan with ``delete`` set to
        the other side; a tag or set action gives field writes to it
        (nothing when it already has them).  The cycle enforces
        ``max_delete_percent``.
        """
        rule = self.integration.deletions
        if side is None:
            if rule is None or rule.side == "both":
                raise ValueError("deletion(): say which side the record was deleted on (side=)")
            side = rule.side
        target = _OTHER[side]
        if rule is None or rule.side not in (side, "both"):
            return PairPlan(skipped=[
                Skip(SkipKind.DELETION, f"deletions: a deletion on the {side} is not carried over")])
        if other.deleted:
            return PairPlan()
        if any(action.kind == "delete" for action in rule.then):
            return PairPlan(delete=target)
        out = PairPlan()
        out.problems += apply_actions(rule.then, out.writes(target), other.seen,
                                      self.objects[target], self.tags[target])
        return out


def _converted(flow: Flow, seen: Mapping[str, Any], writes: dict[str, Any], problems: list[str]) -> None:
    """*flow*'s values for a record created from *seen*: the ones not blank."""
    try:
        values = flow.convert(seen, _NO_RECORD)
    except TransformError as e:
        problems.append(str(e))
        return
    if values:
        for n, v in values.items():
            if not is_blank(v):
                writes[n] = v


# One step of a create: (flow, source field, target field, normaliser or
# None, whether the target is text a list is joined into, whether the
# normaliser keeps text), or (flow, None, ...) for a flow that is converted
# by Flow.convert.
_CreateStep = tuple[Flow, str | None, str, Callable[[Any], Any] | None, bool, bool]


def _create_steps(flows: tuple[Flow, ...]) -> tuple[_CreateStep, ...]:
    """Each flow of a side as a create converts it, compiled once per plan:
    a plain copy (:attr:`Flow.plain_copy`) as its fields and its target's
    normaliser, done inline; any other as the flow."""
    return tuple((flow, *copy) if (copy := flow.plain_copy) is not None else (flow, None, "", None, False, False)
                 for flow in flows)


def _normaliser_of(obj: ObjectSpec, name: str) -> Callable[[Any], Any] | None:
    spec = obj.fields.get(name)
    return normaliser_for(spec) if spec is not None else None


def _shown(names: tuple[str, ...], values: list[Any]) -> Any:
    return values[0] if len(names) == 1 else dict(zip(names, values))

