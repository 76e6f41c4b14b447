"""Auth strategies as ``httpx.Auth`` flows.

Static credentials (API key, bearer, basic) are rendered once when the
connector is built.  The OAuth 2 flows fetch and cache an access token: it
is refreshed shortly before it expires and once on a 401, and a single lock
makes sure that however many requests wait, one token request goes out.
A refresh token the server rotates replaces the old one in memory and,
with a :class:`~syncd.connector._tokens.TokenStore`, on disk before the new
access token is used; the flow is shared by every connector of the account
(see :meth:`Account.oauth2`), so one refresh serves them all.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from typing import Any
from urllib.parse import quote_plus

import anyio
import httpx
import orjson

from syncd.config import (
    ApiKeyAuth,
    AuthSpec,
    BasicAuth,
    BearerAuth,
    NoAuth,
    OAuth2Auth,
)
from syncd.connector._errors import AuthError
from syncd.connector._masking import SecretMasker
from syncd.connector._tokens import TokenStore

_EXPIRY_MARGIN_MAX = 60.0  # refresh up to a minute before expiry


class Static(httpx.Auth):
    """Sets fixed headers or query params on every request."""

    def __init__(self, headers: Mapping[str, str] = {}, params: Mapping[str, str] = {}) -> None:
        self.headers = dict(headers)
        self.params = dict(params)

    def apply(self, request: httpx.Request) -> None:
        """Set them on *request*: the whole flow, which never looks at the answer."""
        request.headers.update(self.headers)
        if self.params:
            request.url = request.url.copy_merge_params(self.params)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.apply(request)
        yield request


class OAuth2(httpx.Auth):
    """``client_credentials`` and ``refresh_token`` grants with a cached token."""

    def __init__(
        self, *, grant: str, token_url: str, client_id: str, client_secret: str,
        scopes: tuple[str, ...] = (), audience: str | None = None,
        refresh_token: str | None = None, client_auth: str,
        masker: SecretMasker, tokens: TokenStore | None = None, account_key: str = "",
        refresh_setting: str = "auth.refresh_token",
    ) -> None:
        self.grant = grant
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.scopes = scopes
        self.audience = audience
        self.refresh_token = refresh_token
        self.client_auth = client_auth
        self.masker = masker
        self.maskers = [masker]  # one per connector sharing this flow
        self.tokens = tokens if grant == "refresh_token" and refresh_token else None
        self.account_key = account_key
        self.config_refresh_token = refresh_token or ""
        self.refresh_setting = refresh_setting  # named when the server refuses the token
        self.access_token: str | None = None
        self.expires_at = 0.0
        self.token_requests = 0
        self._lock = anyio.Lock()

    def params(self) -> tuple[object, ...]:
        """What makes two flows interchangeable (the account's connectors share one)."""
        return (self.grant, self.token_url, self.client_id, self.client_secret, self.scopes,
                self.audience, self.config_refresh_token, self.client_auth, self.tokens and self.tokens.path)

    def attach(self, masker: SecretMasker) -> None:
        """Another connector uses this flow: its log masks our tokens too."""
        if masker not in self.maskers:
            self.maskers.append(masker)
        for token in (self.access_token, self.refresh_token):
            if token:
                masker.add(token)

    def _mask(self, token: str) -> None:
        for masker in self.maskers:
            masker.add(token)

    def _fresh(self) -> bool:
        return self.access_token is not None and time.monotonic() < self.expires_at

    def _token_request(self) -> httpx.Request:
        form: dict[str, str] = {"grant_type": self.grant}
        if self.grant == "refresh_token":
            form["refresh_token"] = self.refresh_token or ""
        if self.scopes:
            form["scope"] = " ".join(self.scopes)
        if self.audience:
            form["audience"] = self.audience
        headers = {"Accept": "application/json"}
        if self.client_auth == "basic":
            # RFC 6749 2.3.1: both are form-encoded before base64, so a
            # secret with ":", "+" or "%" reaches the server intact.
            raw = f"{quote_plus(self.client_id)}:{quote_plus(self.client_secret)}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        else:
            form["client_id"] = self.client_id
            form["client_secret"] = self.client_secret
        return httpx.Request("POST", self.token_url, data=form, headers=headers)

    def _store(self, response: httpx.Response) -> None:
        self.token_requests += 1
        try:
            body: Any = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        # The refresh token itself refused (RFC 6749 5.2: invalid_grant; some
        # servers answer 401): only a re-authorisation helps. A 401
        # invalid_client is the client's secret, reported as before.
        if (self.grant == "refresh_token" and isinstance(body, dict)
                and body.get("error") != "invalid_client"
                and (response.status_code == 401
                     or (response.status_code == 400 and body.get("error") == "invalid_grant"))):
            raise AuthError(
                f"the token endpoint refused the refresh token (HTTP {response.status_code}"
                f"{' invalid_grant' if body.get('error') == 'invalid_grant' else ''}): it was revoked "
                f"or has expired; re-authorise the account and put the new refresh token in "
                f"{self.refresh_setting}",
                operation="auth", status=response.status_code, retryable=False,
            )
        if response.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
            excerpt = self.masker.mask(response.text[:200]) if response.content else ""
            raise AuthError(
                f"the token endpoint refused the credentials (HTTP {response.status_code})"
                + (f": {excerpt}" if excerpt else ""),
                operation="auth", status=response.status_code, excerpt=excerpt,
                retryable=response.status_code == 429 or response.status_code >= 500,
            )
        access_token = str(body["access_token"])
        self._mask(access_token)
        lifetime = float(body.get("expires_in") or 3600)
        margin = min(_EXPIRY_MARGIN_MAX, lifetime / 10)
        if body.get("refresh_token"):  # a rotated refresh token replaces the old one
            self.refresh_token = str(body["refresh_token"])
            self._mask(self.refresh_token)
            if self.tokens is not None:
                # Persisted before the new access token is used: the old
                # refresh token is dead already, a crash must not lose this one.
                # The access token goes along for the other daemons on a
                # shared store (they use it rather than refresh again).
                self.tokens.save(self.account_key, self.config_refresh_token, self.refresh_token,
                                 access_token, lifetime - margin)
        self.access_token = access_token
        self.expires_at = time.monotonic() + lifetime - margin

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if not self._fresh():
            async with self._lock:
                if not self._fresh():  # another request may have refreshed meanwhile
                    release = await self._take_store()
                    try:
                        if not self._fresh():  # nor another daemon (its token, from the store)
                            token_response = yield self._token_request()
                            await token_response.aread()
                            self._store(token_response)
                    finally:
                        release()
        used = self.access_token
        request.headers["Authorization"] = f"Bearer {used}"
        response = yield request
        if response.status_code != 401:
            return
        # The token was revoked or expired early: refresh once, unless a
        # concurrent request already did, and replay the request.
        async with self._lock:
            if self.access_token == used:
                release = await self._take_store(rejected=used)
                try:
                    if self.access_token == used:
                        token_response = yield self._token_request()
                        await token_response.aread()
                        self._store(token_response)
                finally:
                    release()
        request.headers["Authorization"] = f"Bearer {self.access_token}"
        yield request

    async def _take_store(self, rejected: str | None = None) -> Callable[[], object]:
        """Lock the token store against other processes and read the current
        refresh token under the lock (one may have rotated it meanwhile),
        and the access token it came with when the store shares one (another
        daemon refreshed a moment ago: no refresh needed), unless it is the
        *rejected* one; returns what releases the lock. Nothing to do without a store."""
        if self.tokens is None:
            return lambda: None
        held = self.tokens.locked(self.account_key)
        # flock blocks: not on the event loop. Shielded: a cancel arriving
        # once the thread holds the lock would leave it held for good.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(held.__enter__)
        try:
            stored = self.tokens.load(self.account_key, self.config_refresh_token)
            shared = self.tokens.load_access(self.account_key, self.config_refresh_token)
        except BaseException:
            held.__exit__(None, None, None)
            raise
        if stored is not None and stored != self.refresh_token:
            self.refresh_token = stored
            self._mask(stored)
        if shared is not None and shared[0] != rejected:
            self.access_token = shared[0]
            self._mask(shared[0])
            self.expires_at = time.monotonic() + shared[1]
        return lambda: held.__exit__(None, None, None)

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("syncd's connectors are async only")


def build_auth(
    spec: AuthSpec, context: Mapping[str, Any], masker: SecretMasker, *,
    connector: str = "", account_key: str = "", tokens: TokenStore | None = None,
) -> httpx.Auth | None:
    """Render the auth spec's templates and build its flow; an OAuth 2 flow
    with a refresh token keeps the rotated ones in *tokens* under *account_key*."""

    def text(template: Any) -> str:
        value: str = template.render_text(context)
        masker.add(value)
        return value

    if isinstance(spec, NoAuth):
        return None
    if isinstance(spec, ApiKeyAuth):
        value = text(spec.value)
        if spec.location == "header":
            return Static(headers={spec.name: value})
        return Static(params={spec.name: value})
    if isinstance(spec, BearerAuth):
        return Static(headers={"Authorization": f"Bearer {text(spec.token)}"})
    if isinstance(spec, BasicAuth):
        raw = f"{text(spec.username)}:{text(spec.password)}".encode()
        header = "Basic " + base64.b64encode(raw).decode()
        masker.add(header.removeprefix("Basic "))
        return Static(headers={"Authorization": header})
    if isinstance(spec, OAuth2Auth):
        return OAuth2(
            grant=spec.grant,
            token_url=spec.token_url.render_text(context),
            client_id=text(spec.client_id),
            client_secret=text(spec.client_secret),
            scopes=spec.scopes,
            audience=spec.audience.render_text(context) if spec.audience else None,
            refresh_token=text(spec.refresh_token) if spec.refresh_token else None,
            client_auth=spec.client_auth,
            masker=masker, tokens=tokens, account_key=account_key,
            refresh_setting=_refresh_setting(spec, connector),
        )
    raise TypeError(f"unknown auth spec {spec!r}")


def _refresh_setting(spec: OAuth2Auth, connector: str) -> str:
    """Where the operator puts a new refresh token: the setting the spec's
    template reads (``settings.refresh_token of connector X``)."""
    source = spec.refresh_token.source if spec.refresh_token else ""
    found = re.fullmatch(r"\{\{\s*(settings\.\w+)\s*\}\}", source.strip())
    where = found.group(1) if found else "auth.refresh_token"
    return f"{where} of connector {connector!r}" if connector else where
