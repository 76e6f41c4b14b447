"""Auth: every mode reads the sample app; OAuth 2 tokens are cached, refreshed and rotated."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from syncd.connector import AuthError, Connector
from syncd.sampleapp import AuthMode, SampleApp

pytestmark = pytest.mark.anyio

OAUTH_SETTINGS = {"refresh_token": {"description": "OAuth2 refresh token", "secret": True}}
AUTH: dict[AuthMode, dict[str, Any]] = {
    AuthMode.NONE: {"type": "none"},
    AuthMode.API_KEY_HEADER: {"type": "api_key", "in": "header", "name": "X-API-Key",
                              "value": "{{ settings.token }}"},
    AuthMode.API_KEY_QUERY: {"type": "api_key", "in": "query", "name": "api_key",
                             "value": "{{ settings.token }}"},
    AuthMode.BEARER: {"type": "bearer", "token": "{{ settings.token }}"},
    AuthMode.BASIC: {"type": "basic", "username": "sample-user", "password": "{{ settings.token }}"},
    AuthMode.OAUTH2_CLIENT_CREDENTIALS: {
        "type": "oauth2_client_credentials", "token_url": "{{ settings.url }}/oauth/token",
        "client_id": "sample-client", "client_secret": "{{ settings.token }}", "scopes": ["contacts"]},
    AuthMode.OAUTH2_REFRESH_TOKEN: {
        "type": "oauth2_refresh_token", "token_url": "{{ settings.url }}/oauth/token",
        "client_id": "sample-client", "client_secret": "{{ settings.token }}",
        "refresh_token": "{{ settings.refresh_token }}"},
}
OAUTH_MODES = (AuthMode.OAUTH2_CLIENT_CREDENTIALS, AuthMode.OAUTH2_REFRESH_TOKEN)


def spec_for(make_spec: Any, mode: AuthMode, **auth: Any) -> Any:
    settings = OAUTH_SETTINGS if mode is AuthMode.OAUTH2_REFRESH_TOKEN else {}
    return make_spec(auth={**AUTH[mode], **auth}, settings=settings)


def open_connector(connect: Any, spec: Any, app: SampleApp, **kwargs: Any) -> Connector:
    if app.auth_mode is AuthMode.OAUTH2_REFRESH_TOKEN:
        kwargs.setdefault("settings", {"refresh_token": app.refresh_token})
    return connect(spec, app, **kwargs)  # type: ignore[no-any-return]


def token_calls(app: SampleApp) -> list[Any]:
    return app.requests.matching("POST", "/oauth/token")


def unauthorised(app: SampleApp) -> list[Any]:
    return [r for r in app.requests.matching(path_prefix="/contacts") if r.status == 401]


@pytest.mark.parametrize("mode", list(AuthMode))
async def test_each_auth_mode_reads_every_contact(sample_app: Any, make_spec: Any, connect: Any,
                                                  mode: AuthMode) -> None:
    app = sample_app(n=15, auth=mode, token="s3cret-token-value")
    async with open_connector(connect, spec_for(make_spec, mode), app) as c:
        records = [r for page in [p async for p in c.list()] for r in page.records]
        one = await c.get("1000003")
    assert sorted(r.id for r in records) == app.store.ids()
    assert one is not None and one.fields["email"] == app.store.get("1000003")["email"]  # type: ignore[index]
    assert not [r for r in app.requests if r.status == 401]


@pytest.mark.parametrize("mode", [m for m in AuthMode if m is not AuthMode.NONE])
async def test_wrong_credentials_raise_auth_error_naming_operation_and_status(
        sample_app: Any, make_spec: Any, connect: Any, mode: AuthMode) -> None:
    app = sample_app(n=3, auth=mode, token="right-secret-value")
    wrong = "wrong-secret-value"
    kwargs: dict[str, Any] = {"token": wrong}
    if mode is AuthMode.OAUTH2_REFRESH_TOKEN:  # a revoked refresh token, right client secret
        kwargs = {"settings": {"refresh_token": "rt-revoked-refresh-token"}}
    async with open_connector(connect, spec_for(make_spec, mode), app, **kwargs) as c:
        with pytest.raises(AuthError) as caught:
            await c.get("1000001")
    e = caught.value
    assert e.operation == "testapp.contacts.get"
    assert str(e).startswith("testapp.contacts.get: ")
    expected = 400 if mode is AuthMode.OAUTH2_REFRESH_TOKEN else 401  # RFC 6749: invalid_grant is a 400
    assert e.status == expected and f"HTTP {expected}" in str(e)
    for secret in (wrong, "right-secret-value", "rt-revoked-refresh-token", app.refresh_token):
        assert secret not in str(e)
        assert secret not in e.excerpt
    # a refusal is final: not retried like a server error
    calls = token_calls(app) if mode in OAUTH_MODES else app.requests.matching("GET", "/contacts/")
    assert len(calls) == 1


async def test_oauth2_token_is_cached_across_requests(sample_app: Any, make_spec: Any, connect: Any) -> None:
    mode = AuthMode.OAUTH2_CLIENT_CREDENTIALS
    app = sample_app(n=20, auth=mode)
    async with open_connector(connect, spec_for(make_spec, mode), app) as c:
        for cid in app.store.ids()[:5]:
            assert await c.get(cid) is not None
        pages = [p async for p in c.list()]
    assert len(pages) == 3
    assert app.token_requests == 1
    token_body = token_calls(app)[0].body
    assert token_body["grant_type"] == "client_credentials" and token_body["scope"] == "contacts"


@pytest.mark.parametrize("mode", OAUTH_MODES)
async def test_oauth2_token_refreshed_before_it_expires(sample_app: Any, make_spec: Any, connect: Any,
                                                        mode: AuthMode) -> None:
    app = sample_app(n=3, auth=mode, token_ttl=0.5)
    async with open_connector(connect, spec_for(make_spec, mode), app) as c:
        assert await c.get("1000001") is not None
        # Not synchronisation: only time passing expires a token. 0.6 s is past
        # its 0.5 s lifetime on the server, and past the client's own refresh
        # point (90 % of the lifetime, counted from when the answer arrived).
        await anyio.sleep(0.6)
        assert await c.get("1000002") is not None
    assert app.token_requests == 2
    assert unauthorised(app) == []  # refreshed ahead: no request was refused on the way


@pytest.mark.parametrize("mode", OAUTH_MODES)
async def test_oauth2_refreshes_once_on_401_and_replays(sample_app: Any, make_spec: Any, connect: Any,
                                                        mode: AuthMode) -> None:
    app = sample_app(n=3, auth=mode)
    async with open_connector(connect, spec_for(make_spec, mode), app) as c:
        assert await c.get("1000001") is not None
        app.expire_tokens()  # revoked server-side, still fresh as far as the client knows
        record = await c.get("1000002")
    assert record is not None and record.id == "1000002"
    assert app.token_requests == 2
    assert len(unauthorised(app)) == 1
    assert [r.status for r in app.requests.matching("GET", "/contacts/1000002")] == [401, 200]


@pytest.mark.parametrize("expire", [False, True], ids=["cold-start", "after-401"])
async def test_concurrent_requests_share_one_token_request(sample_app: Any, make_spec: Any, connect: Any,
                                                           expire: bool) -> None:
    mode = AuthMode.OAUTH2_CLIENT_CREDENTIALS
    app = sample_app(n=25, auth=mode, token_endpoint_delay=0.3)
    results: dict[str, Any] = {}
    async with open_connector(connect, spec_for(make_spec, mode), app) as c:
        if expire:
            await c.get("1000000")
            app.expire_tokens()
        before = app.token_requests

        async def fetch(cid: str) -> None:
            results[cid] = await c.get(cid)

        async with anyio.create_task_group() as tg:
            for cid in app.store.ids()[:20]:
                tg.start_soon(fetch, cid)
    assert len(results) == 20 and all(r is not None and r.id == cid for cid, r in results.items())
    assert app.token_requests - before == 1
    if expire:  # each refused one was replayed with the new token
        refused = len(unauthorised(app))
        assert 1 <= refused <= 20
        assert len(app.requests.matching("GET", "/contacts/")) == 21 + refused


async def test_rotated_refresh_token_is_kept_and_used(sample_app: Any, make_spec: Any, connect: Any) -> None:
    mode = AuthMode.OAUTH2_REFRESH_TOKEN
    app = sample_app(n=3, auth=mode, rotate_refresh_token=True)
    first = app.refresh_token
    async with open_connector(connect, spec_for(make_spec, mode), app) as c:
        assert await c.get("1000001") is not None
        second = app.refresh_token
        assert second != first  # the server rotated it; the old one is dead now
        app.expire_tokens()
        assert await c.get("1000002") is not None  # refresh with the rotated token
        third = app.refresh_token
        app.expire_tokens()
        assert await c.get("1000000") is not None  # and again with the next one
        for token in (second, third):
            assert token in c.masker  # a received refresh token is masked like the configured one
    used = [r.body["refresh_token"] for r in token_calls(app)]
    assert used == [first, second, third]
    assert all(r.status == 200 for r in token_calls(app))


@pytest.mark.parametrize("client_auth", ["body", "basic"])
@pytest.mark.parametrize("mode", OAUTH_MODES)
async def test_oauth2_client_authentication(sample_app: Any, make_spec: Any, connect: Any,
                                            mode: AuthMode, client_auth: str) -> None:
    app = sample_app(n=3, auth=mode)
    spec = spec_for(make_spec, mode, client_auth=client_auth)
    async with open_connector(connect, spec, app) as c:
        assert await c.get("1000001") is not None
    (call,) = token_calls(app)
    assert call.status == 200
    if client_auth == "basic":
        assert call.headers["authorization"].startswith("Basic ")
        assert "client_secret" not in call.body
    else:
        assert "authorization" not in call.headers
        assert call.body["client_id"] == "sample-client" and call.body["client_secret"] == app.token


async def test_basic_client_auth_form_encodes_id_and_secret(sample_app: Any, make_spec: Any,
                                                            connect: Any) -> None:
    # RFC 6749 2.3.1: the id and secret are form-encoded before base64, so a
    # secret with "+", "%" or ":" reaches the server intact.
    mode = AuthMode.OAUTH2_CLIENT_CREDENTIALS
    secret = "p+ss:w%rd/=="
    app = sample_app(n=3, auth=mode, token=secret)
    async with open_connector(connect, spec_for(make_spec, mode, client_auth="basic"), app) as c:
        assert await c.get("1000001") is not None
    assert token_calls(app)[0].status == 200


async def test_a_token_refused_after_its_refresh_is_an_auth_error(sample_app: Any, make_spec: Any,
                                                                   connect: Any) -> None:
    # One refresh per 401, not a loop: refused again, the request fails,
    # and the message never shows the access token.
    mode = AuthMode.OAUTH2_CLIENT_CREDENTIALS
    app = sample_app(n=3, auth=mode)
    app.faults.add(status=401, path_prefix="/contacts/", times=2)
    async with open_connector(connect, spec_for(make_spec, mode), app) as c:
        with pytest.raises(AuthError) as caught:
            await c.get("1000001")
        tokens = [t for t in (c.client.auth.access_token,) if t]  # type: ignore[union-attr]
    assert caught.value.status == 401 and caught.value.operation == "testapp.contacts.get"
    assert tokens and all(t not in str(caught.value) for t in tokens)
    assert app.token_requests == 2  # the first token, then one refresh on the 401
    assert len(app.requests.matching("GET", "/contacts/")) == 2


async def test_a_token_endpoint_hiccup_is_retried(sample_app: Any, make_spec: Any, connect: Any) -> None:
    mode = AuthMode.OAUTH2_CLIENT_CREDENTIALS
    app = sample_app(n=3, auth=mode)
    app.faults.add(status=503, path_prefix="/oauth/token")
    async with open_connector(connect, spec_for(make_spec, mode), app) as c:
        assert await c.get("1000001") is not None
    assert [r.status for r in token_calls(app)] == [503, 200]


async def test_a_token_endpoint_that_stays_down_is_an_auth_error(sample_app: Any, make_spec: Any,
                                                                 connect: Any) -> None:
    mode = AuthMode.OAUTH2_CLIENT_CREDENTIALS
    app = sample_app(n=3, auth=mode)
    app.faults.add(status=500, times=None, path_prefix="/oauth/token")
    async with open_connector(connect, spec_for(make_spec, mode), app) as c:
        with pytest.raises(AuthError) as caught:
            await c.get("1000001")
    assert caught.value.status == 500 and caught.value.retryable
    assert caught.value.operation == "testapp.contacts.get"
    assert len(token_calls(app)) == 4  # max_attempts
    assert app.requests.matching("GET") == []
