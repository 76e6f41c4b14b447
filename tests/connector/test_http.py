"""Sending requests: retries with backoff, Retry-After, and errors a human can act on."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from syncd._secret import Secret
from syncd.config import RetrySpec
from syncd.connector import ApiError, AuthError, Connector, ResponseError, TransportError
from syncd.connector._http import backoff, parse_retry_after

pytestmark = pytest.mark.anyio

NEW = {"email": "new.person@example.com", "first_name": "New", "last_name": "Person"}


# -- pure functions -----------------------------------------------------------

@pytest.mark.parametrize(("value", "seconds"), [
    ("5", 5.0), (" 7 ", 7.0), ("0", 0.0), ("86400", 3600.0),  # capped at an hour
    (None, None), ("", None), ("soon", None), ("-1", None), ("1.5", None),
])
def test_parse_retry_after_seconds(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value) == seconds


def test_parse_retry_after_http_date() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert later == "Wed, 01 May 2024 12:01:30 GMT"
    assert parse_retry_after(later, now=now.timestamp()) == 90.0
    earlier = format_datetime(now - timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(earlier, now=now.timestamp()) == 0.0  # already past: retry now
    far = format_datetime(now + timedelta(days=2), usegmt=True)
    assert parse_retry_after(far, now=now.timestamp()) == 3600.0


def test_backoff_is_full_jitter_capped() -> None:
    spec = RetrySpec(max_attempts=5, backoff_initial=0.5, backoff_max=3.0)
    assert [backoff(a, spec, rand=lambda: 1.0) for a in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert backoff(3, spec, rand=lambda: 0.0) == 0.0
    assert backoff(1, spec, rand=lambda: 0.25) == 0.25
    assert all(0 <= backoff(2, spec) <= 2.0 for _ in range(200))


# -- retries over real HTTP ---------------------------------------------------

async def test_429_retry_after_seconds_is_honoured(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=5)
    app.faults.add(status=429, retry_after="1", path_prefix="/contacts/")
    async with connect(make_spec(), app) as c:
        started = time.monotonic()
        record = await c.get("1000001")
        waited = time.monotonic() - started
    assert record is not None and record.id == "1000001"
    assert waited >= 0.95  # the server's word, not the 10 ms backoff
    assert [r.status for r in app.requests] == [429, 200]
    assert c.sender.retries == 1


async def test_429_retry_after_http_date_is_honoured(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=5)
    # an HTTP date has whole seconds: 2 s ahead, cut to the second, is 1-2 s away
    app.faults.add(status=429, retry_after=datetime.now(UTC) + timedelta(seconds=2), path_prefix="/contacts/")
    async with connect(make_spec(), app) as c:
        started = time.monotonic()
        assert await c.get("1000001") is not None
        waited = time.monotonic() - started
    assert 0.9 <= waited < 3
    assert [r.status for r in app.requests] == [429, 200]


async def test_500_twice_then_success(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=20)
    fault = app.faults.add(status=500, times=2, path_prefix="/cursor/")
    async with connect(make_spec(), app) as c:
        ids = [r.id for p in [p async for p in c.list()] for r in p.records]
    assert ids == app.store.ids()
    assert fault.hits == 2
    assert [r.status for r in app.requests][:3] == [500, 500, 200]
    assert c.sender.retries == 2


async def test_5xx_until_the_last_attempt_is_an_api_error(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=5)
    app.faults.add(status=502, times=None)
    async with connect(make_spec(retry={"max_attempts": 3}), app) as c:
        with pytest.raises(ApiError) as caught:
            await c.get("1000001")
    e = caught.value
    assert e.status == 502 and e.retryable and e.operation == "testapp.contacts.get"
    assert f"GET {app.url}/contacts/1000001 answered HTTP 502 after 3 attempts" in str(e)
    assert "Bad Gateway" in e.excerpt
    assert len(app.requests) == 3


async def test_timeout_is_retried_then_a_transport_error(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=5)
    fault = app.faults.add(delay=1.0, times=None, path_prefix="/contacts/")
    async with connect(make_spec(timeout=0.25, retry={"max_attempts": 3}), app) as c:
        started = time.monotonic()
        with pytest.raises(TransportError) as caught:
            await c.get("1000001")
        elapsed = time.monotonic() - started
    assert fault.hits == 3  # every attempt reached the server, none was answered in time
    assert "timed out after 3 attempt(s)" in str(caught.value)
    assert caught.value.operation == "testapp.contacts.get"
    assert 0.7 <= elapsed < 2.5


async def _trickling(gap: float) -> tuple[asyncio.Server, list[float]]:
    """A server that answers each request at once, then sends the body a byte every *gap* s:
    each wait shorter than any timeout, the whole as long as the body is. The times of its
    requests."""
    body = json.dumps({"id": "1", "email": "slow@example.com", "padding": " " * 40}).encode()
    requests: list[float] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                requests.append(time.monotonic())
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(body))
                for i in range(len(body)):
                    writer.write(body[i:i + 1])
                    await writer.drain()
                    await asyncio.sleep(gap)
        except (OSError, asyncio.IncompleteReadError):
            pass  # the client gave up on it
        finally:
            writer.close()

    return await asyncio.start_server(answer, "127.0.0.1", 0), requests


async def test_a_timeout_is_for_the_whole_request_not_each_read(make_spec: Any) -> None:
    # httpx's timeouts are for each wait: a server trickling its answer (a broken proxy) held a
    # request, its cycle and its integration for as long as the answer lasted.
    server, requests = await _trickling(0.05)  # 75 bytes: 3.75 s, no wait over 0.05 s
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    spec = make_spec(timeout=0.5, retry={"max_attempts": 2, "backoff_initial": 0.01, "backoff_max": 0.01})
    async with server, Connector(spec, "contacts", {"url": url, "token": Secret("t", "${env:TOKEN}")}) as c:
        started = time.monotonic()
        with pytest.raises(TransportError) as caught:
            await c.get("1")
        took = time.monotonic() - started
    assert "timed out after 2 attempt(s): ReadTimeout: the answer did not come whole within the timeout " \
           "(0.5 s)" in str(caught.value), str(caught.value)
    assert len(requests) == 2 and 1.0 <= took < 2.0, took


async def test_an_answer_that_trickles_within_the_timeout_is_read(make_spec: Any) -> None:
    server, requests = await _trickling(0.002)  # 75 bytes: 0.15 s and more, within 2 s
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server, Connector(make_spec(timeout=2), "contacts",
                                 {"url": url, "token": Secret("t", "${env:TOKEN}")}) as c:
        record = await c.get("1")
    assert record is not None and record.fields["email"] == "slow@example.com" and len(requests) == 1


async def test_one_slow_answer_is_retried(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=5)
    app.faults.add(delay=1.0, path_prefix="/contacts/")
    async with connect(make_spec(timeout=0.25), app) as c:
        record = await c.get("1000002")
    assert record is not None and record.id == "1000002"
    assert c.sender.retries == 1


async def test_dropped_connection_is_retried(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=20)
    app.faults.add(close=True, path_prefix="/cursor/")
    async with connect(make_spec(), app) as c:
        ids = [r.id for p in [p async for p in c.list()] for r in p.records]
    assert ids == app.store.ids()
    assert [r.status for r in app.requests][:2] == [None, 200]


async def test_connection_refused_is_retried_then_a_transport_error(sample_app: Any, make_spec: Any,
                                                                     connect: Any) -> None:
    app = sample_app(n=1)
    spec = make_spec()
    c = connect(spec, app)
    app.stop()  # nothing listens there any more
    async with c:
        with pytest.raises(TransportError) as caught:
            await c.create(NEW)  # a refused connection is safe to retry, even for a POST
    assert "failed after 4 attempt(s)" in str(caught.value)
    assert c.sender.retries == 3


async def test_malformed_json_is_a_response_error_with_an_excerpt(sample_app: Any, make_spec: Any,
                                                                  connect: Any) -> None:
    app = sample_app(n=5)
    app.faults.add(malformed=True, path_prefix="/contacts/", times=None)
    async with connect(make_spec(), app) as c:
        with pytest.raises(ResponseError) as caught:
            await c.get("1000001")
    message = str(caught.value)
    assert message.startswith(f"testapp.contacts.get: GET {app.url}/contacts/1000001 answered HTTP 200")
    assert "not JSON" in message and "it starts: '{\"id\":\"1000001\"" in message
    assert len(app.requests) == 4  # retried as a 5xx is, then given up


async def test_a_read_answered_with_a_body_that_is_not_json_is_retried(sample_app: Any, make_spec: Any,
                                                                     connect: Any) -> None:
    # A body cut short once (a proxy, a gateway) aborted the whole cycle that read it.
    app = sample_app(n=5)
    app.faults.add(malformed=True, path_prefix="/contacts/")
    app.faults.add(malformed=True, path_prefix="/cursor/contacts")
    async with connect(make_spec(), app) as c:
        record = await c.get("1000001")
        pages = [page async for page in c.list()]
    assert record is not None and record.id == "1000001"
    assert sum(len(p.records) for p in pages) == 5
    assert c.sender.retries == 2


async def test_a_create_answered_with_a_body_that_is_not_json_is_not_sent_again(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=5)
    app.faults.add(malformed=True, method="POST", path_prefix="/contacts")
    async with connect(make_spec(), app) as c:
        with pytest.raises(ResponseError):
            await c.create(NEW)  # it may have been stored: found by the next cycle, not sent twice
    assert len(app.requests.matching("POST", "/contacts")) == 1


async def test_long_excerpt_is_cut(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=30)
    app.faults.add(malformed=True, times=None)
    async with connect(make_spec(replace_list={"path": "/all/contacts"}), app) as c:
        with pytest.raises(ResponseError) as caught:
            async for _ in c.list():
                pass
    excerpt = str(caught.value).split("it starts: ", 1)[1]
    assert excerpt.endswith("…'") and len(excerpt) <= 200 + 3


async def test_records_missing_from_the_answer_is_a_response_error(sample_app: Any, make_spec: Any,
                                                                   connect: Any) -> None:
    app = sample_app(n=5)
    spec = make_spec(replace_list={"path": "/cursor/contacts", "records": "contacts"})
    async with connect(spec, app) as c:
        with pytest.raises(ResponseError, match=r"records: 'contacts' found nothing .*it has: results\)"):
            async for _ in c.list():
                pass


async def test_404_on_get_is_none(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=5)
    async with connect(make_spec(), app) as c:
        assert await c.get("999") is None
        assert await c.get("a/b?c") is None  # an id is one escaped path segment
    assert [r.path for r in app.requests] == ["/contacts/999", "/contacts/a%2Fb%3Fc"]
    assert len(app.requests) == 2


async def test_404_on_a_list_is_an_api_error_with_a_hint(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=5)
    async with connect(make_spec(replace_list={"path": "/nowhere/contacts"}), app) as c:
        with pytest.raises(ApiError) as caught:
            async for _ in c.list():
                pass
    assert caught.value.status == 404 and not caught.value.retryable
    assert "check the path" in str(caught.value)
    assert len(app.requests) == 1


async def test_400_on_create_is_an_api_error_not_retried(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=5)
    async with connect(make_spec(), app) as c:
        with pytest.raises(ApiError) as caught:
            await c.create({"email": "not-an-email"})
    e = caught.value
    assert e.status == 400 and not e.retryable and e.operation == "testapp.contacts.create"
    assert "not a valid email" in e.excerpt and "HTTP 400" in str(e)
    assert len(app.requests.matching("POST", "/contacts")) == 1


async def test_400_on_get_is_not_retried(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=5)
    app.faults.add(status=400, times=None)
    async with connect(make_spec(), app) as c:
        with pytest.raises(ApiError) as caught:
            await c.get("1000001")
    assert caught.value.status == 400 and "after" not in str(caught.value)
    assert len(app.requests) == 1


@pytest.mark.parametrize("failure", [{"status": 500}, {"status": 502}, {"close": True}])
async def test_post_is_not_retried_when_the_server_may_have_acted(sample_app: Any, make_spec: Any,
                                                                  connect: Any, failure: dict[str, Any]) -> None:
    app = sample_app(n=5)
    app.faults.add(method="POST", path_prefix="/contacts", **failure)
    async with connect(make_spec(), app) as c:
        with pytest.raises((ApiError, TransportError)) as caught:
            await c.create(NEW)
    assert len(app.requests.matching("POST", "/contacts")) == 1  # exactly one: never a duplicate contact
    assert caught.value.operation == "testapp.contacts.create"
    if "status" in failure:
        assert isinstance(caught.value, ApiError) and caught.value.status == failure["status"]


@pytest.mark.parametrize("status", [429, 503])
async def test_post_is_retried_on_429_and_503(sample_app: Any, make_spec: Any, connect: Any, status: int) -> None:
    app = sample_app(n=5)
    app.faults.add(status=status, retry_after="0", method="POST", path_prefix="/contacts", times=2)
    async with connect(make_spec(), app) as c:
        created = await c.create(NEW)
    assert [r.status for r in app.requests.matching("POST", "/contacts")] == [status, status, 201]
    assert created.fields["email"] == NEW["email"]
    assert app.store.find_by_email(NEW["email"])["id"] == created.id  # type: ignore[index]
    assert len(app.store) == 6


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_update_and_delete_are_retried_on_5xx(sample_app: Any, make_spec: Any, connect: Any,
                                                    method: str) -> None:
    app = sample_app(n=5)
    app.faults.add(status=500, method=method, path_prefix="/contacts/1000002")
    async with connect(make_spec(), app) as c:
        if method == "PATCH":
            record = await c.update("1000002", {"first_name": "Retried"})
            assert record is not None and record.fields["first_name"] == "Retried"
        else:
            assert await c.delete("1000002") is True
    assert [r.status for r in app.requests.matching(method)] == [500, 200 if method == "PATCH" else 204]


async def test_403_is_an_auth_error_not_retried(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=5)
    app.faults.add(status=403)
    async with connect(make_spec(), app) as c:
        with pytest.raises(AuthError) as caught:
            await c.get("1000001")
    assert caught.value.status == 403 and "lack permission" in str(caught.value)
    assert len(app.requests) == 1


async def test_a_read_by_post_is_retried_on_5xx(sample_app: Any, make_spec: Any, connect: Any) -> None:
    # A search endpoint (POST) reads: repeating it cannot create anything.
    app = sample_app(n=20)
    app.faults.add(status=500, method="POST", path_prefix="/search/contacts", times=2)
    spec = make_spec(replace_list={
        "method": "POST", "path": "/search/contacts", "body": {"limit": 7}, "records": "results",
        "pagination": {"type": "cursor", "cursor": "paging.next.after", "body_field": "after"}})
    async with connect(spec, app) as c:
        ids = [r.id for p in [p async for p in c.list()] for r in p.records]
    assert ids == app.store.ids()
    assert [r.status for r in app.requests][:3] == [500, 500, 200]


async def test_a_redirect_loop_fails_once_and_is_named(make_spec: Any) -> None:
    # httpx's TooManyRedirects is no TransportError: it escaped the connector's errors as an
    # unexpected exception (a cycle failing with a traceback, as for a bug).
    requests: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readuntil(b"\r\n\r\n"):
                requests.append(line.split(b" ")[1])
                writer.write(b"HTTP/1.1 302 Found\r\nLocation: /around\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server, Connector(make_spec(), "contacts", {"url": url, "token": Secret("t", "${env:TOKEN}")}) as c:
        with pytest.raises(TransportError) as caught:
            await c.get("1")
    assert f"GET {url}/contacts/1 failed after 1 attempt(s): TooManyRedirects: " in str(caught.value), \
        str(caught.value)
    # once, not per attempt: the plain path's first answer, then httpx's request and its 20 redirects
    assert len(requests) == 22
