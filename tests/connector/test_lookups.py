"""Fields an API gives as ids of another object's records (``lookup:``).

A small app over real HTTP: people carry ``label_ids`` (numbers), the
labels live at /labels. syncd reads and writes label names.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "connector_specs"))
from fakes import FakeApi, Reply, Request  # noqa: E402

from syncd.config import load_connector_file  # noqa: E402
from syncd.connector import Connector, RecordError  # noqa: E402

pytestmark = pytest.mark.anyio


class LabelledPeople(FakeApi):
    def __init__(self, labels_can_be_created: bool = True) -> None:
        super().__init__()
        self.labels: dict[int, str] = {7: "customer", 9: "vip"}
        self.people: dict[int, dict[str, Any]] = {
            1: {"id": 1, "name": "Ada", "label_ids": [7, 9]},
            2: {"id": 2, "name": "Grace", "label_ids": []},
        }
        self.labels_can_be_created = labels_can_be_created

    def handle(self, request: Request) -> Reply:
        with self.lock:
            if request.path == "/labels" and request.method == "GET":
                return Reply(200, {"data": [{"id": i, "name": n} for i, n in self.labels.items()]})
            if request.path == "/labels" and request.method == "POST" and self.labels_can_be_created:
                label_id = max(self.labels) + 1
                self.labels[label_id] = request.body["name"]
                return Reply(201, {"data": {"id": label_id, "name": request.body["name"]}})
            if request.path == "/people" and request.method == "GET":
                return Reply(200, {"data": list(self.people.values())})
            if request.path == "/people" and request.method == "POST":
                pid = max(self.people) + 1
                self.people[pid] = {"id": pid, "label_ids": [], **request.body}
                return Reply(201, {"data": self.people[pid]})
            if request.path.startswith("/people/"):
                person = self.people[int(request.path.rsplit("/", 1)[1])]
                if request.method == "PATCH":
                    if any(i not in self.labels for i in request.body.get("label_ids", [])):
                        return Reply(400, {"error": "unknown label id"})
                    person.update(request.body)
                return Reply(200, {"data": person})
            return Reply(404, {"error": "not found"})


def spec_doc(origin: str, *, create_labels: bool = True) -> dict[str, Any]:
    labels: dict[str, Any] = {"id": "id", "fields": {"name": {"path": "name", "type": "string"}},
                              "list": {"path": "/labels", "records": "data"}}
    if create_labels:
        labels["create"] = {"method": "POST", "path": "/labels", "record": "data"}
    return {
        "connector": "labelled", "title": "Labelled people", "base_url": origin,
        "objects": {
            "people": {
                "id": "id",
                "fields": {
                    "name": {"path": "name", "type": "string"},
                    "labels": {"path": "label_ids", "type": "tags", "lookup": {"object": "labels", "field": "name"}},
                },
                "list": {"path": "/people", "records": "data"},
                "get": {"path": "/people/{{ id }}", "record": "data"},
                "create": {"method": "POST", "path": "/people", "record": "data"},
                "update": {"method": "PATCH", "path": "/people/{{ id }}", "record": "data"},
            },
            "labels": labels,
        },
    }


@pytest.fixture
def app() -> Iterator[LabelledPeople]:
    with LabelledPeople() as fake:
        yield fake


def connect(app: LabelledPeople, tmp_path: Path, **kw: Any) -> Connector:
    path = tmp_path / "labelled.yaml"
    path.write_text(yaml.safe_dump(spec_doc(app.origin, **kw)))
    return Connector(load_connector_file(path), "people", {})


async def test_ids_are_read_as_names_and_names_written_as_ids(app: LabelledPeople, tmp_path: Path) -> None:
    async with connect(app, tmp_path) as c:
        listed = [r for page in [p async for p in c.list()] for r in page.records]
        updated = await c.update("2", {"labels": ["vip", "partner"]})  # "partner" is new: created
        created = await c.create({"name": "Linus", "labels": ["customer"]})
    assert [(r.id, r.fields["labels"]) for r in listed] == [("1", ["customer", "vip"]), ("2", [])]
    [partner] = [i for i, n in app.labels.items() if n == "partner"]
    patch = [r for r in app.requests if r.method == "PATCH"][0]
    assert patch.body == {"label_ids": [9, partner]}  # the ids, as the label list gives them: numbers
    assert updated is not None and updated.fields["labels"] == ["partner", "vip"]
    assert created.fields["labels"] == ["customer"]
    # read once, and once more for the id of the label it created
    assert [r.method + " " + r.path for r in app.requests].count("GET /labels") == 2


async def test_a_name_the_app_lacks_fails_that_record_when_labels_cannot_be_created(
        app: LabelledPeople, tmp_path: Path) -> None:
    async with connect(app, tmp_path, create_labels=False) as c:
        with pytest.raises(RecordError, match="no name 'partner' among the labelled.labels.list records, "
                                              "and the spec cannot create one"):
            await c.update("2", {"labels": ["partner"]})
        results = await c.update_many([("1", {"labels": ["vip"]}), ("2", {"labels": ["nope"]})])
    assert app.people[1]["label_ids"] == [9]
    assert not isinstance(results[0], Exception) and isinstance(results[1], RecordError)
    assert not [r for r in app.requests if r.method == "PATCH" and r.path == "/people/2"]


async def test_an_id_the_labels_do_not_have_is_read_again_once_then_refused(
        app: LabelledPeople, tmp_path: Path) -> None:
    app.people[2]["label_ids"] = [42]  # a label deleted since
    async with connect(app, tmp_path) as c:
        [page] = [p async for p in c.list()]
        again = [p async for p in c.list()]
    assert [r.id for r in page.records] == ["1"]
    [error] = page.errors
    assert (error.record_id, error.field) == ("2", "labels") and "id 42 is not among" in str(error)
    assert [r.id for r in again[0].records] == ["1"]
    # the first read, one more for 42; the second list does not read them again for it
    assert [r.path for r in app.requests].count("/labels") == 2
