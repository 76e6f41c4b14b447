"""Opaque sync-token cursors (``sync_token`` on list and changes, ``{{ sync_token }}``,
``sync_token_expired``) and ids that are paths (``{{ +id }}``), against a small
token API over real HTTP: every change gets a version; a full list with
``requestSyncToken`` ends with the current version as its token; a list with
``syncToken`` gives what changed after it, a deleted record as a tombstone.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from syncd.config import build_connector
from syncd.connector import ApiError, Connector, ConnectorError, SyncTokenExpired

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "connector_specs"))
from fake_tokens import TokenApi, spec_doc  # noqa: E402


@pytest.fixture
def api() -> Iterator[TokenApi]:
    with TokenApi() as fake:
        yield fake
    assert not fake.server_errors, fake.server_errors


def connect(api: TokenApi, doc: dict[str, Any] | None = None) -> Connector:
    spec, errors = build_connector(doc or spec_doc())
    assert spec is not None, errors
    return Connector(spec, "people", {"url": api.origin})


async def read(pages: Any) -> list[Any]:
    return [r for page in [p async for p in pages] for r in page.records]


@pytest.mark.anyio
async def test_a_full_read_ends_with_the_token_and_changes_since_it_hold_tombstones(api: TokenApi) -> None:
    async with connect(api) as c:
        listed = await read(c.list())
        token = c.last_sync_token
        api.put("people/c1", "changed@example.com")
        api.remove("people/c3")
        changed = await read(c.changes(None, token))
        after = c.last_sync_token
        nothing = await read(c.changes(None, after))  # an answer with no connections key at all

    assert [r.id for r in listed] == [f"people/c{i}" for i in range(5)] and token == "v5"
    assert [(r.id, r.deleted, r.fields.get("email")) for r in changed] == [
        ("people/c1", False, "changed@example.com"), ("people/c3", True, None)]
    assert after == "v7" and nothing == [] and c.last_sync_token == "v7"
    sent = [r.arg("syncToken") for r in api.requests if r.path == "/v1/people"]
    assert sent == [None, None, None, "v5", "v7"]  # three pages of the full list, then the tokens


@pytest.mark.anyio
async def test_a_refused_token_is_sync_token_expired_and_another_400_is_not(api: TokenApi) -> None:
    api.expired.add("v1")
    bad = spec_doc()
    bad["objects"]["people"]["changes"]["params"]["bad"] = "yes"
    async with connect(api) as c:
        with pytest.raises(SyncTokenExpired) as expired:
            await read(c.changes(None, "v1"))
    async with connect(api, bad) as c:
        with pytest.raises(ApiError) as other:
            await read(c.changes(None, "v2"))
    assert expired.value.status == 400 and "HTTP 400" in str(expired.value)
    assert not isinstance(other.value, SyncTokenExpired)


@pytest.mark.anyio
async def test_a_plus_placeholder_keeps_an_ids_slashes_in_the_path_only(api: TokenApi) -> None:
    escaped = spec_doc(get={"path": "/v1/{{ id }}"})
    async with connect(api) as c:
        found = await c.get("people/c2")
        with pytest.raises(ConnectorError, match=r"'\.' or '\.\.' segment"):
            await c.get("people/../admin")
    async with connect(api, escaped) as c:
        assert await c.get("people/c2") is None  # /v1/people%2Fc2: one segment, which the API does not know
    assert found is not None and found.fields == {"email": "p2@example.com"}
    assert [r.path for r in api.requests] == ["/v1/people/c2", "/v1/people%2Fc2"]
    _, errors = build_connector(spec_doc(get={"path": "/v1/people", "params": {"name": "{{ +id }}"}}))
    assert [(e.key_path, "request paths only" in e.message) for e in errors] == [
        (("objects", "people", "get", "params", "name"), True)]


def test_changes_sending_a_token_needs_a_list_that_gives_one() -> None:
    doc = spec_doc()
    del doc["objects"]["people"]["list"]["sync_token"]
    _, errors = build_connector(doc)
    assert [e.key_path for e in errors] == [("objects", "people", "list")]
    assert "changes sends {{ sync_token }}, but list has no sync_token" in errors[0].message
    doc = spec_doc()
    doc["objects"]["people"]["changes"]["params"]["syncToken"] = "fixed"
    _, errors = build_connector(doc)
    assert [e.key_path for e in errors] == [("objects", "people", "changes", "sync_token_expired")]
