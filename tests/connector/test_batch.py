"""Batch writes: create_many and update_many against the sample app, over real HTTP.

The sample app answers a batch in reverse order and refuses a whole batch
for one bad input, as HubSpot does; these tests are the story of a connector
author who declares the batch endpoints and of the sync layer that writes
250 contacts through them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from syncd.config import ConfigError
from syncd.connector import ApiError, AuthError, ConnectorError, Record, ResponseError
from syncd.connector._batch import pair_created

pytestmark = pytest.mark.anyio

BATCH: dict[str, Any] = {
    "create_batch": {"path": "/contacts/batch/create", "body": {"inputs": "{{ records }}"},
                     "records": "results", "max_items": 100},
    "update_batch": {"path": "/contacts/batch/update", "body": {"inputs": "{{ records }}"},
                     "id_field": "id", "records": "results", "max_items": 100},
}


def batch_spec(make_spec: Any, **changes: Any) -> Any:
    """The test spec with both batch operations; ``changes`` merge into objects.contacts."""
    contacts: dict[str, Any] = {name: dict(op) for name, op in BATCH.items()}
    for name, change in changes.items():
        if isinstance(change, dict) and name in contacts:
            contacts[name].update(change)
        else:
            contacts[name] = change
    return make_spec(contacts=contacts)


def people(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"email": f"Person.{i:03d}@Example.com", "first_name": f"P{i}", "score": i}
            for i in range(start, start + n)]


def emails_in(app: Any) -> Counter[str]:
    return Counter(r["email"].lower() for r in app.store.all() if r["email"])


def sent(app: Any, method: str, path: str) -> list[Any]:
    return [r for r in app.requests if (r.method, r.path) == (method, path)]


# --- creating ---------------------------------------------------------------------


async def test_250_creates_go_in_three_batches_and_pair_although_the_app_reverses_them(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=5)
    items = people(250)
    async with connect(batch_spec(make_spec), app) as c:
        assert c.has_batch("create") and c.has_batch("update")
        results = await c.create_many(items)

    batches = sent(app, "POST", "/contacts/batch/create")
    assert [len(r.body["inputs"]) for r in batches] == [100, 100, 50]
    assert batches[0].body["inputs"][0] == {"email": "Person.000@Example.com", "first_name": "P0",
                                            "custom_fields": {"score": 0}}
    assert sent(app, "POST", "/contacts") == []  # no single creates
    assert len(results) == 250
    for item, result in zip(items, results, strict=True):
        assert isinstance(result, Record)
        assert (result.fields["email"], result.fields["first_name"], result.fields["score"]) == (
            item["email"].lower(), item["first_name"], item["score"])
        assert app.store.get(result.id)["email"] == item["email"]  # type: ignore[index]
    assert len({r.id for r in results if isinstance(r, Record)}) == 250
    assert len(app.store) == 255


async def test_pairing_uses_the_first_field_unique_in_the_batch(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    # Both are called Sam: the first name pairs nothing, the email does.
    app = sample_app(n=0)
    items = [{"first_name": "Sam", "email": "sam.a@example.com"},
             {"first_name": "Sam", "email": "sam.b@example.com"},
             {"first_name": "Kim", "last_name": "Lee"}]  # no email: its first name is unique
    async with connect(batch_spec(make_spec), app) as c:
        results = await c.create_many(items)
    assert [r.fields["email"] for r in results if isinstance(r, Record)] == [
        "sam.a@example.com", "sam.b@example.com", None]
    assert isinstance(results[2], Record) and results[2].fields["last_name"] == "Lee"


async def test_one_invalid_item_sends_its_batch_one_by_one_and_its_error_comes_back_in_place(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=5)
    taken = app.store.all()[0]["email"]
    items = people(150)
    items[42]["email"] = "not-an-email"
    items[120]["email"] = taken  # the second batch: a contact that already exists
    async with connect(batch_spec(make_spec), app) as c:
        results = await c.create_many(items)

    assert [r.status for r in sent(app, "POST", "/contacts/batch/create")] == [400, 400]
    singles = sent(app, "POST", "/contacts")
    assert len(singles) == 150  # every item of both refused batches, alone, once
    bad, clash = results[42], results[120]
    assert isinstance(bad, ApiError) and bad.status == 400 and "not a valid email" in bad.message
    assert isinstance(clash, ApiError) and clash.status == 409
    good = [r for i, r in enumerate(results) if i not in (42, 120)]
    assert [r.fields["score"] for r in good if isinstance(r, Record)] == [i for i in range(150) if i not in (42, 120)]
    counts = emails_in(app)
    assert len(app.store) == 5 + 148 and max(counts.values()) == 1  # nothing created twice


async def test_an_item_that_cannot_be_built_fails_alone(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=0)
    items = [*people(2), {"email": "x@example.com", "nickname": "X"}]
    async with connect(batch_spec(make_spec), app) as c:
        results = await c.create_many(items)
    assert isinstance(results[2], ConnectorError) and "no field 'nickname'" in str(results[2])
    assert [len(r.body["inputs"]) for r in sent(app, "POST", "/contacts/batch/create")] == [2]
    assert all(isinstance(r, Record) for r in results[:2]) and len(app.store) == 2


async def test_a_created_record_missing_from_the_answer_is_an_error_not_a_guess(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    # The spec reads all but the first record of the answer (which is the
    # last input, as the app reverses): that input cannot be paired.
    app = sample_app(n=0)
    async with connect(batch_spec(make_spec, create_batch={"records": "results[1:]"}), app) as c:
        results = await c.create_many(people(3))
    assert [isinstance(r, Record) for r in results] == [True, True, False]
    assert isinstance(results[2], ResponseError) and "probably created" in str(results[2])
    assert len(app.store) == 3  # and it was: the caller must look it up, not create it again


def test_without_a_pairing_field_records_pair_by_position_only_if_they_are_as_many() -> None:
    # `shout` is written as given and read back upper-cased: it never pairs.
    def same(name: str) -> Any:
        return lambda value: value

    inputs = [{"shout": "abc"}, {"shout": "def"}]
    records = [Record("1", {"shout": "ABC"}), Record("2", {"shout": "DEF"})]
    assert pair_created(inputs, records, same) == {0: records[0], 1: records[1]}
    assert pair_created(inputs, records[:1], same) == {}  # one is missing: which one?
    # once any field pairs, position is never used for the rest
    mixed = [{"shout": "abc", "email": "a@x.io"}, {"shout": "def"}]
    answer = [Record("2", {"shout": "DEF"}), Record("1", {"shout": "ABC", "email": "a@x.io"})]
    assert pair_created(mixed, answer, same) == {0: answer[1]}


async def test_a_chunk_of_one_uses_the_single_operation(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=1)
    cid = app.store.ids()[0]
    async with connect(batch_spec(make_spec), app) as c:
        [created] = await c.create_many(people(1))
        [updated] = await c.update_many([(cid, {"first_name": "One"})])
    assert isinstance(created, Record) and isinstance(updated, Record) and updated.fields["first_name"] == "One"
    assert [(r.method, r.path) for r in app.requests] == [("POST", "/contacts"), ("PATCH", f"/contacts/{cid}")]


@pytest.mark.parametrize(("status", "times"), [(429, 4), (500, 1)], ids=["rate limited", "server error"])
async def test_a_batch_that_fails_for_the_api_fails_each_item_without_sending_them_alone(
        sample_app: Any, make_spec: Any, connect: Any, status: int, times: int) -> None:
    # 429 after every retry: sending 100 creates alone would only be refused
    # 100 times; a 5xx may have stored the batch: sending it again could
    # create each contact twice.
    app = sample_app(n=0)
    app.faults.add(status=status, retry_after="0", times=times, path_prefix="/contacts/batch")
    async with connect(batch_spec(make_spec), app) as c:
        results = await c.create_many(people(3))
    assert all(isinstance(r, ApiError) and r.status == status for r in results)
    assert sent(app, "POST", "/contacts") == [] and len(app.store) == 0


async def test_refused_credentials_propagate(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=0, auth="bearer", token="right")
    async with connect(batch_spec(make_spec), app, token="wrong") as c:
        with pytest.raises(AuthError):
            await c.create_many(people(3))
        with pytest.raises(AuthError):
            await c.update_many([("1000000", {"first_name": "A"})])


# --- updating ---------------------------------------------------------------------


async def test_credentials_refused_after_a_first_batch_keep_its_results(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    # The first 100 updates are made; the next request is refused (a token revoked meanwhile). The
    # caller must know those 100 landed (syncd's update intents): they keep their results, and the
    # refusal is the result of the 50 not made.
    app = sample_app(n=150)
    ids = app.store.ids()
    app.faults.add(status=401, method="POST", path_prefix="/contacts/batch/update", skip=1)
    async with connect(batch_spec(make_spec), app) as c:
        results = await c.update_many([(cid, {"last_name": "Done"}) for cid in ids])
    assert [type(r).__name__ for r in results] == ["Record"] * 100 + ["AuthError"] * 50
    assert [app.store.get(cid)["last_name"] for cid in ids].count("Done") == 100  # type: ignore[index]


async def test_without_batch_operations_a_refusal_after_the_first_update_keeps_the_earlier_results(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=3)
    ids = app.store.ids()
    app.faults.add(status=401, method="PATCH", path_prefix="/contacts/", skip=1)
    async with connect(make_spec(), app) as c:
        results = await c.update_many([(cid, {"first_name": "Ada"}) for cid in ids])
    assert [type(r).__name__ for r in results] == ["Record", "AuthError", "AuthError"]
    assert len([r for r in app.requests if r.method == "PATCH"]) == 2  # the third was not sent


async def test_update_many_pairs_results_by_id(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=150)
    ids = app.store.ids()[:120]
    async with connect(batch_spec(make_spec), app) as c:
        results = await c.update_many([(cid, {"last_name": f"L{cid}", "plan": "pro"}) for cid in ids])

    batches = sent(app, "POST", "/contacts/batch/update")
    assert [len(r.body["inputs"]) for r in batches] == [100, 20]
    assert batches[0].body["inputs"][0] == {"id": ids[0], "last_name": f"L{ids[0]}",
                                            "custom_fields": {"plan": "pro"}}
    assert [r.method for r in app.requests if r.method == "PATCH"] == []
    assert [r.id for r in results if isinstance(r, Record)] == ids
    assert all(r.fields["last_name"] == f"L{r.id}" for r in results if isinstance(r, Record))
    stored = app.store.get(ids[7])
    assert stored is not None and stored["last_name"] == f"L{ids[7]}"
    assert stored["custom_fields"]["plan"] == "pro" and "score" in stored["custom_fields"]  # merged


async def test_an_unknown_id_sends_its_batch_one_by_one(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=5)
    ids = app.store.ids()
    items = [(cid, {"first_name": f"F{cid}"}) for cid in ids]
    items.insert(2, ("999", {"first_name": "Nobody"}))
    async with connect(batch_spec(make_spec), app) as c:
        results = await c.update_many(items)
    assert [r.status for r in sent(app, "POST", "/contacts/batch/update")] == [400]
    assert len([r for r in app.requests if r.method == "PATCH"]) == 6
    missing = results.pop(2)
    assert isinstance(missing, ApiError) and missing.status == 404
    assert [r.fields["first_name"] for r in results if isinstance(r, Record)] == [f"F{cid}" for cid in ids]


async def test_an_update_missing_from_the_answer_is_sent_again_alone(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    # As HubSpot's HTTP 207: the answer lacks a record; an update is safe to repeat.
    app = sample_app(n=4)
    ids = app.store.ids()
    async with connect(batch_spec(make_spec, update_batch={"records": "results[1:]"}), app) as c:
        results = await c.update_many([(cid, {"first_name": "Again"}) for cid in ids])
    assert [r.id for r in results if isinstance(r, Record)] == ids
    assert [r.path for r in app.requests if r.method == "PATCH"] == [f"/contacts/{ids[-1]}"]


async def test_a_batch_update_is_retried_after_a_server_error_as_a_patch_is(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    # Unlike a batch create: setting the same values twice is harmless.
    app = sample_app(n=3)
    ids = app.store.ids()
    app.faults.add(status=500, path_prefix="/contacts/batch/update")
    async with connect(batch_spec(make_spec), app) as c:
        results = await c.update_many([(cid, {"first_name": "Again"}) for cid in ids])
    assert [r.id for r in results if isinstance(r, Record)] == ids
    assert [r.status for r in sent(app, "POST", "/contacts/batch/update")] == [500, 200]


async def test_an_answer_without_records_means_every_update_was_applied(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=3)
    ids = app.store.ids()
    async with connect(batch_spec(make_spec, update_batch={"records": "no_such_key"}), app) as c:
        results = await c.update_many([(cid, {"first_name": "Same"}) for cid in ids])
    assert results == [None, None, None]  # as update() gives for an answer without a record
    assert [r["first_name"] for r in app.store.all()] == ["Same"] * 3
    assert not [r for r in app.requests if r.method == "PATCH"]


# --- without batch operations -------------------------------------------------------


async def test_without_batch_operations_items_are_written_one_by_one(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=3)
    items = people(3)
    items[1]["email"] = "not-an-email"
    async with connect(make_spec(), app) as c:
        assert not c.has_batch("create") and not c.has_batch("update")
        created = await c.create_many(items)
        updated = await c.update_many([("1000000", {"first_name": "Ada"}), ("nope", {"first_name": "X"})])
    assert [type(r).__name__ for r in created] == ["Record", "ApiError", "Record"]
    assert [r.fields["email"] for r in created if isinstance(r, Record)] == [
        "person.000@example.com", "person.002@example.com"]
    assert isinstance(updated[0], Record) and updated[0].fields["first_name"] == "Ada"
    assert isinstance(updated[1], ApiError) and updated[1].status == 404
    assert len(sent(app, "POST", "/contacts")) == 3
    assert not [r for r in app.requests if "/batch/" in r.path]


async def test_no_items_no_requests(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=0)
    async with connect(batch_spec(make_spec), app) as c:
        assert await c.create_many([]) == [] and await c.update_many([]) == []
    assert len(app.requests) == 0


# --- the spec ----------------------------------------------------------------------


def problems(make_spec: Any, **contacts: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        make_spec(contacts=contacts)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize("max_items", [0, -1, "100", 2.5, None])
def test_max_items_is_a_whole_number_of_at_least_one(make_spec: Any, max_items: Any) -> None:
    op = {**BATCH["create_batch"], "max_items": max_items}
    if max_items is None:
        del op["max_items"]
    [problem] = problems(make_spec, create_batch=op)
    assert "objects.contacts.create_batch" in problem and "max_items" in problem


@pytest.mark.parametrize(("batch", "single"), [("create_batch", "create"), ("update_batch", "update")])
def test_a_batch_operation_needs_its_single_twin(make_spec: Any, batch: str, single: str) -> None:
    [problem] = problems(make_spec, **{batch: BATCH[batch], single: None})
    assert f"objects.contacts.{batch}" in problem
    assert f"{batch} needs a {single} operation beside it" in problem


@pytest.mark.parametrize(("key", "value", "message"), [
    ("body", {"inputs": "{{ fields }}"}, "unknown variable 'fields'"),
    ("item", {"list": "{{ records }}"}, "unknown variable 'records'"),
    ("item", {"owner": "{{ settings.owner }}"}, "settings.owner is not a declared setting"),
    ("id_field", "ids..x", "invalid id field 'ids..x'"),
    ("records", "results[", "records"),
])
def test_batch_templates_and_paths_are_checked_at_load_time(make_spec: Any, key: str, value: Any,
                                                           message: str) -> None:
    op = {**BATCH["update_batch"], key: value}
    [problem] = problems(make_spec, update_batch=op)
    assert f"update_batch.{key}" in problem and message in problem


def test_create_batch_has_no_id_field(make_spec: Any) -> None:
    [problem] = problems(make_spec, create_batch={**BATCH["create_batch"], "id_field": "id"})
    assert "unknown key 'id_field'" in problem


def test_the_compiled_operations(make_spec: Any) -> None:
    spec = make_spec(contacts={**BATCH, "create_batch": {**BATCH["create_batch"], "item": {"tags": ["new"]}}})
    obj = spec.objects["contacts"]
    create, update = obj.operations["create_batch"], obj.operations["update_batch"]
    assert (create.method, create.max_items, create.id_field) == ("POST", 100, None)
    assert create.item is not None and create.item({"settings": {}}) == {"tags": ["new"]}
    assert update.id_field is not None and update.id_field.source == "id" and update.item is None
