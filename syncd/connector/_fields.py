"""Reading records: field extraction and normalisation by declared type.

Each field type has one normaliser that turns what an API sends into the
*stored form*: the one value a record, a snapshot and a planned write carry
from the moment it is read (JSON-ready, so two apps that spell the same
value differently compare equal, and nothing is converted again on the way
to the state store or back out to a request body):

    string    str; numbers become text
    email     trimmed, lower-cased (emails are matched case-insensitively)
    phone     formatting removed: a leading + and the digits ("+1 (555) 010-99"
              → "+155501099"); a value with letters (an extension) is only trimmed
    number    int or float; numeric strings are parsed
    integer   int; "12" and 12.0 are accepted, 12.5 is not
    boolean   bool; also "true"/"false", "yes"/"no", "1"/"0", 1/0
    datetime  ISO 8601 text in UTC with a "Z" ("2024-05-01T12:00:00Z"), from
              ISO 8601, epoch seconds, epoch milliseconds or the field's
              declared strptime formats; :func:`parse_stored_datetime` reads
              it back where a datetime is needed (the ``date`` transform)
    list      a list of strings; a comma-separated string is split
    tags      like list, duplicates removed, sorted (tag order means nothing,
              and an app that reorders tags must not look like a change)

A blank value (None, "" or whitespace) is None for every type but list and
tags, where it is the empty list.  A value that cannot be read as its type
raises :class:`RecordError` naming the field; the other records of the page
are not affected.

A record's ``updated_at`` is its stamp, not a field: it stays an aware
datetime, since every record's is compared with the cursor.

A page is normalised a column at a time (:func:`column_for`): each type's
common shape inline, every other value through the type's normaliser, so
that a column gives what the normaliser gives value by value
(``tests/connector/test_fields_property.py`` holds them to that).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import repeat
from operator import itemgetter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from syncd.config import FieldSpec, ObjectSpec
from syncd.expr import ExprFailure

Normaliser = Callable[[Any], Any]


class FieldValueError(ValueError):
    def __init__(self, message: str, field: str = "") -> None:
        self.field = field  # which field of the record, once known
        super().__init__(message)


def _blank(value: Any) -> bool:
    return value is None or (type(value) is str and not value.strip())


def _string(value: Any) -> Any:
    if type(value) is str:
        return value if value and not value.isspace() else None
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    raise FieldValueError(f"expected text, got {type(value).__name__}")


def _email(value: Any) -> Any:
    if type(value) is str:
        value = value.strip().lower()
        return value or None
    if value is None:
        return None
    raise FieldValueError(f"expected an email address, got {type(value).__name__}")


_PHONE_JUNK = str.maketrans("", "", " \t().-/\u00a0")


def _phone(value: Any) -> Any:
    if type(value) is str:
        # The common shape, as _phone_column takes it: (+)digits once the
        # dashes and spaces are out; what the general path below makes of it.
        compact = value.replace("-", "").replace(" ", "")
        if compact.isdigit() or (compact[:1] == "+" and compact[1:].isdigit()):
            return compact
    return _phone_parsed(value)


def _phone_parsed(value: Any) -> Any:
    """:func:`_phone` of any value: formatting removed, as the module docstring says."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # then as text, so that the result reads the same again
    if type(value) is not str:
        raise FieldValueError(f"expected a phone number, got {type(value).__name__}")
    stripped = value.strip()
    compact = stripped.translate(_PHONE_JUNK)
    body = compact[1:] if compact.startswith("+") else compact
    if body.isdigit():
        return compact
    return stripped or None


def _number(value: Any) -> Any:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if type(value) is float and math.isfinite(value):  # NaN never equals itself: every diff would change
        return value
    if type(value) is str:
        text = value.strip().replace(",", "") if value.count(",") and "." in value else value.strip()
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            if math.isfinite(number):  # "nan" and "inf" parse, but are no amounts
                return number
    raise FieldValueError(f"expected a number, got {value!r:.40}")


def _integer(value: Any) -> Any:
    number = _number(value)
    if number is None or type(number) is int:
        return number
    if number.is_integer():
        return int(number)
    raise FieldValueError(f"expected a whole number, got {value!r:.40}")


_TRUE = frozenset({"true", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "no", "n", "0", "off"})


def _boolean(value: Any) -> Any:
    if value is None or type(value) is bool:
        return value
    if type(value) is int and value in (0, 1):
        return bool(value)
    if type(value) is str:
        text = value.strip().lower()
        if not text:
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise FieldValueError(f"expected true or false, got {value!r:.40}")


_EPOCH_MS_THRESHOLD = 100_000_000_000  # larger epochs are milliseconds (after 1973 in ms)


def _from_epoch(number: float) -> datetime:
    seconds = number / 1000 if abs(number) >= _EPOCH_MS_THRESHOLD else number
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):  # NaN, or past what a datetime holds
        raise FieldValueError(f"expected a date/time, got {number!r:.40}") from None


fromisoformat = datetime.fromisoformat


def utc_text(moment: datetime) -> str:
    """An aware datetime in the stored form: ISO 8601, UTC, "Z"."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_stored_datetime(text: str) -> datetime:
    """A stored datetime (:func:`utc_text`) back to an aware datetime."""
    return fromisoformat(text)


def datetime_parser(formats: Sequence[str] = ()) -> Callable[[Any], datetime | None]:
    """What an API sends as a date/time, as an aware UTC datetime (stamps)."""
    def parse(value: Any) -> Any:
        if type(value) is str and value[4:5] == "-" and value[-1:] == "Z":
            # The common shape, "2024-05-01T12:00:00Z": straight to the ISO parser.
            try:
                return fromisoformat(value).astimezone(UTC)
            except ValueError:
                pass  # the general path below says what is wrong
        if value is None:
            return None
        if type(value) is datetime:
            return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return _from_epoch(value)
        if type(value) is not str:
            raise FieldValueError(f"expected a date/time, got {type(value).__name__}")
        text = value.strip()
        if not text:
            return None
        if len(text) > 8 and text.lstrip("-").replace(".", "", 1).isdigit():
            # Epoch seconds or milliseconds as text. Python's ISO parser
            # would read "1701011200000" as a basic-format date in 1701;
            # eight digits stay a date (YYYYMMDD).
            return _from_epoch(float(text))
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            parsed = None
            for fmt in formats:
                try:
                    parsed = datetime.strptime(text, fmt)
                    break
                except ValueError:
                    continue
            if parsed is None:
                try:
                    return _from_epoch(float(text))
                except ValueError:
                    wanted = "ISO 8601, epoch seconds or milliseconds"
                    if formats:
                        wanted += " or " + ", ".join(repr(f) for f in formats)
                    raise FieldValueError(f"expected a date/time ({wanted}), got {text!r:.40}") from None
        assert parsed is not None  # every branch above returned, raised or parsed
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)

    return parse


def _canonical_utc(value: str) -> bool:
    """Already in the stored form without fractions: "2024-05-01T12:00:00Z".

    The separators are checked here and the digits by the ISO parser, so a
    value that passes is exactly what :func:`utc_text` would make of it."""
    return (len(value) == 20 and value[19] == "Z" and value[4] == "-" and value[7] == "-"
            and value[10] == "T" and value[13] == ":" and value[16] == ":")


def datetime_normaliser(formats: Sequence[str] = ()) -> Normaliser:
    """The ``datetime`` field type: what an API sends, as stored text."""
    parse = datetime_parser(formats)

    def normalise(value: Any) -> Any:
        if type(value) is str and _canonical_utc(value):
            try:
                fromisoformat(value)
                return value
            except ValueError:
                pass  # the parser says what is wrong
        moment = parse(value)
        return None if moment is None else utc_text(moment)

    return normalise


def _string_list(value: Any) -> list[str]:
    if _blank(value):
        return []
    if type(value) is str:
        return [part.strip() for part in value.split(",") if part.strip()]
    if type(value) is list:
        out = []
        for item in value:
            if item is None:
                continue
            if type(item) is not str:
                item = _string(item)
            out.append(item)
        return out
    raise FieldValueError(f"expected a list of strings, got {type(value).__name__}")


_TEXT_ONLY = {str}


def _tags(value: Any) -> list[str]:
    if type(value) is list and {*map(type, value)} == _TEXT_ONLY:
        # The common shape: already a list of text; only duplicates to drop.
        return sorted(set(value))
    return sorted(set(_string_list(value)))


_SIMPLE: dict[str, Normaliser] = {
    "string": _string, "email": _email, "phone": _phone, "number": _number,
    "integer": _integer, "boolean": _boolean, "list": _string_list, "tags": _tags,
}


def keeps_text(normalise: Normaliser | None) -> bool:
    """Whether *normalise* gives back any text that is not blank as it is (the
    string type's): a caller holding such text may skip the call."""
    return normalise is _string


def normaliser_for(field: FieldSpec) -> Normaliser | None:
    if field.type is None:
        return None
    if field.type == "datetime":
        return datetime_normaliser(field.formats) if field.formats else _ISO_DATETIME
    return _SIMPLE[field.type]


_ISO_STAMP = datetime_parser()
_ISO_DATETIME = datetime_normaliser()

# Column normalisers: a whole column of a page at once, the common shape of
# each type inlined (no call per value) and every other value through the
# type's normaliser above, so the results are the same value for value.
Column = Callable[[list[Any]], list[Any]]


def _string_column(values: list[Any]) -> list[Any]:
    return [(v if v and not v.isspace() else None) if type(v) is str else _string(v) for v in values]


def _email_column(values: list[Any]) -> list[Any]:
    return [(v.strip().lower() or None) if type(v) is str else _email(v) for v in values]


def _tags_column(values: list[Any]) -> list[Any]:
    # Most tag lists are empty or hold one tag: nothing to drop or sort.
    return [
        v if type(v) is list and (not v or (len(v) == 1 and type(v[0]) is str)) else _tags(v)
        for v in values
    ]


def _phone_column(values: list[Any]) -> list[Any]:
    # The common shape, "+1-555-010-9999" or "555 0100": without its dashes
    # and spaces it is (+)digits, exactly what _phone makes of it.
    return [
        c if type(v) is str and (
            (c := v.replace("-", "").replace(" ", "")).isdigit() or (c[:1] == "+" and c[1:].isdigit())
        ) else _phone(v)
        for v in values
    ]


def _stamp_column(values: list[Any]) -> list[Any]:
    """``updated_at`` stamps: aware datetimes, as :data:`_ISO_STAMP` reads them."""
    try:
        # The common shape, "2024-05-01T12:00:00Z", as in datetime_parser.
        # A "Z" stamp parses as UTC already: astimezone would only copy it.
        return [
            (d if (d := fromisoformat(v)).tzinfo is UTC else d.astimezone(UTC))
            if type(v) is str and v[4:5] == "-" and v[-1:] == "Z"
            else _ISO_STAMP(v)
            for v in values
        ]
    except ValueError:  # a FieldValueError, or a Z-shaped value the ISO parser refused
        return [_ISO_STAMP(v) for v in values]


def _iso_column(values: list[Any]) -> list[Any]:
    # Most values come in the stored form already: checked, kept as they are.
    try:
        return [
            v if type(v) is str and _canonical_utc(v) and fromisoformat(v) else _ISO_DATETIME(v)
            for v in values
        ]
    except ValueError:  # a FieldValueError, or a canonical-looking value the ISO parser refused
        return [_ISO_DATETIME(v) for v in values]


def column_for(normalise: Normaliser | None) -> Column | None:
    if normalise is None:
        return None
    special = _COLUMNS.get(normalise)
    if special is not None:
        return special
    return lambda values: [normalise(v) for v in values]


_COLUMNS: dict[Normaliser, Column] = {
    _string: _string_column, _email: _email_column, _tags: _tags_column, _phone: _phone_column,
    _ISO_DATETIME: _iso_column,
}


@dataclass(slots=True)
class Record:
    """One record as read through a spec: its id, normalised fields, stamps."""

    id: str
    fields: dict[str, Any]
    updated_at: datetime | None = None
    deleted: bool = False


def _id_text(value: Any) -> str:
    if type(value) is str:
        return value
    if value is None or isinstance(value, (dict, list, bool)):
        raise FieldValueError(f"the record id must be text or a number, got {value!r:.40}")
    return str(value)


class Extractor:
    """Turns raw records into :class:`Record` objects for one object spec.

    Built once per connector instance.  The per-record path is the hot loop
    of every read (100,000 records a bulk read), so it is kept flat: a field
    that is a top-level key is read with ``dict.get`` directly, and a field
    without a type is not passed through a normaliser at all.
    """

    def __init__(self, spec: ObjectSpec, only: Iterable[str] | None = None,
                 lookups: Mapping[str, Callable[[Any], Any]] | None = None) -> None:
        """``only``: the fields to read (default all). A field nobody uses is
        not read, so a bad value in it cannot make its record unreadable.
        ``lookups``: for a field given as ids, what turns its value into
        names (see ``_lookups``), before its type's normaliser."""
        wanted = spec.fields.values() if only is None else [spec.fields[f] for f in only]
        lookups = lookups or {}
        self.read_id = spec.id.search
        self.id_key = _top_level_key(spec.id)
        self.read_updated = spec.updated_at.search if spec.updated_at else None
        self.updated_key = _top_level_key(spec.updated_at) if spec.updated_at else None
        self.read_deleted = spec.deleted.search if spec.deleted else None
        # (name, top-level key or None, reader, normaliser or None)
        self.steps = tuple(
            (f.name, _top_level_key(f.read), f.read.search, normaliser_for(f)) if f.name not in lookups
            else (f.name, None, _translated(f.read.search, lookups[f.name]), normaliser_for(f))
            for f in wanted
        )
        self._normalisers = {f.name: normaliser_for(f) for f in spec.fields.values()}
        self._names = tuple(name for name, *_ in self.steps)
        self._columns = [column_for(normalise) for *_, normalise in self.steps]
        # A page is read a column at a time: the id, each field, updated_at.
        # The values at top-level keys come from one C-level pass over the
        # page (itemgetter, then a transpose), the rest through their reader.
        self._reads: list[tuple[str | None, Any]] = [(self.id_key, self.read_id)]
        self._reads += [(key, read) for _, key, read, _ in self.steps]
        if self.read_updated is not None:
            self._reads.append((self.updated_key, self.read_updated))
        keys = [key for key, _ in self._reads if key is not None]
        self._top = {key: i for i, key in enumerate(keys)}
        self._getter = itemgetter(*keys) if len(keys) > 1 else None

    def normaliser(self, name: str) -> Normaliser:
        return self._normalisers.get(name) or (lambda value: value)

    def page(self, raws: list[Any]) -> list[Record] | None:
        """Every record of a page, a field at a time; None if any value is bad.

        Reading column by column runs each field's lookup and normaliser in
        one tight loop, twice as fast as record by record on a bulk read.
        A page with a bad value (rare) returns None and the caller reads it
        record by record, which names the record and the field.
        """
        for raw in raws:
            if type(raw) is not dict:
                return None
        if not raws:
            return []
        top: list[Any] | None = None
        if self._getter is not None:
            try:
                top = list(zip(*map(self._getter, raws)))
            except KeyError:  # a record without one of the keys: read them one by one
                top = None
        try:
            values = [
                (top[self._top[key]] if top is not None else [r.get(key) for r in raws]) if key is not None
                else [read(r) for r in raws]
                for key, read in self._reads
            ]
        except (FieldValueError, ExprFailure):  # a read refused a record: read them one by one
            return None
        ids = values[0]
        updated = values[-1] if self.read_updated is not None else None
        fields = values[1: 1 + len(self.steps)]
        try:
            columns = [
                vals if column is None else column(vals)
                for vals, column in zip(fields, self._columns)
            ]
            stamps = _stamp_column(updated) if updated is not None else repeat(None)
        except FieldValueError:
            return None
        if not all(type(i) is str for i in ids):
            try:
                ids = [_id_text(i) for i in ids]
            except FieldValueError:
                return None
        rows = map(dict, map(zip, repeat(self._names), zip(*columns))) if columns else ({} for _ in ids)
        records = list(map(Record, ids, rows, stamps))
        if self.read_deleted is not None:
            for record, raw in zip(records, raws):
                record.deleted = bool(self.read_deleted(raw))
        return records

    def record(self, raw: Any) -> Record:
        """One record; raises FieldValueError naming the field that failed."""
        if type(raw) is not dict:
            raise FieldValueError(f"expected a JSON object, got {type(raw).__name__}")
        get = raw.get
        try:
            rid = get(self.id_key) if self.id_key is not None else self.read_id(raw)
        except ExprFailure as e:
            raise FieldValueError(f"id: {e}", field="id") from None
        if type(rid) is not str:
            try:
                rid = _id_text(rid)
            except FieldValueError as e:
                raise FieldValueError(f"id: {e}", field="id") from None
        fields = {}
        name = ""
        try:
            for name, key, read, normalise in self.steps:
                value = get(key) if key is not None else read(raw)
                fields[name] = value if normalise is None else normalise(value)
        except (FieldValueError, ExprFailure) as e:
            raise FieldValueError(f"field {name!r}: {e}", field=name) from None
        updated = None
        if self.read_updated is not None:
            value = get(self.updated_key) if self.updated_key is not None else self.read_updated(raw)
            try:
                updated = _ISO_STAMP(value)
            except FieldValueError as e:
                raise FieldValueError(f"updated_at: {e}", field="updated_at") from None
        deleted = bool(self.read_deleted(raw)) if self.read_deleted is not None else False
        return Record(rid, fields, updated, deleted)


def _translated(read: Callable[[Any], Any], translate: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda raw: translate(read(raw))


def _top_level_key(expr: Any) -> str | None:
    source: str = expr.source
    if expr.is_path and "." not in source and "[" not in source:
        return source
    return None
