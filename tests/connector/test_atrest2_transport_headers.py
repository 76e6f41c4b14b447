"""The transport checks each request's headers once per set of headers
(kept: a connector sends the same ones cycle after cycle), and a header that
would smuggle another in is still refused every time, before anything is
sent. Against a real sample app on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from syncd.connector._connector import _tls_context
from syncd.connector._transport import AsyncH11Transport

pytestmark = pytest.mark.anyio


async def test_headers_are_sent_as_given_and_a_smuggled_header_is_refused_each_time(sample_app: Any) -> None:
    app = sample_app(n=1)
    [contact] = app.store.all()
    url = f"{app.url}/contacts/{contact['id']}"
    async with httpx.AsyncClient(transport=AsyncH11Transport(_tls_context),
                                 headers={"Authorization": f"Bearer {app.token}"}) as client:
        for attempt in ("first", "again"):  # the second with the checked headers kept
            answer = await client.get(url, headers={"X-Attempt": attempt})
            assert answer.status_code == 200
        for _ in range(2):  # refused each time: a refusal is not kept as checked
            with pytest.raises(httpx.LocalProtocolError, match="Illegal header value"):
                await client.get(url, headers={"X-Note": "a\r\nX-Admin: yes"})
        assert (await client.get(url, headers={"X-Attempt": "again"})).status_code == 200
    sent = app.requests.matching("GET")
    assert [r.headers.get("x-attempt") for r in sent] == ["first", "again", "again"]
    assert not any("x-admin" in r.headers for r in sent)
