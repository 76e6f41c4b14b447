"""A child object's connector: its operations bound to one parent record
(``Connector.under``), against the sample app's notes, through the shipped spec."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from syncd._resources import shipped_connectors_dir
from syncd._secret import Secret
from syncd.config import load_connector_file
from syncd.connector import ApiError, Connector
from syncd.sampleapp import SampleApp

pytestmark = pytest.mark.anyio


def notes(app: SampleApp) -> Connector:
    spec = load_connector_file(shipped_connectors_dir() / "sampleapp.yaml")
    return Connector(spec, "notes", {"url": app.url, "token": Secret(app.token, "${env:TOKEN}")})


async def test_a_child_is_read_page_by_page_and_written_under_the_parent_it_is_bound_to(
        sample_app: Callable[..., SampleApp]) -> None:
    app = sample_app(n=2, token="child-token")
    first, second = app.store.ids()
    for i in range(150):  # two pages of the spec's 100
        app.children.create("notes", first, {"body": f"note {i}"})
    app.children.create("notes", second, {"body": "the other contact's"})
    async with notes(app) as c:
        pages = [page async for page in c.under(first).list()]
        created = await c.under(second).create({"body": "written"})
        await c.under(second).update(created.id, {"body": "rewritten"})
        with pytest.raises(ApiError) as refused:  # a note is changed only under its own contact
            await c.under(first).update(created.id, {"body": "elsewhere"})
    assert [len(p.records) for p in pages] == [100, 50]
    assert {r.fields["body"] for p in pages for r in p.records} == {f"note {i}" for i in range(150)}
    assert refused.value.status == 404
    assert [n["body"] for n in app.children.all("notes", second)] == ["the other contact's", "rewritten"]
    paths = {(r.method, r.path) for r in app.requests.all()}
    assert ("POST", f"/contacts/{second}/notes") in paths
    assert ("PATCH", f"/contacts/{second}/notes/{created.id}") in paths


async def test_a_parent_id_is_one_path_segment_and_the_bound_copy_shares_the_account(
        sample_app: Callable[..., SampleApp]) -> None:
    app = sample_app(n=1, token="child-token")
    async with notes(app) as c:
        bound = c.under("a/b?c")
        with pytest.raises(ApiError):
            await bound.create({"body": "nowhere"})
    assert app.requests.last().path == "/contacts/a%2Fb%3Fc/notes"
    assert bound.account is c.account and bound.client is c.client
    assert "parent_id" not in c.context
