"""``get`` says a record is gone only on a 404: an answer of 2xx without a
record (an outage's empty body, a ``null``) is an error, never "gone"
(it used to be, and a full read's check, or a webhook round, deleted the
record on the other side)."""

from __future__ import annotations

from typing import Any

import pytest

from syncd.connector import ResponseError

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("body", [b"", b"null", b"  "])
async def test_an_answer_without_a_record_is_an_error_not_a_deletion(
        sample_app: Any, make_spec: Any, connect: Any, body: bytes) -> None:
    app = sample_app(n=5)
    app.faults.add(body=body, path_prefix="/contacts/", times=None)
    async with connect(make_spec(), app) as c:
        with pytest.raises(ResponseError, match=r"answered HTTP 200 without a record \(only a 404 says"):
            await c.get("1000001")
        app.faults.clear()
        assert await c.get("1000001") is not None
        assert await c.get("999") is None  # a 404: gone
