"""Secrets stay secret: not in httpx's log lines, not in error messages, not in repr()."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from syncd._secret import Secret, reveal
from syncd.connector import (
    PROCESS_MASKER,
    ApiError,
    AuthError,
    ConnectorError,
    ResponseError,
    SecretMasker,
    TransportError,
)
from syncd.sampleapp import AuthMode

pytestmark = pytest.mark.anyio

API_KEY = "qk-9f8e7d6c5b4a"
QUERY_AUTH = {"type": "api_key", "in": "query", "name": "api_key", "value": "{{ settings.token }}"}


def http_log_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith(("httpx", "httpcore"))]


async def test_api_key_in_the_query_never_reaches_httpx_logs(sample_app: Any, make_spec: Any, connect: Any,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="httpx")
    caplog.set_level(logging.DEBUG, logger="httpcore")
    app = sample_app(n=20, auth=AuthMode.API_KEY_QUERY, token=API_KEY)
    async with connect(make_spec(auth=QUERY_AUTH), app) as c:
        pages = [p async for p in c.list()]
        await c.get("1000001")
    assert len(pages) == 3
    assert all(r.query["api_key"] == API_KEY for r in app.requests)  # it was sent...
    requests = [line for line in http_log_lines(caplog) if line.startswith("HTTP Request:")]
    assert len(requests) == 4
    assert all("api_key=***" in line for line in requests)  # ...and logged masked
    assert not [line for line in http_log_lines(caplog) if API_KEY in line]
    assert API_KEY not in caplog.text


async def test_each_connectors_masker_masks_the_logs(sample_app: Any, make_spec: Any, connect: Any,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    # A connector given its own masker (not the process-wide one) gets its
    # secrets masked in the HTTP libraries' logs too, whoever came first.
    caplog.set_level(logging.INFO, logger="httpx")
    keys = ["key-for-connector-one", "key-for-connector-two"]
    for key in keys:
        app = sample_app(n=2, auth=AuthMode.API_KEY_QUERY, token=key)
        masker = SecretMasker()
        async with connect(make_spec(auth=QUERY_AUTH), app, masker=masker) as c:
            assert await c.get("1000001") is not None
        assert key in masker and key not in PROCESS_MASKER
    lines = http_log_lines(caplog)
    assert len(lines) == 2
    assert not [line for line in lines if any(key in line for key in keys)], lines


async def test_api_key_is_never_in_error_messages(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=5, auth=AuthMode.API_KEY_QUERY, token=API_KEY)
    # an API that echoes a bad parameter, which here is the key itself
    spec = make_spec(auth=QUERY_AUTH, timeout=0.2, retry={"max_attempts": 2},
                     contacts={"changes": {"params": {"updated_after": "{{ settings.token }}"}}})
    app.store.update("1000001", first_name=API_KEY)  # a record that holds the secret
    errors: list[ConnectorError] = []
    async with connect(spec, app) as c:
        with pytest.raises(ApiError) as echoed:
            async for _ in c.changes(datetime.now(UTC)):
                pass
        errors.append(echoed.value)
        app.faults.add(malformed=True, path_prefix="/contacts/1000001", times=None)
        with pytest.raises(ResponseError) as malformed:
            await c.get("1000001")
        errors.append(malformed.value)
        app.faults.clear()
        app.faults.add(status=503, times=None, path_prefix="/contacts/")
        with pytest.raises(ApiError) as unavailable:
            await c.get("1000001")
        errors.append(unavailable.value)
        app.faults.clear()
        app.faults.add(delay=1.0, times=None, path_prefix="/contacts/")
        with pytest.raises(TransportError) as timeout:
            await c.get("1000001")
        errors.append(timeout.value)
    app.faults.clear()
    assert API_KEY in app.requests.matching("GET", "/cursor/contacts")[0].query["updated_after"]
    assert "***" in echoed.value.excerpt and "***" in str(malformed.value)
    for e in errors:
        assert API_KEY not in str(e) and API_KEY not in getattr(e, "excerpt", "")
        assert API_KEY not in repr(e)


async def test_wrong_api_key_is_not_in_the_auth_error(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=5, auth=AuthMode.API_KEY_QUERY, token=API_KEY)
    async with connect(make_spec(auth=QUERY_AUTH), app, token="qk-wrong-key-0000") as c:
        with pytest.raises(AuthError) as caught:
            await c.get("1000001")
    assert "qk-wrong-key-0000" not in str(caught.value) and API_KEY not in str(caught.value)


async def test_bearer_token_is_not_in_errors(sample_app: Any, make_spec: Any, connect: Any) -> None:
    token = "bearer-tok-5e6f7a8b"
    app = sample_app(n=5, auth=AuthMode.BEARER, token=token)
    app.store.update("1000002", last_name=token)
    async with connect(make_spec(), app) as c:
        app.faults.add(malformed=True, path_prefix="/contacts/", times=None)
        with pytest.raises(ResponseError) as malformed:
            await c.get("1000002")
        app.faults.clear()
        app.faults.add(status=500, times=None)
        with pytest.raises(ApiError) as failed:
            await c.get("1000002")
    app.faults.clear()
    async with connect(make_spec(), app, token=token + "-but-wrong") as c:
        with pytest.raises(AuthError) as refused:
            await c.get("1000002")
    for e in (malformed.value, failed.value, refused.value):
        assert token not in str(e)
    assert "***" in str(malformed.value)


async def test_oauth2_tokens_are_masked(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=3, auth=AuthMode.OAUTH2_CLIENT_CREDENTIALS, token="client-secret-1234")
    auth = {"type": "oauth2_client_credentials", "token_url": "{{ settings.url }}/oauth/token",
            "client_id": "sample-client", "client_secret": "{{ settings.token }}"}
    masker = SecretMasker()
    async with connect(make_spec(auth=auth), app, masker=masker) as c:
        await c.get("1000001")
        access = c.client.auth.access_token  # type: ignore[union-attr]
        assert access and access in masker
        assert masker.mask(f"Authorization: Bearer {access}") == "Authorization: Bearer ***"
    assert "client-secret-1234" in masker


def test_secret_prints_as_stars() -> None:
    s = Secret("hunter2-value", reference="${env:TOKEN}")
    assert str(s) == "***" and f"{s}" == "***" and f"{s:>20}" == "***" and "%s" % s == "***"
    assert "hunter2-value" not in repr(s) and repr(s) == "Secret(${env:TOKEN})"
    assert repr(Secret("hunter2-value")) == "Secret(***)"
    assert "hunter2-value" not in repr({"token": s}) and "hunter2-value" not in str([s])
    assert s.reveal() == reveal(s) == "hunter2-value" and reveal("plain") == "plain"
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(s)


def test_masker_masks_every_encoding_of_a_secret() -> None:
    masker = SecretMasker()
    masker.add("a b+c/d&e")
    masker.add("abc")  # too short to mask: would hide innocent text everywhere
    masker.add(None)
    masker.add("")
    text = "raw=a b+c/d&e quoted=a%20b%2Bc%2Fd%26e plus=a+b%2Bc%2Fd%26e abc"
    assert masker.mask(text) == "raw=*** quoted=*** plus=*** abc"
    assert "a b+c/d&e" in masker and "abc" not in masker
    assert SecretMasker().mask("nothing registered") == "nothing registered"


def test_longer_secrets_are_masked_first() -> None:
    masker = SecretMasker()
    masker.add("token")
    masker.add("token-extended")
    assert masker.mask("token-extended token") == "*** ***"
