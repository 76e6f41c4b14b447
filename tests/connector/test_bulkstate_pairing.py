"""Pairing a batch create's answer with its inputs reads only the fields it needs.

An input pairs by its first field whose value is unique among the inputs
and held by exactly one record; the fields after that one need not be
normalised nor looked up in the answer (an initial sync pairs 100 inputs a
request, each with every mapped field).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from syncd.connector import Record
from syncd.connector._batch import pair_created
from tests.connector.test_batch import batch_spec, people

pytestmark = pytest.mark.anyio


def test_fields_after_the_one_that_pairs_are_never_normalised() -> None:
    normalised: Counter[str] = Counter()

    def lower(name: str) -> Any:
        def normalise(value: Any) -> Any:
            normalised[name] += 1
            return value.lower() if isinstance(value, str) else value
        return normalise

    inputs = [{"email": f"P{i}@X.IO", "first_name": "Ann", "phone": f"+1 555 {i:04}", "city": "Oslo"}
              for i in range(100)]
    records = [Record(str(i), {"email": f"p{i}@x.io", "first_name": "Ann", "phone": f"+1 555 {i:04}",
                               "city": "Oslo"}) for i in reversed(range(100))]
    paired = pair_created(inputs, records, lower)
    assert {i: r.id for i, r in paired.items()} == {i: str(i) for i in range(100)}
    assert normalised == {"email": 100}  # one column: every input paired by its email


def test_a_field_that_does_not_pair_is_passed_over_for_the_next() -> None:
    def same(name: str) -> Any:
        return lambda value: value

    # first_name is shared by two inputs, so both pair by email; the third
    # has a unique first_name held by one record: it pairs by that.
    inputs = [{"first_name": "Ann", "email": "a@x"}, {"first_name": "Ann", "email": "b@x"},
              {"first_name": "Cy", "email": "gone@x"}]
    records = [Record("B", {"first_name": "Ann", "email": "b@x"}), Record("A", {"first_name": "Ann", "email": "a@x"}),
               Record("C", {"first_name": "Cy", "email": "c@x"})]
    assert {i: r.id for i, r in pair_created(inputs, records, same).items()} == {0: "A", 1: "B", 2: "C"}


async def test_an_unreadable_record_in_a_batch_answer_leaves_only_its_input_unpaired(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    """The answer is read column by column; one record that cannot be read
    sends it record by record, and only that record is left out."""
    app = sample_app(n=0)
    items = people(3)
    answer: list[Any] = [{"id": f"c{i}", "email": item["email"], "first_name": item["first_name"],
                          "custom_fields": {"score": i}} for i, item in enumerate(items)]
    answer[1] = "not a record"
    app.faults.add(path_prefix="/contacts/batch/create", body={"results": answer})
    async with connect(batch_spec(make_spec), app) as c:
        results = await c.create_many(items)
    assert [r.id if isinstance(r, Record) else type(r).__name__ for r in results] == ["c0", "ResponseError", "c2"]
    assert isinstance(results[0], Record) and results[0].fields["score"] == 0
