"""update_batch.outcomes: a batch answer that lists one outcome per item, in order, not the records.

The sample app's batch update answers the updated records; read through
``outcomes`` they are outcomes (each applied when its ``ok`` expression is
true), which is how Salesforce's sObject Collections answer
(``{"id", "success", "errors"}`` per record; tests/contracts has that one).
"""

from __future__ import annotations

from typing import Any

import pytest

from syncd.connector import ConnectorError

pytestmark = pytest.mark.anyio

UPDATE_BATCH = {"path": "/contacts/batch/update", "body": {"inputs": "{{ records }}"}, "id_field": "id",
                "max_items": 100}


def spec(make_spec: Any, **outcome: Any) -> Any:
    return make_spec(contacts={"update_batch": {**UPDATE_BATCH, **outcome}})


async def test_each_outcome_is_its_items_result_in_the_order_sent(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=3)
    ids = app.store.ids()
    # "applied" when the answered record's score is below 2: the third reads as failed. (The
    # sample app answers in no promised order; sorted by id, the answer is in the order sent.)
    made = spec(make_spec, records="sort_by(results, &id)",
                outcomes={"ok": "custom_fields.score < `2`",
                          "error": "join(' ', ['score', to_string(custom_fields.score)])"})
    async with connect(made, app) as c:
        results = await c.update_many([(cid, {"score": n}) for n, cid in enumerate(ids)])
    assert results[:2] == [None, None]
    assert isinstance(results[2], ConnectorError)
    assert str(results[2]) == "testapp.contacts.update_batch: the batch did not apply this record: score 2"
    assert [r.path for r in app.requests if r.method == "PATCH"] == []  # nothing sent again alone


async def test_without_an_error_expression_the_outcome_itself_is_the_message(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=2)
    ids = app.store.ids()
    made = spec(make_spec, records="sort_by(results, &id)[*].{id: id, ok: `false`}", outcomes={"ok": "ok"})
    async with connect(made, app) as c:
        results = await c.update_many([(cid, {"first_name": "X"}) for cid in ids])
    assert [str(r) for r in results] == [
        f'testapp.contacts.update_batch: the batch did not apply this record: {{"id": "{cid}", "ok": false}}'
        for cid in ids]


async def test_an_answer_without_one_outcome_per_item_sends_each_item_again_alone(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=3)
    ids = app.store.ids()
    async with connect(spec(make_spec, records="results[1:]", outcomes={"ok": "`true`"}), app) as c:
        results = await c.update_many([(cid, {"first_name": "Again"}) for cid in ids])
    # an update is safe to repeat: each is sent alone, and its own answer is its result
    assert [r.id for r in results if r is not None and not isinstance(r, ConnectorError)] == ids
    assert [r.path for r in app.requests if r.method == "PATCH"] == [f"/contacts/{cid}" for cid in ids]
