"""An update that reads the record first (``update.read_first``).

Some APIs replace a whole list on update (Pipedrive's emails and phones,
Google's emailAddresses) or want the record's current etag back. With
``read_first`` the connector GETs the record, offers it to the update's
templates as ``current``, and starts each list a field writes into from the
record's current list. Against the real sample app over HTTP.
"""

from __future__ import annotations

from typing import Any

import pytest

from syncd.connector import ApiError
from syncd.expr import ExprError, compile_write_path

pytestmark = pytest.mark.anyio

FIRST_TAG = {"first_tag": {"read": "tags[0]", "write": "tags[0]", "type": "string"}}


async def test_a_list_item_written_after_reading_first_keeps_the_other_items(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=3)
    app.store.update("1000001", tags=["lead", "vip", "beta"])
    spec = make_spec(contacts={"fields": FIRST_TAG, "update": {"read_first": True}})
    async with connect(spec, app) as c:
        updated = await c.update("1000001", {"first_tag": "customer"})
    get, patch = app.requests.all()[-2:]
    assert (get.method, get.path) == ("GET", "/contacts/1000001")
    assert (patch.method, patch.body) == ("PATCH", {"tags": ["customer", "vip", "beta"]})
    assert app.store.get("1000001")["tags"] == ["customer", "vip", "beta"]
    assert updated is not None and updated.fields["first_tag"] == "customer"


async def test_without_read_first_the_same_write_replaces_the_list(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    # Why read_first exists: the API takes the list it is sent as the whole list.
    app = sample_app(n=3)
    app.store.update("1000001", tags=["lead", "vip", "beta"])
    async with connect(make_spec(contacts={"fields": FIRST_TAG}), app) as c:
        await c.update("1000001", {"first_tag": "customer"})
    assert app.requests.last().body == {"tags": ["customer"]}
    assert app.store.get("1000001")["tags"] == ["customer"]


async def test_the_update_templates_see_the_current_record(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=3)
    before = app.store.get("1000002")
    spec = make_spec(contacts={"update": {"read_first": True,
                                          "headers": {"If-Match": "{{ current.updated_at }}"},
                                          "params": {"was": "{{ current.first_name }}"}}})
    async with connect(spec, app) as c:
        await c.update("1000002", {"last_name": "Lovelace"})
    sent = app.requests.last()
    assert sent.headers["if-match"] == before["updated_at"]
    assert sent.query["was"] == before["first_name"]
    assert sent.body == {"last_name": "Lovelace"}  # a field that goes through no list is sent alone


async def test_reading_first_a_record_that_is_gone_fails_as_the_update_would(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=1)
    async with connect(make_spec(contacts={"update": {"read_first": True}}), app) as c:
        with pytest.raises(ApiError) as caught:
            await c.update("999", {"first_name": "Nobody"})
    assert caught.value.status == 404 and caught.value.operation == "testapp.contacts.get"
    assert [r.method for r in app.requests.all()] == ["GET"]  # no blind write after it


async def test_write_fields_start_a_list_from_the_current_record_only_when_given_one(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=0)
    async with connect(make_spec(contacts={"fields": FIRST_TAG}), app) as c:
        assert c.write_fields({}, {"first_tag": "x"}, current={"tags": ["a", "b"]}) == {"tags": ["x", "b"]}
        assert c.write_fields({}, {"first_tag": "x"}) == {"tags": ["x"]}  # a create: no current record
        # a body that already holds the list (the operation's own body:) keeps it
        assert c.write_fields({"tags": ["y"]}, {"first_tag": "x"}, current={"tags": ["a", "b"]}) == {"tags": ["x"]}


@pytest.mark.parametrize(("path", "body", "expected"), [
    # the first item whose key is true; the others are kept
    ("emails[?primary].value", {"emails": [{"value": "a", "primary": False}, {"value": "b", "primary": True}]},
     {"emails": [{"value": "a", "primary": False}, {"value": "new", "primary": True}]}),
    # none matches: an item that matches is added
    ("emails[?primary].value", {"emails": [{"value": "a", "primary": False}]},
     {"emails": [{"value": "a", "primary": False}, {"primary": True, "value": "new"}]}),
    ("emails[?primary].value", {}, {"emails": [{"primary": True, "value": "new"}]}),
    # a dotted key inside the item, as Google's metadata.primary
    ("emailAddresses[?metadata.primary].value", {},
     {"emailAddresses": [{"metadata": {"primary": True}, "value": "new"}]}),
    # equality with a text
    ("phones[?label=='work'].value", {"phones": [{"label": "home", "value": "1"}, {"label": "work", "value": "2"}]},
     {"phones": [{"label": "home", "value": "1"}, {"label": "work", "value": "new"}]}),
    ("phones[?label=='work'].value", {}, {"phones": [{"label": "work", "value": "new"}]}),
    # a selector inside a nested list
    ("data.people[?active].emails[0]", {}, {"data": {"people": [{"active": True, "emails": ["new"]}]}}),
])
def test_item_selectors_write_into_the_item_they_select(path: str, body: dict[str, Any],
                                                        expected: dict[str, Any]) -> None:
    write = compile_write_path(path)
    write.set(body, "new")
    assert body == expected
    assert write.get(body) == "new"


@pytest.mark.parametrize(("path", "prefix"), [
    ("emails[?primary].value", "emails"), ("properties.phones[0].number", "properties.phones"),
    ("email", None), ("properties.email", None), ("a[0]", "a"),
])
def test_the_list_an_update_starts_from_is_the_first_one_on_the_path(path: str, prefix: str | None) -> None:
    found = compile_write_path(path).list_prefix
    assert (found.source if found is not None else None) == prefix


@pytest.mark.parametrize("bad", ["emails[?primary", "emails[?].value", "emails[?primary=='x].value",
                                 "emails[?primary==\"x\"].value", "[?primary].value"])
def test_a_malformed_selector_is_refused_with_the_forms_it_may_take(bad: str) -> None:
    with pytest.raises(ExprError, match=r"emails\[\?primary\]\.value"):
        compile_write_path(bad)


def test_a_path_that_ends_in_a_selector_is_refused() -> None:
    # The value would replace the item it was selected by: name the key to write.
    with pytest.raises(ExprError, match="ends in an item selector"):
        compile_write_path("emails[?primary]")
