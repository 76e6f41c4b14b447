"""Value conversion: what one field mapping writes, one direction at a time.

The left app is a CRM, the right one a newsletter tool.  Each case is one
mapping, one record's source values and what lands on the other side,
normalised by the target field's type.
"""

from __future__ import annotations

from typing import Any

import pytest
from sync_support import object_spec

from syncd.config import FieldMapping
from syncd.sync._transforms import Flow, TransformError, is_blank, same_value




CRM = object_spec(email="email", first_name=None, last_name=None, full_name=None, phone=None,
              stage=None, score="integer", level="integer", tags="tags", emails="list",
              birthday="datetime", signup=None, vip="boolean", city="string")
MAIL = object_spec(email="email", full_name=None, first_name=None, last_name=None, phone="phone",
               status=None, score="number", rating="integer", labels="tags", address="email",
               born="string", joined="datetime", subscribed="boolean", note="string",
               interests="list", city="string")


def _mapping(left: str | tuple[str, ...], right: str | tuple[str, ...], **options: Any) -> FieldMapping:
    names = (lambda v: (v,) if isinstance(v, str) else v)
    return FieldMapping(left=names(left), right=names(right), **options)


def _flow(mapping: FieldMapping, source: str = "left") -> Flow:
    objects = {"left": CRM, "right": MAIL}
    target = "right" if source == "left" else "left"
    return Flow.compile(0, mapping, source, objects[source], objects[target])  # type: ignore[arg-type]


STAGES = {"customer": "subscribed", "lead": "pending"}

CASES: list[tuple[str, FieldMapping, str, dict[str, Any], dict[str, Any], dict[str, Any] | None]] = [
    # (story, mapping, from, source record, target record, written values)
    ("a phone is copied and compacted by the target's phone type",
     _mapping("phone", "phone"), "left", {"phone": "+1 (555) 010-99"}, {}, {"phone": "+155501099"}),
    ("an email is lower-cased by the email type",
     _mapping("email", "note"), "right", {"note": " Ada@Example.COM "}, {}, {"email": "ada@example.com"}),
    ("text into a number field is parsed",
     _mapping("stage", "score"), "left", {"stage": "42"}, {}, {"score": 42}),
    ("lower",
     _mapping("city", "city", transform="lower"), "left", {"city": "Zürich"}, {}, {"city": "zürich"}),
    ("lower on a list lowers every item",
     _mapping("tags", "labels", transform="lower"), "left", {"tags": ["Beta", "VIP"]}, {},
     {"labels": ["beta", "vip"]}),
    ("trim",
     _mapping("city", "city", transform="trim"), "right", {"city": "  Oslo "}, {}, {"city": "Oslo"}),
    ("join_name joins the CRM's two name fields",
     _mapping(("first_name", "last_name"), "full_name", transform="join_name"), "left",
     {"first_name": "Ada", "last_name": "Lovelace"}, {}, {"full_name": "Ada Lovelace"}),
    ("join_name skips a blank part",
     _mapping(("first_name", "last_name"), "full_name", transform="join_name"), "left",
     {"first_name": "Ada", "last_name": None}, {}, {"full_name": "Ada"}),
    ("join_name the other way splits, keeping particles with the family name",
     _mapping(("first_name", "last_name"), "full_name", transform="join_name"), "right",
     {"full_name": "Ludwig van Beethoven"}, {}, {"first_name": "Ludwig", "last_name": "van Beethoven"}),
    ("join_name the other way changes only the part that changed",
     _mapping(("first_name", "last_name"), "full_name", transform="join_name"), "right",
     {"full_name": "Anna Maria Svensson"}, {"first_name": "Anna Maria", "last_name": "Berg"},
     {"first_name": "Anna Maria", "last_name": "Svensson"}),
    ("split_name splits the CRM's full name into the newsletter's two fields",
     _mapping("full_name", ("first_name", "last_name"), transform="split_name"), "left",
     {"full_name": "Anna de la Cruz"}, {}, {"first_name": "Anna", "last_name": "de la Cruz"}),
    ("split_name the other way joins",
     _mapping("full_name", ("first_name", "last_name"), transform="split_name"), "right",
     {"first_name": "Anna", "last_name": "de la Cruz"}, {}, {"full_name": "Anna de la Cruz"}),
    ("values: maps a stage to a status",
     _mapping("stage", "status", values=STAGES), "left", {"stage": "customer"}, {},
     {"status": "subscribed"}),
    ("values: works backwards from right to left",
     _mapping("stage", "status", values=STAGES), "right", {"status": "pending"}, {}, {"stage": "lead"}),
    ("a value the map does not name is not written",
     _mapping("stage", "status", values=STAGES), "left", {"stage": "evangelist"}, {}, None),
    ("…unless the mapping has a default",
     _mapping("stage", "status", values=STAGES, default="cleaned"), "left", {"stage": "evangelist"},
     {}, {"status": "cleaned"}),
    ("values: keys are read as the left field's type",
     _mapping("level", "status", values={"1": "bronze", "2": "silver"}), "left", {"level": 2}, {},
     {"status": "silver"}),
    ("values: into a boolean field, and back",
     _mapping("stage", "subscribed", values={"customer": True, "churned": False}), "right",
     {"subscribed": False}, {}, {"stage": "churned"}),
    ("a blank source writes the default",
     _mapping("city", "city", default="Unknown"), "left", {"city": None}, {}, {"city": "Unknown"}),
    ("a blank source without a default is blank",
     _mapping("city", "city"), "left", {"city": "  "}, {}, {"city": None}),
    ("a blank full name with a default splits the default",
     _mapping("full_name", ("first_name", "last_name"), transform="split_name", default="Dear Customer"),
     "left", {"full_name": None}, {}, {"first_name": "Dear", "last_name": "Customer"}),
    ("date: a datetime becomes text in the format",
     _mapping("birthday", "born", transform="date", format="%d/%m/%Y"), "left",
     {"birthday": "1815-12-10T00:00:00Z"}, {}, {"born": "10/12/1815"}),
    ("date: text in the format becomes a datetime",
     _mapping("birthday", "born", transform="date", format="%d/%m/%Y"), "right",
     {"born": "10/12/1815"}, {}, {"birthday": "1815-12-10T00:00:00Z"}),
    ("date without a format is ISO",
     _mapping("signup", "joined", transform="date"), "right",
     {"joined": "2024-05-01T15:30:00Z"}, {}, {"signup": "2024-05-01"}),
    ("first: the first email of a list goes into a single field",
     _mapping("emails", "address", transform="first"), "left",
     {"emails": ["Ada@Example.com", "ada@home.example"]}, {}, {"address": "ada@example.com"}),
    ("first the other way: the value becomes the list's first item, the rest kept",
     _mapping("emails", "address", transform="first"), "right", {"address": "new@example.com"},
     {"emails": ["old@example.com", "home@example.com"]},
     {"emails": ["new@example.com", "old@example.com", "home@example.com"]}),
    ("first the other way: a value already in the list moves to the front",
     _mapping("emails", "address", transform="first"), "right", {"address": "home@example.com"},
     {"emails": ["old@example.com", "home@example.com"]},
     {"emails": ["home@example.com", "old@example.com"]}),
    ("first from tags into a number",
     _mapping("tags", "score", transform="first"), "left", {"tags": ["7", "9"]}, {}, {"score": 7}),
    ("a list into a text field is written as comma-separated text",
     _mapping("emails", "note"), "left", {"emails": ["a@x", "b@x"]}, {}, {"note": "a@x, b@x"}),
    ("comma-separated text into a list field is split",
     _mapping("emails", "note"), "right", {"note": "a@x, b@x"}, {}, {"emails": ["a@x", "b@x"]}),
    ("a datetime into a text field is ISO 8601",
     _mapping("birthday", "note"), "left", {"birthday": "2024-05-01T00:00:00Z"}, {},
     {"note": "2024-05-01T00:00:00Z"}),
    ("tags into tags drop duplicates, sorted",
     _mapping("tags", "labels"), "left", {"tags": ["b", "a", "b"]}, {}, {"labels": ["a", "b"]}),
]


@pytest.mark.parametrize(("story", "mapping", "source", "record", "target", "written"), CASES,
                         ids=[c[0] for c in CASES])
def test_a_mapping_converts_a_value(story: str, mapping: FieldMapping, source: str,
                                    record: dict[str, Any], target: dict[str, Any],
                                    written: dict[str, Any] | None) -> None:
    assert _flow(mapping, source).convert(record, target) == written


@pytest.mark.parametrize(("mapping", "source", "record", "message"), [
    (_mapping("birthday", "born", transform="date", format="%d/%m/%Y"), "right", {"born": "1815-12-10"},
     "fields[0] (born -> birthday): '1815-12-10' does not match the date format '%d/%m/%Y'"),
    (_mapping("stage", "rating"), "left", {"stage": "top"},
     "fields[0] (stage -> rating): rating: expected a number, got 'top'"),
    (_mapping("stage", "rating"), "left", {"stage": "4.5"},
     "fields[0] (stage -> rating): rating: expected a whole number, got '4.5'"),
])
def test_a_value_that_cannot_be_converted_says_which_mapping_and_why(
        mapping: FieldMapping, source: str, record: dict[str, Any], message: str) -> None:
    with pytest.raises(TransformError) as caught:
        _flow(mapping, source).convert(record, {})
    assert str(caught.value) == message


def test_the_label_names_the_mapping() -> None:
    flow = Flow.compile(3, _mapping(("first_name", "last_name"), "full_name", transform="join_name"),
                        "left", CRM, MAIL)
    assert flow.label == "fields[3] (first_name, last_name -> full_name)"


@pytest.mark.parametrize(("value", "blank"), [
    (None, True), ("", True), ("  \t", True), ([], True), ({}, True),
    ("x", False), (0, False), (False, False), (["x"], False), (0.0, False),
])
def test_what_counts_as_blank(value: Any, blank: bool) -> None:
    assert is_blank(value) is blank


@pytest.mark.parametrize(("a", "b", "kind", "same"), [
    (None, "", None, True),
    ([], None, "tags", True),
    (["a", "b"], ["b", "a"], "tags", True),  # an app may reorder tags
    (["a", "b"], ["b", "a"], "list", False),  # a list's order is its meaning
    (1, True, None, False),  # True == 1 in Python, not in a record
    (True, True, "boolean", True),
    (1, 1.0, "number", True),
    ("Ada", "ada", None, False),
    ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", "datetime", True),
])
def test_when_two_values_are_the_same(a: Any, b: Any, kind: str | None, same: bool) -> None:
    assert same_value(a, b, kind) is same
