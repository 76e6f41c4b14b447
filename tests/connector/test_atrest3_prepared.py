"""What a connector makes from its spec and settings alone (settings with
defaults, base URL, headers, account key, extractor) is kept by the
daemon's registry for the next cycle's connector of the very same spec and
settings objects: against real sample apps on 127.0.0.1, each connector
here stands for one cycle's."""

from __future__ import annotations

from typing import Any

import pytest

from syncd._secret import Secret
from syncd.connector import Connector
from syncd.sampleapp import AuthMode
from test_atrest_kept_connections import ids, keeping
from test_auth import spec_for, token_calls

pytestmark = pytest.mark.anyio

FIELDS = frozenset({"email", "first_name"})


def _settings(app: Any, **more: Any) -> dict[str, Any]:
    return {"url": app.url, "token": Secret(app.token, "${env:TOKEN}"), **more}


async def test_the_next_cycle_reuses_the_parts_and_reads_the_same(sample_app: Any, make_spec: Any) -> None:
    app = sample_app(n=3)
    spec = make_spec()
    settings = _settings(app)
    accounts = keeping()
    seen = []
    for _cycle in range(2):
        async with Connector(spec, "contacts", settings, accounts=accounts, fields=set(FIELDS)) as c:
            records = [r for page in [p async for p in c.list()] for r in page.records]
            assert all(set(r.fields) == FIELDS for r in records)
            seen.append((c.extractor, c.settings, c.account.key, records))
    (first, first_settings, key, first_records), (second, second_settings, again_key, second_records) = seen
    assert second is first and second_settings is first_settings and again_key == key
    assert second_records == first_records and len(second_records) == 3
    # Other fields wanted: an extractor of their own.
    async with Connector(spec, "contacts", settings, accounts=accounts, fields={"email"}) as other:
        assert other.extractor is not first
        record = await other.get(ids(app)[0])
        assert record is not None and set(record.fields) == {"email"}
    await accounts.close_connections()


async def test_a_reload_or_other_settings_or_spec_get_new_parts(sample_app: Any, make_spec: Any) -> None:
    one, two = sample_app(n=1), sample_app(n=2)
    spec = make_spec()
    accounts = keeping()
    settings = _settings(one)
    async with Connector(spec, "contacts", settings, accounts=accounts) as c:
        first = c.extractor
    # A reload: the config loaded again (other settings objects, maybe another secret or URL).
    moved = _settings(two)
    async with Connector(spec, "contacts", moved, accounts=accounts) as c:
        assert c.extractor is not first and c.base_url == two.url.rstrip("/")
        assert len([r for page in [p async for p in c.list()] for r in page.records]) == 2
    changed = make_spec(headers={"X-Changed": "yes"})  # a reload with the spec edited
    async with Connector(changed, "contacts", settings, accounts=accounts) as c:
        assert c.extractor is not first
        assert await c.get(ids(one)[0]) is not None
    assert one.requests.matching("GET")[-1].headers.get("x-changed") == "yes"
    accounts.close_idle_connections()  # what a reload does: the same objects get new parts too
    async with Connector(spec, "contacts", settings, accounts=accounts) as c:
        assert c.extractor is not first
    await accounts.close_connections()


async def test_a_token_refresh_with_kept_parts(sample_app: Any, make_spec: Any) -> None:
    mode = AuthMode.OAUTH2_CLIENT_CREDENTIALS
    app = sample_app(n=3, auth=mode)
    spec = spec_for(make_spec, mode)
    settings = _settings(app)
    accounts = keeping()
    async with Connector(spec, "contacts", settings, accounts=accounts) as c:
        assert await c.get(ids(app)[0]) is not None
        parts = c.extractor
    app.expire_tokens()
    for record in ids(app)[1:]:
        async with Connector(spec, "contacts", settings, accounts=accounts) as c:
            assert c.extractor is parts
            assert await c.get(record) is not None
    assert [r.status for r in token_calls(app)] == [200, 200]  # refreshed once, then that token
    await accounts.close_connections()
