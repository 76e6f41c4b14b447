"""The column and scalar normalisers agree, on whole pages.

``tests/connector/test_fields_property.py`` holds each type's column
function to its normaliser, value by value, and the stored form to being a
fixed point.  This suite holds the two whole paths a read takes to each
other, over pages Hypothesis makes up (missing keys, nested paths, ids and
stamps of every shape, bad values among good ones):

- the page path (``Extractor.page``: a column at a time, what every read
  tries first) gives, record for record, what the record path
  (``Extractor.record``: what a read falls back to, and what a webhook or a
  ``get`` reads) gives; it gives up (None) exactly when the record path
  refuses a record of the page, and refuses only with FieldValueError;
- with a field's declared ``format:`` (the normaliser without a column of
  its own) the same holds, and the stored form is a fixed point;
- normalising a record's stored fields again changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from soak.props_support import examples
from syncd.config import build_connector
from syncd.connector._fields import Extractor, FieldValueError, utc_text

TYPES = ["string", "email", "phone", "number", "integer", "boolean", "datetime", "list", "tags"]
FORMATS = ["%d/%m/%Y", "%Y-%m-%d %H:%M", "%b %d %Y"]


def _object(id_path: str) -> Any:
    fields: dict[str, Any] = {t: {"path": t, "type": t} for t in TYPES}
    fields |= {
        "untyped": {"path": "untyped"},
        "score": {"path": "custom.score", "type": "integer"},  # nested: read by its reader, not by key
        "city": {"read": "address.city || address.town", "type": "string"},  # a JMESPath read
        "born": {"path": "born", "type": "datetime", "format": FORMATS},
    }
    doc = {"connector": "app", "title": "App", "base_url": "https://app.example",
           "objects": {"contacts": {"id": id_path, "updated_at": "updated_at", "deleted": "archived",
                                    "fields": fields, "list": {"path": "/c"}}}}
    spec, errors = build_connector(doc)
    assert spec is not None and not errors, errors
    return spec.objects["contacts"]


OBJECTS = {path: _object(path) for path in ("id", "meta.id")}

moments = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1),
                       timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]))
stamps = st.one_of(
    st.none(), moments.map(utc_text), moments.map(lambda m: m.isoformat()),
    st.integers(0, 2 * 10**12), moments.map(lambda m: m.strftime("%Y-%m-%d")),
    st.sampled_from(["", " ", "2024-02-30T00:00:00Z", "yesterday", "1701011200000", "20240501"]),
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(), st.text(max_size=12),
    stamps, moments.map(lambda m: m.strftime(FORMATS[0])), moments.map(lambda m: m.strftime(FORMATS[2])),
    st.from_regex(r"\A\+?[0-9 ()\-]{0,14}\Z"), st.sampled_from(["yes", "no", "1", "0", "true", " X@Y.io "]),
)
values = st.one_of(scalars, st.lists(st.one_of(st.none(), st.integers(0, 3), st.text(max_size=3)), max_size=4))
ids = st.one_of(st.text(min_size=1, max_size=6), st.integers(0, 10**9), st.none(), st.floats(), st.booleans())


@st.composite
def raw_records(draw: st.DrawFn, nested_id: bool) -> Any:
    optional: dict[str, Any] = {name: values for name in [*TYPES, "untyped", "born"]}
    optional |= {"custom": st.one_of(st.none(), st.fixed_dictionaries({}, optional={"score": values})),
                 "address": st.fixed_dictionaries({}, optional={"city": values, "town": values}),
                 "updated_at": stamps, "archived": st.one_of(st.none(), st.booleans(), st.integers(0, 1))}
    key = "meta" if nested_id else "id"
    id_value = ids.map(lambda i: {"id": i}) if nested_id else ids
    record = draw(st.fixed_dictionaries({key: id_value}, optional=optional))
    if draw(st.integers(0, 40)) == 0:
        return draw(st.one_of(st.none(), st.integers(), st.lists(st.integers(), max_size=1)))  # not an object
    return record


def _by_record(extractor: Extractor, raw: Any) -> Any:
    try:
        return extractor.record(raw)
    except FieldValueError as e:
        return e


@examples(50)
@given(data=st.data(), nested_id=st.booleans())
def test_a_page_reads_as_its_records_read_one_by_one(data: st.DataObject, nested_id: bool) -> None:
    extractor = Extractor(OBJECTS["meta.id" if nested_id else "id"])
    raws = data.draw(st.lists(raw_records(nested_id), max_size=5))
    one_by_one = [_by_record(extractor, raw) for raw in raws]
    page = extractor.page(raws)
    refused = [r for r in one_by_one if isinstance(r, FieldValueError)]
    if refused:
        assert page is None, f"the page path read what the record path refused: {refused[0]}"
    else:
        assert page == one_by_one


@examples(40)
@given(raws=st.lists(st.fixed_dictionaries({"id": st.text(min_size=1, max_size=4)},
                                           optional={"born": values, "datetime": values}), max_size=6))
@example(raws=[{"id": "a", "born": "05/01/2024"}, {"id": "b", "born": "2024-01-05 12:30"},
               {"id": "c", "born": "Jan 05 2024"}, {"id": "d", "born": "2024-01-05T12:30:00+02:00"}])
def test_a_field_with_formats_reads_the_same_on_both_paths_and_settles(raws: list[dict[str, Any]]) -> None:
    obj = OBJECTS["id"]
    extractor = Extractor(obj, only=["born", "datetime"])
    one_by_one = [_by_record(extractor, raw) for raw in raws]
    page = extractor.page(raws)
    if any(isinstance(r, FieldValueError) for r in one_by_one):
        assert page is None
        return
    assert page == one_by_one
    # The stored form read again (what a snapshot or a mapping hands back) is itself.
    for record in one_by_one:
        again = extractor.page([{"id": record.id, **record.fields}])
        assert again is not None and again[0].fields == record.fields


@examples(50)
@given(raw=raw_records(nested_id=False))
def test_a_record_read_again_from_its_stored_fields_is_the_same(raw: Any) -> None:
    # A record written to an app of the same spec comes back as it was.
    extractor = Extractor(OBJECTS["id"], only=[*TYPES, "untyped", "born"])
    first = _by_record(extractor, raw)
    if isinstance(first, FieldValueError) or first is None:
        return
    again = extractor.record({"id": first.id, **first.fields})
    assert again.fields == first.fields
    assert {k: type(v) for k, v in again.fields.items()} == {k: type(v) for k, v in first.fields.items()}
