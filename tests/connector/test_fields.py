"""Fields: each type's normaliser, and a bad value costs one record, not the page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from syncd.config import FieldSpec
from syncd.connector import ConnectorError, RecordError, parse_stored_datetime
from syncd.connector._fields import FieldValueError, normaliser_for, utc_text
from syncd.expr import compile_expr

pytestmark = pytest.mark.anyio

MAY_1 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
NOON = "2024-05-01T12:00:00Z"  # MAY_1 in the stored form


def norm(type_: str, formats: tuple[str, ...] = ()) -> Any:
    spec = FieldSpec(name="f", read=compile_expr("f"), write=None, type=type_, formats=formats)  # type: ignore[arg-type]
    normalise = normaliser_for(spec)
    assert normalise is not None
    return normalise


GOOD: list[tuple[str, Any, Any]] = [
    # string
    ("string", "Ada", "Ada"), ("string", " Ada ", " Ada "), ("string", 12, "12"), ("string", 1.5, "1.5"),
    ("string", True, "true"), ("string", False, "false"), ("string", None, None),
    # email: trimmed, lower case
    ("email", " Ada.Lovelace@Example.COM ", "ada.lovelace@example.com"), ("email", None, None),
    ("email", "", None), ("email", "   ", None),
    # phone: formatting removed, extensions only trimmed
    ("phone", "+1 (555) 010-99", "+155501099"), ("phone", "+1-555-123-4567", "+15551234567"),
    ("phone", "555.010.0199", "5550100199"), ("phone", "  0044 20 7946 0958 ", "00442079460958"),
    ("phone", "555-0100 ext. 12", "555-0100 ext. 12"), ("phone", 5550100, "5550100"),
    ("phone", -5550100, "5550100"),  # as its text would be: the same when read again
    ("phone", None, None), ("phone", " ", None),
    # number
    ("number", 3, 3), ("number", 2.5, 2.5), ("number", "12", 12), ("number", " 1.25 ", 1.25),
    ("number", "-7", -7), ("number", "1,234.5", 1234.5), ("number", "1e3", 1000.0),
    ("number", None, None), ("number", "", None), ("number", "  ", None),
    # integer
    ("integer", 12, 12), ("integer", "12", 12), ("integer", 12.0, 12), ("integer", "12.0", 12),
    ("integer", " -3 ", -3), ("integer", None, None), ("integer", "", None),
    # boolean
    ("boolean", True, True), ("boolean", False, False), ("boolean", "true", True), ("boolean", "FALSE", False),
    ("boolean", "yes", True), ("boolean", "No", False), ("boolean", "1", True), ("boolean", "0", False),
    ("boolean", " on ", True), ("boolean", "off", False), ("boolean", 1, True), ("boolean", 0, False),
    ("boolean", None, None), ("boolean", "", None),
    # datetime: ISO 8601 text, always UTC, with a Z
    ("datetime", "2024-05-01T12:00:00Z", NOON), ("datetime", "2024-05-01T14:00:00+02:00", NOON),
    ("datetime", "2024-05-01T07:30:00-04:30", NOON), ("datetime", "2024-05-01T12:00:00", NOON),
    ("datetime", "2024-05-01T12:00:00.250Z", "2024-05-01T12:00:00.250000Z"),
    ("datetime", "2024-05-01 12:00:00+00:00", NOON), ("datetime", "2024-05-01", "2024-05-01T00:00:00Z"),
    ("datetime", 1714564800, NOON), ("datetime", "1714564800", NOON),
    ("datetime", 1714564800.5, "2024-05-01T12:00:00.500000Z"),
    ("datetime", 1714564800000, NOON), ("datetime", "1714564800000", NOON),
    ("datetime", 1714564800250, "2024-05-01T12:00:00.250000Z"),
    ("datetime", datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))), NOON),
    ("datetime", datetime(2024, 5, 1, 12, 0), NOON), ("datetime", "2024-05-01T12:00:00.000001Z",
                                                      "2024-05-01T12:00:00.000001Z"),
    ("datetime", None, None), ("datetime", "", None), ("datetime", "  ", None),
    # list: a list of strings; a comma-separated string is split
    ("list", ["a", "b"], ["a", "b"]), ("list", "a, b,,c ", ["a", "b", "c"]), ("list", ["a", 1, None], ["a", "1"]),
    ("list", ["x", "x"], ["x", "x"]), ("list", None, []), ("list", "", []), ("list", "  ", []), ("list", [], []),
    # tags: like list, each tag once, sorted (order means nothing)
    ("tags", ["vip", "lead", "vip"], ["lead", "vip"]), ("tags", "vip, lead, vip", ["lead", "vip"]),
    ("tags", ["b", "a"], ["a", "b"]), ("tags", [1, "1", 2], ["1", "2"]), ("tags", None, []), ("tags", "", []),
]


@pytest.mark.parametrize(("type_", "raw", "expected"), GOOD, ids=[f"{t}-{r!r}" for t, r, _ in GOOD])
def test_normaliser(type_: str, raw: Any, expected: Any) -> None:
    got = norm(type_)(raw)
    assert got == expected
    assert type(got) is type(expected)
    # The stored form is a fixed point: a value read, stored and normalised
    # again (written to another field of the type) does not change.
    assert norm(type_)(got) == got


BAD: list[tuple[str, Any]] = [
    ("string", {"a": 1}), ("string", [1]),
    ("email", 5), ("email", ["a@example.com"]),
    ("phone", True), ("phone", 1.5), ("phone", {"n": "1"}),
    ("number", "abc"), ("number", True), ("number", "1,234"), ("number", [1]),
    ("integer", 12.5), ("integer", "12.5"), ("integer", "twelve"), ("integer", False),
    ("boolean", 2), ("boolean", "maybe"), ("boolean", 1.0), ("boolean", [True]),
    ("datetime", "yesterday"), ("datetime", "2024-13-01"), ("datetime", True), ("datetime", [2024]),
    # epochs past what a datetime holds, and NaN: refused, not a crash of the page read
    ("datetime", 253402300800000.0), ("datetime", 6.7e19), ("datetime", float("nan")),
    ("number", float("nan")), ("number", float("inf")), ("integer", float("nan")),
    ("list", {"a": 1}), ("list", 5), ("list", [{"x": 1}]),
    ("tags", {"a": 1}), ("tags", [["nested"]]),
]


@pytest.mark.parametrize(("type_", "raw"), BAD, ids=[f"{t}-{r!r}" for t, r in BAD])
def test_normaliser_refuses(type_: str, raw: Any) -> None:
    with pytest.raises(FieldValueError):
        norm(type_)(raw)


def test_datetime_declared_formats() -> None:
    one = norm("datetime", ("%d/%m/%Y",))
    assert one("01/05/2024") == "2024-05-01T00:00:00Z"
    assert one("2024-05-01T12:00:00Z") == NOON  # ISO is still understood
    several = norm("datetime", ("%d/%m/%Y", "%d.%m.%Y %H:%M %z"))
    assert several("01.05.2024 14:00 +0200") == NOON
    with pytest.raises(FieldValueError, match=r"'%d/%m/%Y', '%d.%m.%Y %H:%M %z'"):
        several("May 1st")


# -- regressions: inputs these tests found mishandled ------------------------

def test_blank_string_is_none() -> None:
    # "A blank value (None, "" or whitespace) is None for every type but list
    # and tags": the string type keeps "" and "  " as they are.
    string = norm("string")
    assert string("") is None
    assert string("   ") is None


@pytest.mark.parametrize("raw", ["1701011200000", "1601011200123"])
def test_epoch_milliseconds_text_is_not_read_as_a_basic_iso_date(raw: str) -> None:
    # "1701011200000" is 2023-11-26T15:06:40Z in epoch ms, but
    # datetime.fromisoformat reads it as the ISO basic form 1701-01-12T00:00.
    expected = datetime.fromtimestamp(int(raw) / 1000, UTC)
    assert norm("datetime")(raw) == utc_text(expected)


@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-Infinity"])
def test_number_refuses_non_finite_text(raw: str) -> None:
    # float("nan") parses, but NaN never equals itself (every diff would see
    # a change) and JSON has no NaN or Infinity to write back.
    with pytest.raises(FieldValueError):
        norm("number")(raw)


def test_a_stored_datetime_reads_back_as_the_moment_it_holds() -> None:
    assert utc_text(MAY_1) == NOON
    assert utc_text(MAY_1 + timedelta(milliseconds=250)) == "2024-05-01T12:00:00.250000Z"
    assert utc_text(MAY_1.astimezone(timezone(timedelta(hours=-4)))) == NOON
    for moment in (MAY_1, MAY_1 + timedelta(microseconds=1)):
        back = parse_stored_datetime(utc_text(moment))
        assert back == moment and back.utcoffset() == timedelta(0)


# -- over HTTP: records read through a spec ------------------------------------

EXTRA_FIELDS = {
    "born": {"path": "custom_fields.born", "type": "datetime", "format": "%d/%m/%Y"},
    "first_tag": {"read": "tags[0]"},
    "full_name": {"read": "join(' ', [first_name, last_name])"},
    "value": {"path": "custom_fields.lifetime_value", "type": "number"},
    "raw_custom": {"path": "custom_fields"},
}


async def test_records_are_read_and_normalised(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=12)
    app.store.update("1000003", email="  Mixed.Case@Example.COM", phone="+44 (20) 7946-0958",
                     custom_fields={"born": "01/05/2024", "score": "77", "opted_in": "yes"})
    spec = make_spec(contacts={"fields": EXTRA_FIELDS, "deleted": "contains(tags, 'churned')"})
    async with connect(spec, app) as c:
        pages = [p async for p in c.list()]
    records = {r.id: r for p in pages for r in p.records}
    assert sorted(records) == app.store.ids() and all(p.errors == [] for p in pages)
    for cid, record in records.items():
        raw = app.store.get(cid)
        assert raw is not None
        assert record.updated_at == datetime.fromisoformat(raw["updated_at"])
        assert record.updated_at.tzinfo is UTC
        assert record.fields["first_name"] == raw["first_name"]
        assert record.fields["plan"] == raw["custom_fields"]["plan"]
        assert record.fields["tags"] == sorted(set(raw["tags"]))
        assert record.fields["first_tag"] == (raw["tags"][0] if raw["tags"] else None)
        assert record.fields["full_name"] == f"{raw['first_name']} {raw['last_name']}"
        assert record.fields["raw_custom"] == raw["custom_fields"]
        assert record.deleted == ("churned" in raw["tags"])
    odd = records["1000003"].fields
    assert odd["email"] == "mixed.case@example.com"
    assert odd["phone"] == "+442079460958"
    assert odd["born"] == "2024-05-01T00:00:00Z"
    assert odd["score"] == 77 and odd["opted_in"] is True
    assert records["1000004"].fields["born"] is None


@pytest.mark.parametrize(("field", "bad"), [
    ("score", "lots"), ("opted_in", "maybe"), ("born", "31/02/2024"), ("email", 42), ("tags", {"a": 1}),
])
async def test_a_bad_value_is_a_record_error_for_that_record_only(
        sample_app: Any, make_spec: Any, connect: Any, field: str, bad: Any) -> None:
    app = sample_app(n=20)
    where = {"score": "custom_fields", "opted_in": "custom_fields", "born": "custom_fields"}.get(field)
    if where:
        app.store.update("1000009", custom_fields={field: bad})
    else:
        app.store.update("1000009", **{field: bad})
    spec = make_spec(contacts={"fields": EXTRA_FIELDS})
    async with connect(spec, app) as c:
        pages = [p async for p in c.list()]
        with pytest.raises(RecordError) as from_get:
            await c.get("1000009")
    ids = [r.id for p in pages for r in p.records]
    assert ids == [cid for cid in app.store.ids() if cid != "1000009"]
    errors = [e for p in pages for e in p.errors]
    assert len(errors) == 1
    (error,) = errors
    assert pages[1].errors == [error] and len(pages[1].records) == 6  # page 2 (ids 7-13) keeps the rest
    assert error.record_id == "1000009" and error.operation == "testapp.contacts.list"
    assert f"field {field!r}" in str(error) and "record 1000009" in str(error)
    assert error.field == field and from_get.value.field == field
    assert from_get.value.record_id == "1000009" and from_get.value.operation == "testapp.contacts.get"


async def test_records_that_are_not_objects_are_record_errors(sample_app: Any, make_spec: Any,
                                                              connect: Any) -> None:
    app = sample_app(n=5)
    spec = make_spec(replace_list={"path": "/all/contacts", "records": "[].id"})
    async with connect(spec, app) as c:
        (page,) = [p async for p in c.list()]
    assert page.records == []
    assert len(page.errors) == 5
    assert all("expected a JSON object" in str(e) for e in page.errors)


async def test_a_missing_id_is_a_record_error(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=5)
    spec = make_spec(replace_list={"path": "/all/contacts"}, contacts={"id": "custom_fields.external_id"})
    app.store.update("1000002", custom_fields={"external_id": 7})  # a number id is fine: read as text
    async with connect(spec, app) as c:
        (page,) = [p async for p in c.list()]
    assert [r.id for r in page.records] == ["7"]
    assert len(page.errors) == 4 and all("id:" in str(e) for e in page.errors)


async def test_a_connector_reads_only_the_fields_it_is_asked_for(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=9)
    app.store.update("1000004", custom_fields={"score": "lots"})  # bad, but not asked for
    spec = make_spec()
    async with connect(spec, app, fields=["email", "first_name"]) as c:
        pages = [p async for p in c.list()]
    records = [r for p in pages for r in p.records]
    assert len(records) == 9 and not [e for p in pages for e in p.errors]
    assert all(set(r.fields) == {"email", "first_name"} for r in records)
    with pytest.raises(ConnectorError, match="has no field 'emial'"):
        connect(spec, app, fields=["emial"])


COLUMN_VALUES = [
    None, "", "  ", "Ada", " Ada@Example.COM ", "x\u00a0", 0, 12, 1.5, True, False, [], ["a", "a", "b"],
    ["x", 1], "a, b,a", "2024-05-01T12:00:00Z", "2024-05-01T12:00:00.5+02:00", "2024-13-01T00:00:00Z",
    "2024-99-99Z", "1701011200000", 1701011200, {"a": 1},
    # phones: the dashed and spaced shapes the column reads inline, and their neighbours
    "+1-555-138-3992", "555 0100", "+1 (555) 010-99", "555 0100 ext 12", "-", "+", "+-", "1-2-3\n",
    "\u00b2\u00b3", "++1", "1+2",
    # tags: one tag, a list with a non-text or blank item
    ["a"], [1], [None], ["a", "b"], ["b", "a", "b"],
]


@pytest.mark.parametrize(
    "type_", ["string", "email", "phone", "tags", "list", "datetime", "integer", "boolean", "number"])
def test_a_column_normaliser_gives_what_the_value_normaliser_gives(type_: str) -> None:
    from syncd.connector._fields import _ISO_DATETIME, _SIMPLE, column_for

    normalise = _ISO_DATETIME if type_ == "datetime" else _SIMPLE[type_]
    column = column_for(normalise)
    assert column is not None
    good = []
    for value in COLUMN_VALUES:
        try:
            expected = normalise(value)
        except FieldValueError as e:
            with pytest.raises(FieldValueError, match=re.escape(str(e))):
                column([value])
            continue
        assert column([value]) == [expected]
        good.append((value, expected))
    assert column([v for v, _ in good]) == [e for _, e in good]


PAGE_SPEC = """
connector: app
title: App
base_url: http://127.0.0.1:9
objects:
  contacts:
    id: id
    updated_at: updated_at
    fields:
      email: {path: email, type: email}
      phone: {path: phone, type: phone}
      tags: {path: tags, type: tags}
      n: {path: nested.n}
    list: {path: /contacts, records: "@"}
"""

PAGE_RECORDS = [
    {"id": "1", "email": " A@B.io ", "phone": "+1-555-0100", "tags": ["x"], "updated_at": "2024-05-01T12:00:00Z",
     "nested": {"n": 1}},
    {"id": 2, "email": None, "phone": "555 0100 ext 12", "tags": [], "updated_at": 1701011200, "nested": {}},
    {"id": "3", "email": "c@d.io", "phone": None, "tags": ["a", "a"], "updated_at": None, "nested": {"n": "7"}},
]


@pytest.mark.parametrize("missing", [None, "email", "tags", "updated_at", "id"])
def test_a_page_reads_as_its_records_do_one_by_one(missing: str | None, tmp_path: Path) -> None:
    """The column reader (a transpose of the top-level keys, or dict.get
    per key when a record lacks one) gives what the record reader gives."""
    from syncd.config import load_connector_file
    from syncd.connector._fields import Extractor

    raws = [dict(r) for r in PAGE_RECORDS]
    if missing is not None:
        del raws[1][missing]
    (tmp_path / "app.yaml").write_text(PAGE_SPEC)
    spec = load_connector_file(tmp_path / "app.yaml")
    extractor = Extractor(spec.objects["contacts"])
    one_by_one = []
    for raw in raws:
        try:
            one_by_one.append(extractor.record(raw))
        except FieldValueError:
            one_by_one.append(None)
    page = extractor.page(raws)
    if None in one_by_one:
        assert missing == "id" and page is None  # a bad record: the caller reads one by one
    else:
        assert page == one_by_one
        assert page[0].fields == {"email": "a@b.io", "phone": "+15550100", "tags": ["x"], "n": 1}
    assert extractor.page([]) == []
