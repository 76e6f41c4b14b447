"""Properties of the normalisers, over values Hypothesis makes up.

One normaliser per field type defines the stored form. Two things are held
to it here, for every value, not only the examples of ``test_fields.py``:

- each column fast path (a page read a field at a time) gives what the
  type's normaliser gives value by value, and refuses what it refuses;
- the stored form is a fixed point: normalising a stored value again (it is
  what a mapping writes into a field of the same type) changes nothing, so
  a quiet cycle sees no change.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from syncd.connector._fields import (
    _ISO_DATETIME,
    _ISO_STAMP,
    _SIMPLE,
    FieldValueError,
    _stamp_column,
    column_for,
    parse_stored_datetime,
    utc_text,
)

TYPES = ["string", "email", "phone", "tags", "list", "datetime", "integer", "boolean", "number"]


def _normaliser(type_: str) -> Any:
    return _ISO_DATETIME if type_ == "datetime" else _SIMPLE[type_]


moments = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-4, minutes=-30))]))

# Text shaped like what APIs send: ISO stamps in several spellings, phones,
# emails, numbers as text, and plain noise around them.
iso_text = st.one_of(
    moments.map(lambda m: m.isoformat()),
    moments.map(lambda m: utc_text(m)),
    moments.map(lambda m: m.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
    moments.map(lambda m: m.strftime("%Y-%m-%d %H:%M:%S")),
    # the stored shape with a digit or separator swapped for anything
    st.tuples(moments.map(utc_text), st.integers(0, 19), st.characters()).map(
        lambda t: t[0][:t[1]] + t[2] + t[0][t[1] + 1:]),
)
phone_text = st.from_regex(r"\A\+?[0-9 ()\-./]{0,16}( ?(ext|x)\.? ?[0-9]{1,4})?\Z")
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**15, 10**15),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30), iso_text, phone_text,
    st.emails().map(lambda e: f"  {e.upper()} "),
)
values = st.one_of(scalars, st.lists(st.one_of(st.none(), st.integers(0, 3), st.text(max_size=3)), max_size=5),
                   st.dictionaries(st.text(max_size=2), st.integers(), max_size=2))


def _outcome(normalise: Any, value: Any) -> tuple[str, Any]:
    try:
        return "ok", normalise(value)
    except FieldValueError as e:
        return "refused", str(e)


@pytest.mark.parametrize("type_", TYPES)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(column_values=st.lists(values, max_size=8))
@example(column_values=["2024-05-01T12:00:00Z", "2024-05-01T12:00:00.5+02:00", "2024-02-30T00:00:00Z"])
@example(column_values=["+1-555-138-3992", "555 0100", "1-2-3\n", "\u00b2\u00b3", ["b", "a", "b"], ["a"]])
def test_a_column_gives_what_the_normaliser_gives(type_: str, column_values: list[Any]) -> None:
    normalise = _normaliser(type_)
    column = column_for(normalise)
    assert column is not None
    outcomes = [_outcome(normalise, v) for v in column_values]
    refused = [why for kind, why in outcomes if kind == "refused"]
    if refused:
        # The column refuses too, naming the first value the normaliser refuses.
        with pytest.raises(FieldValueError, match=re.escape(refused[0])):
            column(column_values)
    else:
        assert column(column_values) == [out for _, out in outcomes]


@pytest.mark.parametrize("type_", TYPES)
@settings(max_examples=150, deadline=None)
@given(value=values)
def test_the_stored_form_is_a_fixed_point(type_: str, value: Any) -> None:
    normalise = _normaliser(type_)
    kind, stored = _outcome(normalise, value)
    if kind == "ok":
        assert normalise(stored) == stored
        assert type(normalise(stored)) is type(stored)


@settings(max_examples=150, deadline=None)
@given(moment=moments)
def test_a_stored_datetime_holds_the_moment_read(moment: datetime) -> None:
    stored = _ISO_DATETIME(moment.isoformat())
    assert stored == utc_text(moment) and stored.endswith("Z")
    assert parse_stored_datetime(stored) == moment
    assert _ISO_STAMP(moment.isoformat()) == moment  # the updated_at stamp: the same moment, as a datetime


@settings(max_examples=150, deadline=None)
@given(column_values=st.lists(st.one_of(st.none(), iso_text, st.integers(0, 2 * 10**12)), max_size=8))
def test_the_stamp_column_gives_what_the_stamp_parser_gives(column_values: list[Any]) -> None:
    outcomes = [_outcome(_ISO_STAMP, v) for v in column_values]
    if any(kind == "refused" for kind, _ in outcomes):
        with pytest.raises(FieldValueError):
            _stamp_column(column_values)
    else:
        assert _stamp_column(column_values) == [out for _, out in outcomes]
