"""Value conversion: one field mapping, one direction.

A :class:`Flow` is a field mapping seen from its source side: it turns the
source record's values (in the stored form their field types give them,
see ``syncd.connector._fields``) into the values of the target fields,
normalised by the *target* fields' types, so that what syncd writes
compares equal to what the app echoes back.

Steps, in order:

1. a blank source (None, "", white space, an empty list) gives the
   mapping's ``default:`` when it has one, else blank target values;
2. the transform: ``join_name`` / ``split_name`` (by the shape of the
   mapping: several fields into one joins, one into several splits, keeping
   the target's part that did not change, see :func:`update_name`),
   ``lower`` and ``trim`` (on text, and on each item of a list), ``first``
   (the first item of a list; the other way, the value becomes the first
   item of the target's list, the rest kept), ``date`` (a datetime field's
   value to text in ``format:``, text in ``format:`` to a datetime field);
3. ``values:``: the map from left to right values, or its inverse from
   right to left.  A value the map does not name has no translation: the
   mapping's ``default:`` is written if it has one, otherwise nothing (not
   even with ``clear: true``: an untranslatable value is not a blank one).
   Right to left, a value that several left values map to (once the
   fields' types normalise them) has no translation either;
4. a list going into a single-valued text field becomes "a, b" (the list
   types split that back); a datetime goes into a text field as its stored
   ISO 8601 text;
5. each target value is normalised by its field's type.

A value that cannot be converted (text that does not match the date format,
"abc" into an integer field) raises :class:`TransformError`; the planner
leaves that mapping out for that record and reports why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from syncd.config import FieldMapping, FieldSpec, ObjectSpec, SideName
from syncd.connector import keeps_text, normaliser_for, parse_stored_datetime
from syncd.expr import to_text
from syncd.sync._names import join_name, split_name, update_name

__all__ = ["NOTHING", "Flow", "TransformError", "is_blank", "joined", "same_value"]

LIST_TYPES: Final = frozenset({"list", "tags"})
_TEXT_TYPES: Final = frozenset({"string", "email", "phone"})


class _Nothing:
    def __repr__(self) -> str:
        return "NOTHING"


NOTHING: Final = _Nothing()
"""No value to write (a value ``values:`` cannot translate)."""


class TransformError(ValueError):
    """A source value that cannot be converted for its target field."""


def is_blank(value: Any) -> bool:
    """None, empty or white-space text, an empty list: no information."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, dict, set)):
        return not value
    return False


def same_value(a: Any, b: Any, field_type: str | None = None) -> bool:
    """Equal as far as a write is concerned: two blanks are equal, tags ignore order."""
    if is_blank(a) and is_blank(b):
        return True
    if field_type == "tags" and isinstance(a, list) and isinstance(b, list):
        try:
            return set(a) == set(b)
        except TypeError:
            return a == b
    if type(a) is bool or type(b) is bool:  # True == 1 in Python, not in a record
        return a is b
    return bool(a == b)


def _identity(value: Any) -> Any:
    return value


def _safe(normalise: Callable[[Any], Any], value: Any) -> Any:
    try:
        out = normalise(value)
        hash(out)
    except (ValueError, TypeError):  # normalisers raise ValueError subclasses
        return value
    return out


def _value_map(pairs: Any, key_norm: Callable[[Any], Any],
               value_norm: Callable[[Any], Any], *, inverse: bool = False) -> dict[Any, Any]:
    """*pairs* as a map of normalised keys to normalised values.

    Read forwards, two keys that one field type makes the same (``1`` and
    ``"01"`` into an integer field) mean the first.  Read backwards (*inverse*:
    the keys are the map's values), they are two left values the right one
    came from: it has no single translation, so it has none (:data:`NOTHING`,
    nothing written), rather than the first one, which would overwrite the
    other left value on the way back.  ``syncd validate`` refuses values
    written twice, but not two spellings the field's type makes equal
    ("X@a.io" and "x@a.io" into an email field).
    """
    out: dict[Any, Any] = {}
    for key, value in pairs:
        key, value = _safe(key_norm, key), _safe(value_norm, value)
        if inverse and key in out and not same_value(out[key], value):
            out[key] = NOTHING
        else:
            out.setdefault(key, value)
    return out


@dataclass(frozen=True, slots=True)
class Flow:
    """One field mapping in one direction, ready to convert records."""

    index: int  # the mapping's position in ``fields:``
    source: SideName
    source_fields: tuple[str, ...]
    source_types: tuple[str | None, ...]
    target_fields: tuple[str, ...]
    target_types: tuple[str | None, ...]
    normalisers: tuple[Callable[[Any], Any], ...]
    transform: str | None
    format: str | None
    values: Mapping[Any, Any] | None
    defaults: tuple[Any, ...] | None  # normalised target values for a blank source
    clear: bool

    @classmethod
    def compile(cls, index: int, mapping: FieldMapping, source: SideName,
                source_object: ObjectSpec, target_object: ObjectSpec) -> Flow:
        target: SideName = "right" if source == "left" else "left"
        src = getattr(mapping, source)
        tgt = getattr(mapping, target)
        specs: list[FieldSpec | None] = [target_object.fields.get(f) for f in tgt]
        normalisers = tuple(
            (normaliser_for(s) if s is not None else None) or _identity for s in specs)
        values = None
        if mapping.values is not None:
            left_norm = _normaliser(source_object if source == "left" else target_object,
                                    mapping.left[0])
            right_norm = _normaliser(target_object if source == "left" else source_object,
                                     mapping.right[0])
            pairs = list(mapping.values.items())
            values = (_value_map(pairs, left_norm, right_norm) if source == "left"
                      else _value_map([(v, k) for k, v in pairs], right_norm, left_norm, inverse=True))
        defaults = None
        if mapping.default is not None:
            raw = split_name(mapping.default) if len(tgt) == 2 else (mapping.default,) * len(tgt)
            defaults = tuple(_safe(n, v) for n, v in zip(normalisers, raw))
        return cls(
            index=index, source=source, source_fields=src,
            source_types=tuple(_type(source_object, f) for f in src), target_fields=tgt,
            target_types=tuple(s.type if s is not None else None for s in specs),
            normalisers=normalisers, transform=mapping.transform, format=mapping.format,
            values=values, defaults=defaults, clear=mapping.clear,
        )

    @property
    def plain_copy(self) -> tuple[str, str, Callable[[Any], Any] | None, bool, bool] | None:
        """For a copy of one field into one, as it is (no transform, ``values:``
        nor ``default:``): (source field, target field, the target's normaliser
        or None, whether a list is joined into text first, whether the
        normaliser gives text that is not blank back as it is), all that
        :meth:`convert` does with it; None for any other mapping."""
        if (self.transform is not None or self.values is not None or self.defaults is not None
                or len(self.source_fields) != 1 or len(self.target_fields) != 1):
            return None
        normalise = self.normalisers[0]
        return (self.source_fields[0], self.target_fields[0], None if normalise is _identity else normalise,
                self.target_types[0] in _TEXT_TYPES, keeps_text(normalise))

    @property
    def label(self) -> str:
        """``fields[2] (first_name, last_name -> full_name)``, for messages."""
        arrow = f"{', '.join(self.source_fields)} -> {', '.join(self.target_fields)}"
        return f"fields[{self.index}] ({arrow})"

    def convert(self, source: Mapping[str, Any], target: Mapping[str, Any]) -> dict[str, Any] | None:
        """Target field values for a source record, or None for nothing to write.

        *target* is the target record as last seen (empty when it is being
        created): split names and ``first`` keep what they can of it.
        """
        if (self.transform is None and self.values is None and len(self.source_fields) == 1
                and len(self.target_fields) == 1):
            return self._convert_one(source)
        given = tuple(source.get(f) for f in self.source_fields)
        current = tuple(target.get(f) for f in self.target_fields)
        if all(is_blank(v) for v in given):
            out: Any = self.defaults or (None,) * len(self.target_fields)
        else:
            out = self._transform(given, current)
            if out is NOTHING:
                if self.defaults is None:
                    return None
                out = self.defaults
            elif self.defaults is not None and all(is_blank(v) for v in out):
                out = self.defaults
        result = {}
        for name, kind, normalise, value in zip(self.target_fields, self.target_types,
                                                self.normalisers, out):
            value = _coerce(value, kind)
            try:
                result[name] = normalise(value)
            except ValueError as e:  # the normaliser's FieldValueError
                raise TransformError(f"{self.label}: {name}: {e}") from None
        return result

    def _convert_one(self, source: Mapping[str, Any]) -> dict[str, Any]:
        """:meth:`convert` of one field to one field, as it is (most
        mappings): the same result without the tuples a join or a split needs."""
        name = self.target_fields[0]
        value = source.get(self.source_fields[0])
        if is_blank(value):
            value = self.defaults[0] if self.defaults else None
        try:
            return {name: self.normalisers[0](_coerce(value, self.target_types[0]))}
        except ValueError as e:  # the normaliser's FieldValueError
            raise TransformError(f"{self.label}: {name}: {e}") from None

    def _transform(self, given: tuple[Any, ...], current: tuple[Any, ...]) -> Any:
        if len(given) > 1:  # join_name (or split_name's way back)
            return (join_name(*given),)
        value = given[0]
        if len(self.target_fields) > 1:  # split_name (or join_name's way back)
            first, last = current[0], current[1] if len(current) > 1 else None
            if is_blank(first) and is_blank(last):
                return split_name(value)
            return update_name(first, last, value)
        kind = self.transform
        if kind == "lower":
            value = _each(value, str.lower)
        elif kind == "trim":
            value = _each(value, str.strip)
        elif kind == "first":
            value = self._first(value, current[0])
        elif kind == "date":
            value = self._date(value)
        if self.values is not None:
            value = self._translate(value)
            if value is NOTHING:
                return NOTHING
        return (value,)

    def _first(self, value: Any, current: Any) -> Any:
        if isinstance(value, list):
            return next((v for v in value if not is_blank(v)), None)
        if self.target_types[0] in LIST_TYPES or isinstance(current, list):
            rest = current if isinstance(current, list) else []
            return [value, *(v for v in rest if v != value)]
        return value

    def _date(self, value: Any) -> Any:
        fmt = self.format or "%Y-%m-%d"
        if self.source_types[0] == "datetime" and isinstance(value, str):
            return parse_stored_datetime(value).strftime(fmt)
        if isinstance(value, str):
            try:
                parsed = datetime.strptime(value.strip(), fmt)
            except ValueError:
                raise TransformError(
                    f"{self.label}: {value!r:.40} does not match the date format {fmt!r}") from None
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        return value

    def _translate(self, value: Any) -> Any:
        assert self.values is not None
        try:
            if value in self.values:
                return self.values[value]
        except TypeError:  # a list: no single translation
            return NOTHING
        if not isinstance(value, str):
            return self.values.get(to_text(value), NOTHING)
        return NOTHING


def _type(obj: ObjectSpec, name: str) -> str | None:
    spec = obj.fields.get(name)
    return spec.type if spec is not None else None


def _normaliser(obj: ObjectSpec, name: str) -> Callable[[Any], Any]:
    spec = obj.fields.get(name)
    return (normaliser_for(spec) if spec is not None else None) or _identity


def _each(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [fn(v) if isinstance(v, str) else v for v in value]
    return value


def _coerce(value: Any, kind: str | None) -> Any:
    if kind in _TEXT_TYPES and isinstance(value, list):
        return joined(value)
    return value


def joined(value: list[Any]) -> str | None:
    """A list going into a single-valued text field: "a, b" (None: all blank)."""
    return ", ".join(to_text(v) for v in value if not is_blank(v)) or None
