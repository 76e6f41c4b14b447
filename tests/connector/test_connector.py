"""Operations end to end: get, find, create, update, delete against the sample app."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from syncd.connector import ApiError, Connector, ConnectorError, ResponseError

pytestmark = pytest.mark.anyio

WRITE_SPEC: dict[str, Any] = {
    "settings": {"source": {"description": "who created the contact", "default": "syncd"}},
    "contacts": {
        "fields": {
            "born": {"path": "custom_fields.born", "type": "datetime"},
            "first_tag": {"read": "tags[0]"},  # read-only: no write path
        },
        "create": {"body": {"custom_fields": {"source": "{{ settings.source }}"}, "tags": ["synced"]}},
    },
}


def write_spec(make_spec: Any, **more: Any) -> Any:
    return make_spec(settings=WRITE_SPEC["settings"], contacts={**WRITE_SPEC["contacts"], **more})


async def test_get_reads_one_record(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=10)
    async with connect(make_spec(), app) as c:
        record = await c.get("1000004")
    raw = app.store.get("1000004")
    assert record is not None and raw is not None
    assert record.id == "1000004"
    assert record.fields == {
        "email": raw["email"], "first_name": raw["first_name"], "last_name": raw["last_name"],
        "phone": raw["phone"].replace("-", ""), "tags": raw["tags"],
        "plan": raw["custom_fields"]["plan"], "score": raw["custom_fields"]["score"],
        "opted_in": raw["custom_fields"]["opted_in"],
    }
    assert record.updated_at == datetime.fromisoformat(raw["updated_at"])
    assert app.requests.last().path == "/contacts/1000004"


async def test_create_builds_the_body_from_write_paths_and_the_static_body(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=3)
    async with connect(write_spec(make_spec), app) as c:
        created = await c.create({
            "email": "grace@example.com", "first_name": "Grace", "plan": "pro", "score": 7,
            "born": "1906-12-09T00:00:00Z",  # the stored form goes out as it is
        })
    sent = app.requests.last()
    assert (sent.method, sent.path, sent.status) == ("POST", "/contacts", 201)
    assert sent.body == {
        "custom_fields": {"source": "syncd", "plan": "pro", "score": 7, "born": "1906-12-09T00:00:00Z"},
        "tags": ["synced"],
        "email": "grace@example.com",
        "first_name": "Grace",
    }
    assert created.id == "1000003"
    assert created.fields["plan"] == "pro" and created.fields["tags"] == ["synced"]
    assert created.fields["born"] == "1906-12-09T00:00:00Z"
    stored = app.store.get(created.id)
    assert stored is not None and stored["custom_fields"]["source"] == "syncd"


async def test_a_written_field_overrides_the_static_body(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=0)
    async with connect(write_spec(make_spec), app, settings={"source": "import"}) as c:
        created = await c.create({"email": "ada@example.com", "tags": ["lead", "vip"]})
    assert app.requests.last().body == {
        "custom_fields": {"source": "import"}, "tags": ["lead", "vip"], "email": "ada@example.com"}
    assert created.fields["tags"] == ["lead", "vip"]


async def test_create_refuses_unknown_and_read_only_fields_without_a_request(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=1)
    async with connect(write_spec(make_spec), app) as c:
        with pytest.raises(ConnectorError, match="no field 'nickname'"):
            await c.create({"nickname": "Amazing Grace"})
        with pytest.raises(ConnectorError, match="field 'first_tag' .* is read-only"):
            await c.create({"first_tag": "vip"})
    assert len(app.requests) == 0


async def test_write_fields_on_its_own_refuses_a_read_only_field(sample_app: Any, make_spec: Any,
                                                                  connect: Any) -> None:
    app = sample_app(n=0)
    async with connect(write_spec(make_spec), app) as c:
        assert c.write_fields({"tags": []}, {"plan": "pro"}) == {"tags": [], "custom_fields": {"plan": "pro"}}
        with pytest.raises(ConnectorError, match="field 'first_tag' .* is read-only"):
            c.write_fields({}, {"first_tag": "vip"})


async def test_update_sends_only_the_given_fields(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=5)
    before = app.store.get("1000002")
    assert before is not None
    async with connect(write_spec(make_spec), app) as c:
        updated = await c.update("1000002", {"first_name": "Ada", "plan": "enterprise"})
    sent = app.requests.last()
    assert (sent.method, sent.path) == ("PATCH", "/contacts/1000002")
    assert sent.body == {"first_name": "Ada", "custom_fields": {"plan": "enterprise"}}
    after = app.store.get("1000002")
    assert after is not None
    assert after["first_name"] == "Ada" and after["custom_fields"]["plan"] == "enterprise"
    assert after["last_name"] == before["last_name"] and after["email"] == before["email"]
    assert after["custom_fields"]["score"] == before["custom_fields"]["score"]  # the API merged, nothing lost
    assert updated is not None and updated.fields["first_name"] == "Ada"
    assert updated.updated_at is not None and updated.updated_at > datetime.fromisoformat(before["updated_at"])


async def test_update_of_a_missing_record_is_an_api_error(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=2)
    async with connect(make_spec(), app) as c:
        with pytest.raises(ApiError) as caught:
            await c.update("999", {"first_name": "Nobody"})
    assert caught.value.status == 404 and caught.value.operation == "testapp.contacts.update"


async def test_delete_then_get_and_delete_again(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=5)
    async with connect(make_spec(), app) as c:
        assert await c.delete("1000003") is True
        assert "1000003" not in app.store
        assert await c.get("1000003") is None
        assert await c.delete("1000003") is False  # already gone: not an error
    assert [(r.method, r.status) for r in app.requests] == [("DELETE", 204), ("GET", 404), ("DELETE", 404)]
    assert len(app.store) == 4


async def test_find_by_email_is_case_insensitive(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=10)
    app.store.update("1000006", email="Mixed.Case@Example.COM")
    async with connect(make_spec(), app) as c:
        found = await c.find("email", "  MIXED.case@example.com ")
        nobody = await c.find("email", "nobody@example.com")
    assert [r.id for r in found] == ["1000006"]
    assert found[0].fields["email"] == "mixed.case@example.com"
    assert nobody == []
    assert app.requests.all()[0].query == {"email": "mixed.case@example.com"}  # sent normalised


async def test_find_keeps_only_exact_matches_from_a_loose_search(sample_app: Any, make_spec: Any,
                                                                  connect: Any) -> None:
    # An API whose search returns more than asked for (here: everything).
    app = sample_app(n=30)
    spec = make_spec(contacts={"find": {"path": "/all/contacts", "params": {"q": "{{ value }}", "email": None},
                                        "records": "@"}})
    async with connect(spec, app) as c:
        found = await c.find("plan", "pro")
        by_score = await c.find("score", "42")  # the value is normalised as the field's type
    expected = [r["id"] for r in app.store.all() if r["custom_fields"]["plan"] == "pro"]
    assert expected and [r.id for r in found] == expected
    assert [r.id for r in by_score] == [r["id"] for r in app.store.all() if r["custom_fields"]["score"] == 42]
    assert app.requests.all()[0].query == {"q": "pro"}
    assert app.requests.all()[1].query == {"q": "42"}


async def test_headers_from_the_spec_are_sent(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=3)
    spec = make_spec(headers={"X-Client": "syncd-test {{ settings.url }}"},
                     contacts={"get": {"headers": {"X-Wanted": "{{ id }}"}}})
    async with connect(spec, app) as c:
        await c.get("1000001")
        await c.delete("1000002")
    get, delete = app.requests.all()
    assert get.headers["x-client"] == f"syncd-test {app.url}" and get.headers["x-wanted"] == "1000001"
    assert get.headers["accept"] == "application/json" and get.headers["user-agent"] == "syncd"
    assert get.headers["authorization"] == f"Bearer {app.token}"
    assert delete.headers["x-client"] == get.headers["x-client"] and "x-wanted" not in delete.headers


async def test_a_request_built_for_update_has_its_path_params_headers_and_body(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=3)
    spec = write_spec(make_spec, update={"method": "PATCH", "path": "/contacts/{{ id }}",
                                         "params": {"source": "{{ settings.source }}", "v": 2},
                                         "headers": {"X-Record": "{{ id }}"}})
    async with connect(spec, app) as c:
        op = c.object.operations["update"]
        ctx = {**c.context, "id": "a/b 1"}
        request = c.request(op, ctx, c.body_for(op, ctx, {"first_name": "Ada", "plan": "pro"}))
        assert c.label(op) == c.label("update") == "testapp.contacts.update"
    assert request.method == "PATCH"
    assert request.url.raw_path == b"/contacts/a%2Fb%201?source=syncd&v=2"  # the id stays one segment
    assert str(request.url).startswith(app.url)
    assert request.headers["x-record"] == "a/b 1" and request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "syncd" and "authorization" not in request.headers  # added when sent
    assert json.loads(request.content) == {"first_name": "Ada", "custom_fields": {"plan": "pro"}}
    assert len(app.requests) == 0  # built, not sent


async def test_a_built_request_sent_by_the_sender_does_what_the_operation_does(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=3)
    async with connect(write_spec(make_spec), app) as c:
        request = c.request("update", {**c.context, "id": "1000001"}, {"first_name": "Ada"})
        answer = await c.sender.send(c.label("update"), request)
    assert answer.response.status_code == 200 and answer.body["first_name"] == "Ada"
    stored = app.store.get("1000001")
    assert stored is not None and stored["first_name"] == "Ada"
    sent = app.requests.last()
    assert (sent.method, sent.path, sent.body) == ("PATCH", "/contacts/1000001", {"first_name": "Ada"})
    assert sent.headers["authorization"] == f"Bearer {app.token}"


async def test_without_a_body_a_request_has_the_operations_own(sample_app: Any, make_spec: Any,
                                                               connect: Any) -> None:
    app = sample_app(n=1)
    async with connect(write_spec(make_spec), app, settings={"source": "import"}) as c:
        create = c.request("create", c.context)
        delete = c.request("delete", {**c.context, "id": "1000000"})
        typo: Any = "find_all"  # (mypy would catch it in typed code: operation names are a Literal)
        with pytest.raises(ConnectorError, match="testapp.contacts has no 'find_all' operation"):
            c.request(typo, c.context)
    assert json.loads(create.content) == {"custom_fields": {"source": "import"}, "tags": ["synced"]}
    assert (delete.method, delete.url.path, delete.content) == ("DELETE", "/contacts/1000000", b"")


async def test_a_create_answered_without_a_record_is_a_response_error(sample_app: Any, make_spec: Any,
                                                                       connect: Any) -> None:
    app = sample_app(n=3)
    spec = make_spec(contacts={"create": {"method": "DELETE", "path": "/contacts/1000001"}})  # answers 204
    async with connect(spec, app) as c:
        with pytest.raises(ResponseError, match="without the created record"):
            await c.create({"first_name": "Ghost"})


async def test_a_missing_operation_is_a_clear_error(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=1)
    async with connect(make_spec(contacts={"delete": None}), app) as c:
        with pytest.raises(ConnectorError, match="testapp.contacts has no 'delete' operation in its spec"):
            await c.delete("1000000")
    assert len(app.requests) == 0


async def test_unknown_object_and_missing_setting(sample_app: Any, make_spec: Any) -> None:
    app = sample_app(n=1)
    spec = make_spec()
    with pytest.raises(ConnectorError, match="has no object 'deals'"):
        Connector(spec, "deals", {"url": app.url, "token": "x"})
    with pytest.raises(ConnectorError, match="setting 'token' of connector 'testapp' is required"):
        Connector(spec, "contacts", {"url": app.url})


async def test_the_client_is_closed_on_exit(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=1)
    async with connect(make_spec(), app) as c:
        assert await c.get("1000000") is not None
    assert c.client.is_closed
