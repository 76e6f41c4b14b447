"""The one expression language: JMESPath, compiled once at load time.

Three shapes are built from config strings:

- :func:`compile_expr` — a JMESPath expression that reads a value
  (field extraction, ``records:``, pagination cursors, ``if:`` conditions).
  A plain dotted path (``properties.email``, ``emails[0].value``) compiles to
  a chain of key and index lookups with JMESPath's semantics (a missing key,
  a wrong type or an index out of range gives ``None``) and no interpreter
  on the per-record path.
- :func:`compile_template` — a string with ``{{ expr }}`` placeholders
  (paths, params, headers, auth values).  A string that is one placeholder
  and nothing else renders to the raw value (a number stays a number in a
  JSON body); otherwise the parts are joined as text.
- :func:`compile_write_path` — a dotted path that *sets* a value in a
  request body, creating the dicts and lists on the way.

Every compile step raises :class:`ExprError` with a message that says what
is wrong, so the config loader can attach the file, line and key.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jmespath
from jmespath import exceptions as jmespath_errors
from jmespath import functions as jmespath_functions

from syncd._secret import reveal

__all__ = [
    "Expr",
    "ExprError",
    "ExprFailure",
    "Select",
    "Template",
    "ValueTemplate",
    "WritePath",
    "compile_expr",
    "compile_template",
    "compile_value",
    "compile_write_path",
    "difference",
    "is_dotted_path",
    "to_text",
]


class ExprError(ValueError):
    """A config string is not a valid expression, template or path."""


class ExprFailure(ValueError):
    """An expression called ``fail(message)``: the data it read is not usable
    (an API that cut a list short, say); the message says why."""


_NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
_DOTTED = re.compile(rf"^{_NAME}(\[[0-9]+\])*(\.{_NAME}(\[[0-9]+\])*)*$")
_STEP = re.compile(rf"({_NAME})|\[([0-9]+)\]")


def is_dotted_path(source: str) -> bool:
    return bool(_DOTTED.match(source))


def _steps(source: str) -> tuple[str | int, ...]:
    return tuple(
        name if name else int(index) for name, index in _STEP.findall(source)
    )


# A write path may also pick a list item by its content: `emails[?primary]`
# (the first item whose `primary` is truthy) or `emails[?label=='work']`.
_SELECT = rf"\[\?{_NAME}(?:\.{_NAME})*(?:=='[^']*')?\]"
_WRITE_INDEX = rf"(?:\[[0-9]+\]|{_SELECT})"
_WRITE_PATH = re.compile(rf"^{_NAME}{_WRITE_INDEX}*(\.{_NAME}{_WRITE_INDEX}*)*$")
_WRITE_STEP = re.compile(rf"({_NAME})|\[([0-9]+)\]|\[\?({_NAME}(?:\.{_NAME})*)(==)?(?:'([^']*)')?\]")


@dataclass(frozen=True, slots=True)
class Select:
    """A write path's step into the first list item whose ``key`` (a dotted
    path inside the item) is truthy, or equals ``equals``."""

    key: tuple[str, ...]
    equals: str | None = None

    def matches(self, item: Any) -> bool:
        for name in self.key:
            if not isinstance(item, dict):
                return False
            item = item.get(name)
        return bool(item) if self.equals is None else item == self.equals

    def new_item(self) -> dict[str, Any]:
        """The item to add when none matches: one that does."""
        item: dict[str, Any] = {}
        inner = item
        for name in self.key[:-1]:
            inner = inner.setdefault(name, {})
        inner[self.key[-1]] = True if self.equals is None else self.equals
        return item


def _write_steps(source: str) -> tuple[str | int | Select, ...]:
    steps: list[str | int | Select] = []
    for name, index, key, compare, equals in _WRITE_STEP.findall(source):
        if name:
            steps.append(name)
        elif index:
            steps.append(int(index))
        else:
            steps.append(Select(tuple(key.split(".")), equals if compare else None))
    return tuple(steps)


def difference(a: list[Any] | None, b: list[Any] | None) -> list[Any]:
    """The items of ``a`` not in ``b``, in ``a``'s order (null is an empty
    list): what a new list value removed from the previous one."""
    gone = b or []
    return [item for item in a or [] if item not in gone]


class _Functions(jmespath_functions.Functions):
    """Custom JMESPath functions available in every expression."""

    @jmespath_functions.signature({"types": ["string", "null"]})
    def _func_lower(self, s: str | None) -> str | None:
        return None if s is None else s.lower()

    @jmespath_functions.signature({"types": ["string", "null"]})
    def _func_upper(self, s: str | None) -> str | None:
        return None if s is None else s.upper()

    @jmespath_functions.signature({"types": ["string", "null"]})
    def _func_trim(self, s: str | None) -> str | None:
        return None if s is None else s.strip()

    @jmespath_functions.signature({"types": []})
    def _func_to_string_or_null(self, v: Any) -> str | None:
        return None if v is None else (v if isinstance(v, str) else json.dumps(v))

    @jmespath_functions.signature({"types": ["array", "null"]}, {"types": ["array", "null"]})
    def _func_difference(self, a: list[Any] | None, b: list[Any] | None) -> list[Any]:
        return difference(a, b)

    @jmespath_functions.signature({"types": ["string", "null"]})
    def _func_md5(self, s: str | None) -> str | None:
        """The hex MD5 digest of the text (UTF-8), for APIs that key a record by
        a hash of a field: a Mailchimp member is the MD5 of its lower-cased email."""
        return None if s is None else hashlib.md5(s.encode("utf-8"), usedforsecurity=False).hexdigest()

    @jmespath_functions.signature({"types": []}, {"types": ["string"]})
    def _func_secret_suffix(self, secret: Any, separator: str) -> str | None:
        """The part of a key after its last ``separator``, for keys that carry a
        public routing part (a Mailchimp API key ends in its data centre,
        ``…-us6``); null when there is none.  Only that part is revealed."""
        text = reveal(secret)
        if not isinstance(text, str) or separator not in text:
            return None
        return text.rsplit(separator, 1)[1] or None

    @jmespath_functions.signature({"types": ["string"]})
    def _func_fail(self, message: str) -> None:
        # `cond && fail('why')`: a record the spec knows it cannot read right
        # is refused with a reason, rather than read wrong.
        raise ExprFailure(message)
    @jmespath_functions.signature({"types": ["string", "number", "null"]}, {"types": ["string"]})
    def _func_escape(self, v: str | float | None, chars: str) -> str | None:
        # Backslash-escaping, as a query language's quoted strings need
        # (SOQL: ' and \\): the backslash itself is always escaped, or an
        # escape in the value would swallow the quote after it.
        if v is None:
            return None
        text = v if isinstance(v, str) else json.dumps(v)
        special = set(chars) | {"\\"}
        return "".join("\\" + ch if ch in special else ch for ch in text)


_OPTIONS = jmespath.Options(custom_functions=_Functions())


def _lookup(steps: tuple[str | int, ...]) -> Callable[[Any], Any]:
    """A reader for a dotted path, specialised for the common short shapes."""
    if len(steps) == 1 and isinstance(steps[0], str):
        key = steps[0]

        def one(data: Any) -> Any:
            return data.get(key) if type(data) is dict else None

        return one
    if len(steps) == 2 and isinstance(steps[0], str) and isinstance(steps[1], str):
        k1, k2 = steps

        def two(data: Any) -> Any:
            if type(data) is not dict:
                return None
            inner = data.get(k1)
            return inner.get(k2) if type(inner) is dict else None

        return two

    def many(data: Any) -> Any:
        for step in steps:
            if isinstance(step, str):
                if type(data) is not dict:
                    return None
                data = data.get(step)
            else:
                if type(data) is not list or not -len(data) <= step < len(data):
                    return None
                data = data[step]
        return data

    return many


def _root_names(node: dict[str, Any]) -> set[str]:
    """Names an expression reads from the object it is evaluated against."""
    kind = node["type"]
    children = node.get("children", [])
    if kind == "field":
        return {node["value"]}
    if kind in ("subexpression", "index_expression", "projection", "value_projection",
                "flatten", "pipe", "filter_projection"):
        # Only the left-hand side sees the root; the rest sees its result.
        return _root_names(children[0]) if children else set()
    if kind in ("literal", "current", "index", "slice", "expref", "identity"):
        return set()
    names: set[str] = set()
    for child in children:
        if isinstance(child, dict):
            names |= _root_names(child)
    return names


@dataclass(frozen=True, slots=True)
class Expr:
    """A compiled JMESPath expression; ``expr(data)`` evaluates it."""

    source: str
    # Compared by source: the daemon compares a reloaded config with the
    # running one, and each compile makes a new function.
    search: Callable[[Any], Any] = field(compare=False, repr=False)
    variables: frozenset[str] = frozenset()
    is_path: bool = False

    def __call__(self, data: Any) -> Any:
        return self.search(data)


def compile_expr(source: str) -> Expr:
    if not isinstance(source, str) or not source.strip():
        raise ExprError("an expression must be a non-empty string")
    source = source.strip()
    if source == "@":
        return Expr(source, lambda data: data, frozenset(), False)
    if _DOTTED.match(source):
        steps = _steps(source)
        first = steps[0]
        return Expr(source, _lookup(steps), frozenset({str(first)}), True)
    try:
        parsed = jmespath.compile(source)
    except jmespath_errors.JMESPathError as e:
        raise ExprError(f"invalid JMESPath {source!r}: {_jmespath_reason(e)}") from None
    names = frozenset(_root_names(parsed.parsed))

    def search(data: Any) -> Any:
        return parsed.search(data, _OPTIONS)

    return Expr(source, search, names, False)


def _jmespath_reason(e: Exception) -> str:
    # jmespath's messages span several lines with a caret drawing, and for
    # an incomplete expression say only "Invalid jmespath expression"; build
    # one line from the exception's fields instead.
    if isinstance(e, jmespath_errors.IncompleteExpressionError):
        return "the expression is incomplete"
    if isinstance(e, jmespath_errors.LexerError):
        return f"{e.message} at column {e.lexer_position + 1}"
    if isinstance(e, jmespath_errors.ParseError) and e.lex_position is not None:
        return f"{e.msg} at column {e.lex_position + 1}"
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.S)


def to_text(value: Any) -> str:
    value = reveal(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, separators=(",", ":"), default=str)


@dataclass(frozen=True, slots=True)
class Template:
    """A string with ``{{ expr }}`` placeholders."""

    source: str
    parts: tuple[str | Expr, ...]
    variables: frozenset[str]
    # The parts written ``{{ +expr }}`` (by index): in a request path, their
    # value's slashes are kept (as RFC 6570's ``{+var}``) for APIs whose ids
    # are paths, like Google's ``people/c123``; see render_path.
    keep_slashes: frozenset[int] = frozenset()

    @property
    def is_constant(self) -> bool:
        return all(isinstance(p, str) for p in self.parts)

    def render(self, context: Mapping[str, Any]) -> Any:
        """The value: raw for a lone placeholder, else the text joined."""
        parts = self.parts
        if len(parts) == 1:
            part = parts[0]
            return part if isinstance(part, str) else reveal(part.search(context))
        return "".join(p if isinstance(p, str) else to_text(p.search(context)) for p in parts)

    def render_text(self, context: Mapping[str, Any]) -> str:
        return to_text(self.render(context))


def compile_template(source: str, *, path: bool = False) -> Template:
    """*path*: a request path, where ``{{ +expr }}`` keeps its value's slashes."""
    if not isinstance(source, str):
        raise ExprError("a template must be a string")
    parts: list[str | Expr] = []
    names: set[str] = set()
    keep: set[int] = set()
    pos = 0
    for m in _PLACEHOLDER.finditer(source):
        if m.start() > pos:
            parts.append(source[pos:m.start()])
        inner = m.group(1).strip()
        if inner.startswith("+"):
            if not path:
                raise ExprError(f"'{{{{ +… }}}}' (a value whose slashes are kept) is for request paths only, "
                                f"in {source!r}")
            inner = inner[1:].strip()
            keep.add(len(parts))
        if not inner:
            raise ExprError(f"empty placeholder '{{{{ }}}}' in {source!r}")
        expr = compile_expr(inner)
        names |= expr.variables
        parts.append(expr)
        pos = m.end()
    rest = source[pos:]
    if "{{" in rest or "}}" in rest:
        raise ExprError(f"unbalanced '{{{{' or '}}}}' in template {source!r}")
    if rest or not parts:
        parts.append(rest)
    return Template(source, tuple(parts), frozenset(names), frozenset(keep))


# A value template is a JSON-like structure (params, body) whose strings are
# templates; it renders to the same structure with the placeholders filled.
@dataclass(frozen=True, slots=True)
class ValueTemplate:
    """A JSON-like value whose strings may hold placeholders; ``value(ctx)`` renders it."""

    source: Any  # as written; what equality compares (see Expr)
    render: Callable[[Mapping[str, Any]], Any] = field(compare=False, repr=False)

    def __call__(self, context: Mapping[str, Any]) -> Any:
        return self.render(context)


def compile_value(value: Any) -> tuple[ValueTemplate, frozenset[str]]:
    """Compile a JSON-like value whose strings may hold placeholders."""
    render, names = _compile_value(value)
    return ValueTemplate(value, render), names


def _compile_value(value: Any) -> tuple[Callable[[Mapping[str, Any]], Any], frozenset[str]]:
    if isinstance(value, str):
        t = compile_template(value)
        if t.is_constant:
            return (lambda ctx, v=value: v), frozenset()
        return t.render, t.variables
    if isinstance(value, Mapping):
        items = [(str(k), *_compile_value(v)) for k, v in value.items()]
        names = frozenset().union(*(n for _, _, n in items))
        pairs = [(k, f) for k, f, _ in items]
        return (lambda ctx: {k: f(ctx) for k, f in pairs}), names
    if isinstance(value, list):
        compiled = [_compile_value(v) for v in value]
        fns = [f for f, _ in compiled]
        names = frozenset().union(*(n for _, n in compiled))
        return (lambda ctx: [f(ctx) for f in fns]), names
    return (lambda ctx, v=value: v), frozenset()


@dataclass(frozen=True, slots=True)
class WritePath:
    """A dotted path that sets a value inside a request body.

    Steps are keys, list indexes and :class:`Select` steps; dicts and lists
    are created on the way, and a :class:`Select` that matches no item adds
    one that matches (``emails[?primary].value`` on an empty body gives
    ``{"emails": [{"primary": true, "value": …}]}``)."""

    source: str
    steps: tuple[str | int | Select, ...]
    # The one key of a path that is a top-level key (most fields): set
    # without walking steps (a write sets one per field of every record).
    top: str | None = field(init=False, default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.steps) == 1 and isinstance(self.steps[0], str):
            object.__setattr__(self, "top", self.steps[0])

    @property
    def list_prefix(self) -> WritePath | None:
        """The path of the first list this one goes through (``emails`` in
        ``emails[?primary].value``), or None: where an update that read the
        record first starts from the record's current list."""
        for n, step in enumerate(self.steps):
            if not isinstance(step, str):
                if n == 0:
                    return None
                prefix = self.steps[:n]
                return WritePath(".".join(str(s) for s in prefix), prefix)
        return None

    def get(self, data: Any) -> Any:
        """The value at this path in ``data``, or None (no step is created)."""
        for step in self.steps:
            if isinstance(step, str):
                data = data.get(step) if isinstance(data, dict) else None
            elif not isinstance(data, list):
                return None
            elif isinstance(step, int):
                data = data[step] if step < len(data) else None
            else:
                data = next((item for item in data if step.matches(item)), None)
        return data

    def set(self, body: dict[str, Any], value: Any) -> None:
        if self.top is not None:
            body[self.top] = value
            return
        target: Any = body
        steps = self.steps
        for step, following in zip(steps, steps[1:]):
            empty: Any = {} if isinstance(following, str) else []
            if isinstance(step, str):
                if not isinstance(target.get(step), (dict, list)):
                    target[step] = empty
                target = target[step]
            else:
                n = self._item(target, step)
                if not isinstance(target[n], (dict, list)):
                    target[n] = empty
                target = target[n]
        last = steps[-1]
        if isinstance(last, str):
            target[last] = value
        else:  # an index (compile_write_path refuses a selector here)
            target[self._item(target, last)] = value

    @staticmethod
    def _item(target: list[Any], step: int | Select) -> int:
        """The index of the item ``step`` goes into, added when missing."""
        if isinstance(step, int):
            while len(target) <= step:
                target.append(None)
            return step
        for n, item in enumerate(target):
            if step.matches(item):
                return n
        target.append(step.new_item())
        return len(target) - 1


def compile_write_path(source: str) -> WritePath:
    if not isinstance(source, str) or not _WRITE_PATH.match(source):
        raise ExprError(
            f"{source!r} is not a write path: use dotted keys with optional list "
            "indexes or item selectors, like properties.email, emails[0].value "
            "or emails[?primary].value"
        )
    steps = _write_steps(source)
    if isinstance(steps[-1], Select):
        raise ExprError(
            f"{source!r} ends in an item selector: a selector picks the list item to write "
            "into, so name the key inside it, like emails[?primary].value"
        )
    return WritePath(source, steps)
