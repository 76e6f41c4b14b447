"""Cross-file checks: does an integration fit the connector specs it names?

These run on the integration's (schema-valid) raw document, not on the
built object, so that they still run when building found other problems in
the same file (a bad schedule should not hide a misspelt field), and so each
problem points at the exact value in the file.

A connector whose own file is broken is *unusable*, not unknown: checks
against it are skipped rather than reported as "unknown connector".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from syncd.config._defaults import schema_defaults
from syncd.config._errors import KeyPath, Problem
from syncd.config._model import ConnectorSpec, ObjectSpec
from syncd.config._secrets import has_reference
from syncd.config._validate import suggest
from syncd.config._yaml import YamlDoc
from syncd.expr import ExprError, compile_expr

__all__ = ["check_integration"]

_DEFAULTS = schema_defaults("integration")
_SPECIAL_VARIABLES = frozenset({"other", "exists_in_other"})
_WRITES = {"both": ("left", "right"), "left_to_right": ("right",), "right_to_left": ("left",)}
_READS = {"both": ("left", "right"), "left_to_right": ("left",), "right_to_left": ("right",)}
_LISTS = frozenset({"list", "tags"})
_SINGLE = frozenset({"number", "integer", "boolean", "datetime"})  # values a list cannot go into
_TEXT = frozenset({"string", None})  # what transform: date writes to or reads from
_OTHER = {"left": "right", "right": "left"}
_SETTING_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "integer": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "number": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
    "boolean": (lambda v: isinstance(v, bool), "true or false"),
    "string": (lambda v: not isinstance(v, bool), "a string"),
}


@dataclass(frozen=True, slots=True)
class _Side:
    name: str  # left | right
    label: str  # "hubspot.contacts", as shown in messages
    obj: ObjectSpec

    def tags(self) -> bool:
        return any(f.type == "tags" for f in self.obj.fields.values())


def _choices(name: str, names: Collection[str], noun: str) -> str:
    hint = suggest(name, names)
    if hint or not names:
        return hint
    return f" ({noun}: {', '.join(sorted(names))})"


class _Checker:
    def __init__(self, doc: YamlDoc, connectors: Mapping[str, ConnectorSpec],
                 unusable: Collection[str]) -> None:
        self.doc = doc
        self.data: dict[str, Any] = doc.data
        self.connectors = connectors
        self.unusable = unusable
        self.problems: list[Problem] = []

    def error(self, path: KeyPath, message: str, *, at_key: bool | None = None) -> None:
        self.problems.append(self.doc.problem(path, message, at_key=at_key))

    # --- sides and settings --------------------------------------------------

    def side(self, name: str) -> _Side | None:
        raw = self.data[name]
        connector = raw["connector"]
        spec = self.connectors.get(connector)
        if spec is None:
            if connector not in self.unusable:
                self.error((name, "connector"), f"unknown connector '{connector}'"
                           + _choices(connector, self.connectors, "known"))
            return None
        self.settings(name, spec, raw.get("settings") or {})
        obj = spec.objects.get(raw["object"])
        if obj is None:
            self.error((name, "object"), f"connector '{connector}' has no object '{raw['object']}'"
                       + _choices(raw["object"], spec.objects, "it has"))
            return None
        return _Side(name, f"{connector}.{obj.name}", obj)

    def settings(self, side: str, spec: ConnectorSpec, given: Mapping[str, Any]) -> None:
        for key, value in given.items():
            path = (side, "settings", key)
            setting = spec.settings.get(key)
            if setting is None:
                declared = _choices(key, spec.settings, "declared") if spec.settings else \
                    " (it declares no settings)"
                self.error(path, f"unknown setting '{key}' for connector '{spec.name}'{declared}",
                           at_key=True)
            elif has_reference(value):
                continue  # resolved (or reported) while building the integration
            elif setting.secret:
                self.error(path, f"setting '{key}' is secret: give it as ${{env:…}}, "
                                 "${file:…} or ${cred:…}, not in the file")
            else:
                accepts, noun = _SETTING_TYPES[setting.type]
                if not accepts(value):
                    self.error(path, f"setting '{key}' of connector '{spec.name}' expects {noun}")
        for setting in spec.settings.values():
            if setting.required and setting.default is None and setting.name not in given:
                where: KeyPath = (side, "settings") if "settings" in self.data[side] else (side,)
                self.error(where, f"missing required setting '{setting.name}' for connector "
                                  f"'{spec.name}'", at_key=True)

    # --- field names ---------------------------------------------------------

    def field_name(self, side: _Side | None, path: KeyPath, name: str) -> bool:
        if side is None:
            return False
        if name not in side.obj.fields:
            self.error(path, f"{side.label} has no field '{name}'"
                       + _choices(name, side.obj.fields, "its fields"))
            return False
        return True

    def match(self, sides: Mapping[str, _Side | None]) -> None:
        for name in ("left", "right"):
            self.field_name(sides[name], ("match", name), self.data["match"][name])

    def fields(self, sides: Mapping[str, _Side | None]) -> None:
        for i, raw in enumerate(self.data["fields"]):
            self.mapping(i, raw, sides)

    def mapping(self, i: int, raw: Mapping[str, Any], sides: Mapping[str, _Side | None],
                base: KeyPath = ("fields",)) -> None:
        raw = _DEFAULTS.fill("/$defs/fieldMapping", raw)
        transform = raw.get("transform")
        direction = raw["direction"]
        shapes = {"join_name": ("left", "right"), "split_name": ("right", "left")}
        for name in ("left", "right"):
            value = raw[name]
            names: Sequence[str] = [value] if isinstance(value, str) else value
            paths = [(*base, i, name)] if isinstance(value, str) else \
                [(*base, i, name, j) for j in range(len(value))]
            for path, field in zip(paths, names):
                if self.field_name(sides[name], path, field) and name in _WRITES[direction]:
                    self.writable(sides[name], path, field, direction)
        if transform in shapes:
            many, one = shapes[transform]
            if not (isinstance(raw[many], list) and len(raw[many]) == 2):
                self.error((*base, i, many), f"transform: {transform} needs a list of two {many} "
                           f"fields (first name, last name)")
            if isinstance(raw[one], list):
                self.error((*base, i, one), f"transform: {transform} needs a single {one} field, "
                           "not a list")
        else:
            for name, needed in (("left", "join_name"), ("right", "split_name")):
                if isinstance(raw[name], list):
                    self.error((*base, i, name),
                               f"a list of {name} fields needs transform: {needed}")
        if "values" in raw and (isinstance(raw["left"], list) or isinstance(raw["right"], list)):
            self.error((*base, i, "values"), "values: maps one field to one field; "
                       "it cannot be used with a list of fields", at_key=True)
        elif "values" in raw and direction != "left_to_right":
            self.inverse(i, raw["values"], direction, base)
        self.value_types(i, raw, sides, base)

    def value_types(self, i: int, raw: Mapping[str, Any], sides: Mapping[str, _Side | None],
                    base: KeyPath = ("fields",)) -> None:
        """Can values of the two fields' types flow the way the mapping says?

        *raw* is filled with the schema's defaults (by :meth:`mapping`).
        """
        named = {name: raw[name] for name in ("left", "right")}
        if any(not isinstance(v, str) for v in named.values()):
            return  # join_name / split_name: checked above
        fields = {}
        for name, field in named.items():
            side = sides[name]
            if side is None or field not in side.obj.fields:
                return  # reported already
            fields[name] = (side, field, side.obj.fields[field].type)
        direction = raw["direction"]
        transform = raw.get("transform")
        lt, rt = fields["left"][2], fields["right"][2]

        def shown(name: str) -> str:
            side, field, kind = fields[name]
            return f"field '{field}' of {side.label} (type: {kind or 'untyped'})"

        if transform == "first":
            sources = _READS[direction]
            if not any(fields[s][2] in _LISTS or fields[s][2] is None for s in sources):
                which = (f"{shown(sources[0])} is not" if len(sources) == 1
                         else f"neither {shown('left')} nor {shown('right')} is")
                self.error((*base, i, "transform"), "transform: first takes the first item of a "
                           f"list, but {which} a list (type: list or tags)")
            return
        if transform == "date":
            kinds = {lt, rt}
            if not ("datetime" in kinds and len(kinds) == 2 and (kinds - {"datetime"}) <= _TEXT):
                self.error((*base, i, "transform"),
                           f"transform: date converts between a datetime field and a text field "
                           f"(type: string or untyped), but {shown('left')} maps to {shown('right')}")
            return
        for source in _READS[direction]:
            target = _OTHER[source]
            kind, other_kind = fields[source][2], fields[target][2]
            if kind in _LISTS and other_kind in _SINGLE:
                self.error((*base, i, target),
                           f"{shown(source)} holds a list, which does not fit {shown(target)}: "
                           "add transform: first to take the list's first item")
                return
            if kind in _SINGLE and other_kind in _LISTS:
                self.error((*base, i, target),
                           f"{shown(source)} holds a single value, which does not fit "
                           f"{shown(target)}, a list: map it to a field that is not a list")
                return

    def inverse(self, i: int, values: Mapping[str, Any], direction: str, base: KeyPath = ("fields",)) -> None:
        """Right to left, ``values:`` is read backwards: no two keys may share a value."""
        first_key: dict[tuple[bool, Any], str] = {}
        for key, value in values.items():
            seen = first_key.setdefault((isinstance(value, bool), value), key)
            if seen != key:
                hint = " or use direction: left_to_right" if direction == "both" else ""
                shown = f"'{value}'" if isinstance(value, str) else json.dumps(value)
                self.error((*base, i, "values", key),
                           f"values: '{seen}' and '{key}' both map to {shown}, so a right value "
                           f"{shown} cannot be mapped back to one left value (direction: "
                           f"{direction}); give each its own right value{hint}")

    def writable(self, side: _Side | None, path: KeyPath, field: str, direction: str) -> None:
        if side is None or side.obj.fields[field].writable:
            return
        # With `both`, the one-way direction away from this side still works.
        hint = f"; use direction: {side.name}_to_{_OTHER[side.name]}" if direction == "both" else ""
        self.error(path, f"field '{field}' of {side.label} is read-only (it has no write path), "
                         f"but direction: {direction} writes it{hint}")

    # --- child objects ---------------------------------------------------------

    def children(self, sides: Mapping[str, _Side | None]) -> None:
        """Each entry names a child object of each side's object, once, and
        maps fields the two child objects have."""
        synced: dict[tuple[str, str], int] = {}
        for k, raw in enumerate(self.data.get("children") or ()):
            child_sides = {name: self.child_side(k, name, raw[name], sides[name]) for name in ("left", "right")}
            for name in ("left", "right"):
                first = synced.setdefault((name, raw[name]), k)
                if first != k:
                    self.error(("children", k, name), f"'{raw[name]}' is synced by children[{first}] "
                                                      "already: a child object is synced once")
            for i, mapping in enumerate(raw["fields"]):
                self.mapping(i, mapping, child_sides, ("children", k, "fields"))

    def child_side(self, k: int, name: str, object_name: str, parent: _Side | None) -> _Side | None:
        if parent is None:
            return None  # the side itself was reported
        connector = self.data[name]["connector"]
        spec = self.connectors[connector]
        obj = spec.objects.get(object_name)
        children = sorted(n for n, o in spec.objects.items() if o.parent == parent.obj.name)
        if obj is None or obj.parent != parent.obj.name:
            what = "has no object" if obj is None else "has no child object"
            self.error(("children", k, name), f"connector '{connector}' {what} '{object_name}' under "
                       f"{parent.label}" + (_choices(object_name, children, "its children") if children
                                            else f" (no object of its spec says parent: {parent.obj.name})"))
            return None
        return _Side(name, f"{connector}.{object_name}", obj)

    # --- rules and deletions -------------------------------------------------

    def rules(self, sides: Mapping[str, _Side | None]) -> None:
        for i, raw in enumerate(self.data.get("rules") or ()):
            origin = raw.get("from")
            sources = [origin] if origin else ["left", "right"]
            targets = [_OTHER[origin]] if origin else ["left", "right"]
            self.condition(i, raw["if"], origin, [sides[s] for s in sources])
            if raw["then"] != "skip":
                for j, action in enumerate(raw["then"]):
                    self.action(("rules", i, "then", j), action, [sides[t] for t in targets],
                                every=False)

    def condition(self, i: int, source: str, origin: str | None,
                  sides: Sequence[_Side | None]) -> None:
        try:
            expr = compile_expr(source)
        except ExprError:
            return  # reported while building the integration
        if any(s is None for s in sides):
            return  # an unknown side was reported already; its fields are unknown
        known = {f for s in sides if s is not None for f in s.obj.fields}
        for var in sorted(expr.variables - _SPECIAL_VARIABLES - known):
            if origin:
                labels = "".join(s.label for s in sides if s is not None)
                message = (f"if: uses '{var}', which is not a field of the {origin} side "
                           f"({labels})")
                if self._has_field(self.data[_OTHER[origin]], var):
                    message += f"; it is a field of the {_OTHER[origin]} side: use other.{var}"
                else:
                    message += suggest(var, known)
            else:
                labels = " or ".join(s.label for s in sides if s is not None)
                message = f"if: uses '{var}', which is not a field of either side ({labels})" \
                    + suggest(var, known)
            self.error(("rules", i, "if"), message)

    def _has_field(self, raw_side: Mapping[str, Any], name: str) -> bool:
        spec = self.connectors.get(raw_side["connector"])
        obj = spec.objects.get(raw_side["object"]) if spec else None
        return obj is not None and name in obj.fields

    def deletions(self, sides: Mapping[str, _Side | None]) -> None:
        raw = self.data.get("deletions")
        if raw is None:
            return
        origin = raw["from"]
        targets = ["left", "right"] if origin == "both" else [_OTHER[origin]]
        then = raw["then"]
        if then == "delete":
            for t in targets:
                side = sides[t]
                if side is not None and "delete" not in side.obj.operations:
                    self.error(("deletions", "then"),
                               f"then: delete needs a delete operation on {side.label}")
            return
        self.action(("deletions", "then"), then, [sides[t] for t in targets], every=True)

    def action(self, path: KeyPath, action: Mapping[str, Any], targets: Sequence[_Side | None],
               *, every: bool) -> None:
        """Check one action against the sides it changes.

        *every*: each target must support it (deletions from both sides);
        otherwise one target is enough (a rule with no ``from`` applies to
        whichever side is being written).
        """
        if any(t is None for t in targets):
            return
        sides = [t for t in targets if t is not None]
        ((kind, value),) = action.items()
        if kind in ("add_tag", "remove_tag"):
            lacking = [s for s in sides if not s.tags()]
            if lacking and (every or len(lacking) == len(sides)):
                where = " or ".join(s.label for s in lacking)
                self.error((*path, kind), f"{kind} needs a field of type: tags on {where} "
                                          "(the side this changes)")
        elif kind == "set":
            for field in value:
                having = [s for s in sides if field in s.obj.fields]
                missing = [s for s in sides if field not in s.obj.fields]
                if missing and (every or not having):
                    names = {f for s in sides for f in s.obj.fields}
                    where = " or ".join(s.label for s in missing)
                    self.error((*path, "set", field), f"set: '{field}' is not a field of {where}"
                               + suggest(field, names), at_key=True)
                elif having and all(not s.obj.fields[field].writable for s in having):
                    self.error((*path, "set", field),
                               f"set: field '{field}' of {having[0].label} is read-only", at_key=True)


    # --- write-only targets (objects without list) ---------------------------

    def write_only(self, sides: Mapping[str, _Side | None]) -> None:
        """An object without ``list`` is never read: an integration may only
        write to it, one way from the other side. Everything that would read
        it (a field mapped from it, creates or deletions carried from it, a
        rule on its changes, child objects) is refused at its key."""
        for name, side in sides.items():
            if side is None or "list" in side.obj.operations:
                continue
            o = _OTHER[name]
            one_way = f"{o}_to_{name}"
            why = (f"{side.label} has no list operation, so syncd cannot read it: it can only be written to, "
                   f"one way from the {o} side")
            for i, raw in enumerate(self.data["fields"]):
                direction = _DEFAULTS.fill("/$defs/fieldMapping", raw)["direction"]
                if name in _READS[direction]:
                    field = raw[name] if isinstance(raw[name], str) else "', '".join(raw[name])
                    given = "direction" in raw
                    self.error(("fields", i, "direction" if given else name),
                               f"direction: {direction}{'' if given else ' (the default)'} reads field "
                               f"'{field}' from it; {why}: use direction: {one_way}")
            create = _DEFAULTS.fill("", self.data)["create"]
            if create in ("both", f"{name}_to_{o}"):
                given = "create" in self.data
                self.error(("create",) if given else (name, "object"),
                           f"create: {create}{'' if given else ' (the default)'} creates records from "
                           f"{side.label}; {why}: use create: {one_way} (or none)")
            deletions = self.data.get("deletions")
            if deletions is not None and deletions["from"] in ("both", name):
                self.error(("deletions", "from"), f"from: {deletions['from']} carries deletions found on "
                                                  f"{side.label}; {why}: use from: {o}")
            for i, rule in enumerate(self.data.get("rules") or ()):
                if rule.get("from") == name:
                    self.error(("rules", i, "from"), f"from: {name} applies to changes read from "
                                                     f"{side.label}; {why}")
            if self.data.get("children"):
                self.error(("children",), f"children are read under the linked records of both sides; {why}",
                           at_key=True)

    def delay(self, sides: Mapping[str, _Side | None]) -> None:
        """``delay:`` holds back records changed less than that long ago, by
        their ``updated_at``: an object without one could never be delayed."""
        raw = self.data.get("delay")
        if raw in (None, 0, "0"):
            return
        lacking = [s.label for s in sides.values() if s is not None and s.obj.updated_at is None]
        if lacking:
            verb = "declares" if len(lacking) == 1 else "declare"
            self.error(("delay",), f"delay needs each side's updated_at (when a record last "
                                   f"changed), and {' and '.join(lacking)} {verb} none")


def check_integration(doc: YamlDoc, connectors: Mapping[str, ConnectorSpec],
                      unusable: Collection[str] = ()) -> list[Problem]:
    """Problems of a schema-valid integration document against the specs."""
    c = _Checker(doc, connectors, unusable)
    sides = {"left": c.side("left"), "right": c.side("right")}
    c.match(sides)
    c.fields(sides)
    c.rules(sides)
    c.deletions(sides)
    c.delay(sides)
    c.children(sides)
    c.write_only(sides)
    return c.problems
