"""A field written by a request of its own (``write_request``), after the record's create or update.

Some APIs change a field only through an endpoint of its own (Mailchimp's
member tags).  Here the sample app's tags stand for one: the spec reads them
from the contact and writes them with a second PATCH, whose body also
records ``previous`` in the plan (so the test can see what the engine knew).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from syncd.connector import ApiError, Connector
from syncd.sampleapp import SampleApp

pytestmark = pytest.mark.anyio

OWN_REQUEST = {
    "path": None, "read": "tags", "type": "tags",  # (path: None drops the base spec's path)
    "write_request": {
        "method": "PATCH", "path": "/contacts/{{ id }}",
        "body": {"tags": "{{ value }}", "custom_fields": {"plan": "{{ join(',', previous || `[]`) }}"}},
    },
}


def with_own_request(make_spec: Any) -> Any:
    return make_spec(contacts={"fields": {"tags": OWN_REQUEST}})


async def test_a_created_record_gets_the_field_by_its_own_request(
        make_spec: Any, connect: Callable[..., Connector], sample_app: Callable[..., SampleApp]) -> None:
    app = sample_app(n=0)
    async with connect(with_own_request(make_spec), app) as c:
        created = await c.create({"email": "ada@example.com", "tags": ["a", "b"]})

    first, second = app.requests.all()[-2:]
    assert (first.method, first.path) == ("POST", "/contacts") and "tags" not in first.body
    assert (second.method, second.path) == ("PATCH", f"/contacts/{created.id}")
    assert second.body == {"tags": ["a", "b"], "custom_fields": {"plan": ""}}  # it had none
    assert app.store.get(created.id)["tags"] == ["a", "b"]
    assert created.fields["tags"] == ["a", "b"]  # the record as the app now holds it


async def test_an_update_gives_the_request_the_value_the_update_answered(
        make_spec: Any, connect: Callable[..., Connector], sample_app: Callable[..., SampleApp]) -> None:
    app = sample_app(n=0)
    cid = app.store.create({"email": "grace@example.com", "tags": ["a", "b"]})["id"]
    async with connect(with_own_request(make_spec), app) as c:
        updated = await c.update(cid, {"first_name": "Grace", "tags": ["b", "c"]})

    update, request = app.requests.all()[-2:]
    assert update.method == "PATCH" and update.body == {"first_name": "Grace"}
    assert request.body == {"tags": ["b", "c"], "custom_fields": {"plan": "a,b"}}
    assert updated is not None and (updated.fields["first_name"], updated.fields["tags"]) == ("Grace", ["b", "c"])


async def test_when_only_such_fields_change_the_record_is_read_not_sent_an_empty_update(
        make_spec: Any, connect: Callable[..., Connector], sample_app: Callable[..., SampleApp]) -> None:
    app = sample_app(n=0)
    cid = app.store.create({"email": "edsger@example.com", "tags": ["x"]})["id"]
    async with connect(with_own_request(make_spec), app) as c:
        updated = await c.update(cid, {"tags": []})

    read, request = app.requests.all()[-2:]
    assert (read.method, read.path) == ("GET", f"/contacts/{cid}")
    assert request.body == {"tags": [], "custom_fields": {"plan": "x"}}
    assert updated is not None and updated.fields["tags"] == []


async def test_a_refused_field_request_fails_the_write(
        make_spec: Any, connect: Callable[..., Connector], sample_app: Callable[..., SampleApp]) -> None:
    app = sample_app(n=0)
    cid = app.store.create({"email": "barbara@example.com"})["id"]
    spec = make_spec(contacts={"fields": {"tags": {**OWN_REQUEST, "write_request": {
        "path": "/contacts/{{ id }}/labels", "body": {"labels": "{{ value }}"}}}}})
    async with connect(spec, app) as c:
        with pytest.raises(ApiError) as refused:
            await c.update(cid, {"last_name": "Liskov", "tags": ["x"]})

    assert refused.value.status in (404, 405) and "tags.write_request" in str(refused.value)
    assert app.store.get(cid)["last_name"] == "Liskov"  # the record's own write went first


async def test_with_read_first_previous_is_the_record_read_before_the_update(
        make_spec: Any, connect: Callable[..., Connector], sample_app: Callable[..., SampleApp]) -> None:
    # The field is written in the update's body as well, so the update's answer
    # already holds the new tags; the record read first still holds the old ones.
    app = sample_app(n=0)
    cid = app.store.create({"email": "katherine@example.com", "tags": ["a", "b"]})["id"]
    spec = make_spec(contacts={"fields": {"tags": {**OWN_REQUEST, "write": "tags"}},
                               "update": {"read_first": True}})
    async with connect(spec, app) as c:
        await c.update(cid, {"tags": ["b", "c"]})

    read, update, request = app.requests.all()[-3:]
    assert (read.method, update.method) == ("GET", "PATCH") and update.body == {"tags": ["b", "c"]}
    assert request.body == {"tags": ["b", "c"], "custom_fields": {"plan": "a,b"}}
