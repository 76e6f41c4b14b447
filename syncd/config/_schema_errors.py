"""Turning jsonschema's errors into one short message each, at the right place.

jsonschema's own messages are written for programmers and, for ``oneOf``,
can run to pages.  Each error is mapped here to one short message at the
most precise position: an unknown key at that key (with a "did you mean"),
a missing key at its parent, a bad value at the value, and for a choice
between forms (``oneOf``/``anyOf``) the errors of the form the user meant:
the branch whose ``type`` const matches, else of the branches that accept
the value's JSON type the one with the fewest errors.  A schema may give
its own words for a rule with ``x-error``.

Values are echoed only where they cannot be secrets (enum and const values,
names); type errors name the type, never the value.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from jsonschema.exceptions import ValidationError

from syncd.config._errors import KeyPath, Problem
from syncd.config._yaml import YamlDoc


_TYPE_NAMES = {
    "object": "a mapping", "array": "a list", "string": "a string", "integer": "an integer",
    "number": "a number", "boolean": "true or false", "null": "nothing",
}


def suggest(name: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for a close match, else an empty string."""
    close = difflib.get_close_matches(name, sorted(set(choices)), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"'{text}'"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _accepts_type(declared: str | Sequence[str], actual: str) -> bool:
    types = [declared] if isinstance(declared, str) else list(declared)
    return actual in types or (actual == "integer" and "number" in types)


def _one_of(items: Sequence[str], word: str = "or") -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {word} " + items[-1]


def _what(path: KeyPath) -> str:
    """A noun for the thing at *path*: its key name, or 'value' in a list."""
    if len(path) >= 2 and path[-1] == "type" and path[-2] in ("auth", "pagination"):
        return f"{path[-2]} type"  # "invalid auth type 'bearr'" reads better than "type"
    for step in reversed(path):
        if isinstance(step, str):
            return step
    return "value"


class Explainer:
    def __init__(self, doc: YamlDoc, root: Mapping[str, Any]) -> None:
        self.doc = doc
        self.root = root
        self.problems: list[Problem] = []

    def add(self, path: KeyPath, message: str, *, at_key: bool | None = None) -> None:
        self.problems.append(self.doc.problem(path, message, at_key=at_key))

    def result(self) -> list[Problem]:
        # `tokn:` where `token` is required gives both "unknown key 'tokn';
        # did you mean 'token'?" and "missing required key 'token'": the
        # first says it all.
        suggested = {(p.key_path[:-1], m.group(1)) for p in self.problems
                     if (m := re.search(r"^unknown key .*did you mean '([^']*)'", p.message))}
        kept = [p for p in self.problems
                if not ((m := re.match(r"missing required key '([^']*)'", p.message))
                        and (p.key_path, m.group(1)) in suggested)]
        return list(dict.fromkeys(kept))

    def resolve(self, schema: Any) -> Any:
        """A schema with a local ``$ref`` followed (siblings kept)."""
        seen = 0
        while isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str) and seen < 20:
            ref = schema["$ref"]
            if not ref.startswith("#"):
                break
            target: Any = self.root
            for part in ref[1:].split("/")[1:]:
                target = target[part.replace("~1", "/").replace("~0", "~")]
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
            seen += 1
        return schema

    # --- dispatch ------------------------------------------------------------

    def explain(self, e: ValidationError) -> None:
        path: KeyPath = tuple(e.absolute_path)
        kind = e.validator
        schema = self.resolve(e.schema) if isinstance(e.schema, Mapping) else {}
        if isinstance(schema, Mapping) and isinstance(schema.get("x-error"), str):
            # The schema's own words for a rule that its keywords cannot say
            # well ("format is only for fields of type: datetime").
            self.add(path, schema["x-error"], at_key=True)
        elif "propertyNames" in e.relative_schema_path or "propertyNames" in e.absolute_schema_path:
            self._bad_name(path, e, schema)
        elif kind in ("additionalProperties", "unevaluatedProperties"):
            self._unknown_keys(path, e.instance, schema, deep=kind == "unevaluatedProperties")
        elif kind == "required":
            alternative = self._alternative(e)
            required: list[str] = list(e.validator_value)
            for key in required:
                if isinstance(e.instance, dict) and key not in e.instance:
                    self.add(path, f"missing required key '{key}'{alternative}", at_key=True)
        elif kind == "dependentRequired" and isinstance(e.instance, dict):
            for key, needed in dict(e.validator_value).items():
                missing = [n for n in needed if n not in e.instance]
                if key in e.instance and missing:
                    self.add((*path, key), f"'{key}' needs {_one_of([repr(n) for n in missing], 'and')} "
                             "beside it", at_key=True)
        elif kind is None and e.schema is False:
            self._forbidden(path, e)
        elif kind in ("oneOf", "anyOf"):
            self._choice(path, e)
        else:
            self.add(path, self._message(path, e, schema))

    def _message(self, path: KeyPath, e: ValidationError, schema: Mapping[str, Any]) -> str:
        kind, value = e.validator, e.instance
        want: Any = e.validator_value
        what = _what(path)
        if kind == "type":
            types = [want] if isinstance(want, str) else list(want)
            expected = _one_of([_TYPE_NAMES.get(t, t) for t in types])
            if not path:
                return f"the file must hold {expected}, not {_TYPE_NAMES[_json_type(value)]}"
            if value is None:
                return f"expected {expected} for {what}, but the value is empty"
            return f"expected {expected} for {what}, not {_TYPE_NAMES[_json_type(value)]}"
        if kind == "enum":
            hint = suggest(value, map(str, want)) if isinstance(value, str) else ""
            return (f"invalid {what} {_show(value)}: expected "
                    f"{_one_of([_show(v) for v in want])}{hint}")
        if kind == "const":
            return f"invalid {what} {_show(value)}: expected {_show(want)}"
        if kind == "pattern":
            return self._pattern_message(what, value, schema)
        if kind in ("minLength", "minItems", "minProperties"):
            if want == 1:
                return f"{what} must not be empty"
            unit = {"minLength": "characters", "minItems": "items", "minProperties": "entries"}[kind]
            return f"{what} needs at least {want} {unit}"
        if kind == "maxProperties" and want == 1 and isinstance(value, dict):
            return f"{what} takes one key only; found {_one_of([repr(k) for k in value], 'and')}"
        if kind in ("maxLength", "maxItems", "maxProperties"):
            unit = {"maxLength": "characters", "maxItems": "items", "maxProperties": "entries"}[kind]
            return f"{what} takes at most {want} {unit}"
        bounds = {"minimum": "at least", "maximum": "at most",
                  "exclusiveMinimum": "greater than", "exclusiveMaximum": "less than"}
        if kind in bounds:
            return f"{what} must be {bounds[kind]} {want}"
        if kind == "uniqueItems":
            return f"the items of {what} must be unique"
        return f"invalid {what} (fails the schema's '{kind}' rule)"

    def _pattern_message(self, what: str, value: Any, schema: Mapping[str, Any]) -> str:
        examples = schema.get("examples") or []
        title = str(schema.get("title") or what)
        if not title[:2].isupper():  # "Base URL" -> "base URL", but "URL" stays
            title = title[:1].lower() + title[1:]
        if examples:
            return f"invalid {title} {_show(value)}: expected something like {_show(examples[0])}"
        return f"invalid {title} {_show(value)}: it must match {schema.get('pattern')}"

    # --- if/then/else: "use A or B", "C only with D" ---------------------------

    def _schema_at(self, steps: Sequence[Any]) -> Any:
        node: Any = self.root
        for step in steps:
            node = self.resolve(node)
            try:
                node = node[step]
            except (KeyError, IndexError, TypeError):
                return None
        return self.resolve(node)

    def _alternative(self, e: ValidationError) -> str:
        """`` (or 'read')`` for a key required by the else of ``if: {required: [read]}``."""
        steps = list(e.absolute_schema_path)
        if steps[-2:] != ["else", "required"]:
            return ""
        container = self._schema_at(steps[:-2])
        condition = container.get("if") if isinstance(container, Mapping) else None
        others = (condition or {}).get("required") or []
        return f" (or {_one_of([repr(k) for k in others])})" if others else ""

    def _forbidden(self, path: KeyPath, e: ValidationError) -> None:
        # `properties: {key: false}`: jsonschema reports it at the parent
        # mapping, so name the forbidden keys the mapping holds.
        props = self._schema_at(list(e.absolute_schema_path))
        parent = self.doc.get(path)
        if isinstance(props, Mapping) and isinstance(parent, dict):
            for key in [k for k, v in props.items() if v is False and k in parent]:
                self.add((*path, key), f"'{key}' is not allowed here", at_key=True)
        else:
            self.add(path, f"'{_what(path)}' is not allowed here")

    # --- keys ----------------------------------------------------------------

    def _allowed_keys(self, schema: Any, deep: bool, depth: int = 0) -> tuple[set[str], list[str]]:
        """Property names and patterns a mapping schema allows.

        additionalProperties sees only its sibling keywords; *deep* (for
        unevaluatedProperties) also collects those of the subschemas.
        """
        schema = self.resolve(schema)
        if not isinstance(schema, Mapping) or depth > 10:
            return set(), []
        names = set(schema.get("properties") or {})
        patterns = list(schema.get("patternProperties") or {})
        subschemas = [*schema.get("allOf", ()), *schema.get("anyOf", ()), *schema.get("oneOf", ()),
                      *(schema[k] for k in ("if", "then", "else") if k in schema)] if deep else []
        for sub in subschemas:
            n, p = self._allowed_keys(sub, deep, depth + 1)
            names |= n
            patterns += p
        return names, patterns

    def _unknown_keys(self, path: KeyPath, instance: Any, schema: Mapping[str, Any],
                      deep: bool) -> None:
        if not isinstance(instance, dict):
            return
        names, patterns = self._allowed_keys(schema, deep)
        extras = [k for k in instance
                  if k not in names and not any(re.search(p, k) for p in patterns)]
        for key in extras:
            if not names and patterns:
                self.add((*path, key), f"invalid name '{key}': names must match {patterns[0]}",
                         at_key=True)
            else:
                hint = suggest(key, names)
                if not hint and names:
                    hint = f" (allowed: {', '.join(sorted(names))})"
                self.add((*path, key), f"unknown key '{key}'{hint}", at_key=True)

    def _bad_name(self, path: KeyPath, e: ValidationError, schema: Mapping[str, Any]) -> None:
        name = e.instance
        if e.validator == "pattern":
            self.add((*path, str(name)), f"invalid name '{name}': names must match {e.validator_value}",
                     at_key=True)
        else:
            self.add((*path, str(name)), f"invalid name '{name}'", at_key=True)

    # --- oneOf / anyOf -------------------------------------------------------

    def _choice(self, path: KeyPath, e: ValidationError) -> None:
        alternatives: list[Any] = list(e.validator_value)
        branches = [self.resolve(b) for b in alternatives]
        errors: dict[int, list[ValidationError]] = defaultdict(list)
        for sub in e.context or ():
            errors[int(sub.relative_schema_path[0])].append(sub)
        value = e.instance
        if isinstance(value, dict) and branches and all(self._type_values(b) for b in branches):
            self._by_discriminator(path, value, branches, errors)
            return
        actual = _json_type(value)
        accepting = [i for i, b in enumerate(branches) if self._accepts(b, actual)]
        if not accepting:
            described = _one_of([self._describe(b) for b in branches])
            found = "the value is empty" if value is None else f"not {_TYPE_NAMES[actual]}"
            self.add(path, f"expected {described} for {_what(path)}, {found}")
            return
        # Of the forms that take this JSON type, the one it is closest to.
        best = min(accepting, key=lambda i: len(errors[i]))
        if not errors[best]:  # oneOf failed because several forms matched
            self.add(path, f"{_what(path)} matches more than one form; make it unambiguous")
        for sub in errors[best]:
            self.explain(sub)

    def _type_values(self, branch: Any) -> list[Any]:
        if not isinstance(branch, Mapping):
            return []
        t = self.resolve((branch.get("properties") or {}).get("type"))
        if not isinstance(t, Mapping):
            return []
        if "const" in t:
            return [t["const"]]
        return list(t.get("enum") or [])

    def _by_discriminator(self, path: KeyPath, value: dict[str, Any], branches: list[Any],
                          errors: Mapping[int, list[ValidationError]]) -> None:
        valid = [v for b in branches for v in self._type_values(b)]
        shown = _one_of([_show(v) for v in valid])
        if "type" not in value:
            self.add(path, f"missing required key 'type' (one of {shown})", at_key=True)
            return
        given = value["type"]
        for i, branch in enumerate(branches):
            if given in self._type_values(branch):
                own = [s for s in errors.get(i, ()) if tuple(s.relative_path)[:1] != ("type",)]
                for sub in own:
                    self.explain(sub)
                return
        hint = suggest(given, map(str, valid)) if isinstance(given, str) else ""
        self.add((*path, "type"), f"unknown {_what(path)} type {_show(given)}: expected {shown}{hint}")

    def _accepts(self, branch: Any, actual: str) -> bool:
        if not isinstance(branch, Mapping):
            return branch is not False
        if "type" in branch:
            return _accepts_type(branch["type"], actual)
        if "const" in branch:
            return _json_type(branch["const"]) == actual
        if "enum" in branch:
            return any(_json_type(v) == actual for v in branch["enum"])
        for key in ("oneOf", "anyOf"):
            if key in branch:
                return any(self._accepts(self.resolve(b), actual) for b in branch[key])
        return True

    def _describe(self, branch: Any) -> str:
        if not isinstance(branch, Mapping):
            return "a value"
        if "const" in branch or "enum" in branch:
            return _one_of([_show(v) for v in branch.get("enum", [branch.get("const")])])
        t = branch.get("type")
        if t is not None:
            return _one_of([_TYPE_NAMES.get(x, x) for x in ([t] if isinstance(t, str) else t)])
        for key in ("oneOf", "anyOf"):
            if key in branch:
                return _one_of([self._describe(self.resolve(b)) for b in branch[key]])
        return "a value"
