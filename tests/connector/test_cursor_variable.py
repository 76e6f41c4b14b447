"""``{{ cursor }}`` in an operation's templates is the cursor of the page being read."""

from __future__ import annotations

import pytest


@pytest.mark.anyio
async def test_cursor_reaches_header_and_param_templates(sample_app, make_spec, connect) -> None:
    app = sample_app(n=20, auth="bearer")
    spec = make_spec(contacts={"list": {
        "headers": {"X-Page-Cursor": "{{ cursor }}"},
        "params": {"limit": 7, "echo": "{{ cursor }}"},
    }})
    async with connect(spec, app) as c:
        ids = [r.id for page in [p async for p in c.list()] for r in page.records]
    assert len(ids) == 20
    seen = [(r.query.get("after"), r.headers.get("x-page-cursor"), r.query.get("echo"))
            for r in app.requests if r.path == "/cursor/contacts"]
    first, *rest = seen
    assert first == (None, "", None)  # no cursor yet: an empty header, a null param left out
    assert len(rest) == 2 and all(after and header == after == echo for after, header, echo in rest)


@pytest.mark.anyio
async def test_cursor_with_body_field_keeps_the_body_and_reaches_headers(sample_app, make_spec, connect) -> None:
    app = sample_app(n=15, auth="bearer")
    spec = make_spec(replace_list={
        "method": "POST", "path": "/search/contacts",
        "headers": {"X-Page-Cursor": "{{ cursor }}"},
        "body": {"limit": 6},
        "records": "results",
        "pagination": {"type": "cursor", "cursor": "paging.next.after", "body_field": "after"},
    })
    async with connect(spec, app) as c:
        count = sum([len(p.records) async for p in c.list()])
    assert count == 15
    sent = [(r.body, r.headers.get("x-page-cursor")) for r in app.requests if r.path == "/search/contacts"]
    assert sent[0] == ({"limit": 6}, "")
    assert len(sent) == 3 and all(b["after"] and h == b["after"] and b["limit"] == 6 for b, h in sent[1:])
