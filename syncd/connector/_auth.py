"""Auth strategies as ``httpx.Auth`` flows.

Static credentials (API key, bearer, basic) are rendered once when the
connector is built.  The OAuth 2 flows fetch and cache an access token: it
is refreshed shortly before it expires and once on a 401, and a single lock
makes sure that however many requests wait, one token request goes out.
A refresh token the server rotates replaces the old one in memory.
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncGenerator, Generator, Mapping
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

_EXPIRY_MARGIN_MAX = 60.0  # refresh up to a minute before expiry


class _Static(httpx.Auth):
    """Sets fixed headers or query params on every request."""

    def __init__(self, headers: Mapping[str, str] = {}, params: Mapping[str, str] = {}) -> None:
        self.headers = dict(headers)
        self.params = dict(params)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(self.headers)
        if self.params:
            request.url = request.url.copy_merge_params(self.params)
        yield request


class OAuth2(httpx.Auth):
    """``client_credentials`` and ``refresh_token`` grants with a cached token."""

    def __init__(
        self, *, grant: str, token_url: str, client_id: str, client_secret: str,
        scopes: tuple[str, ...] = (), audience: str | None = None,
        refresh_token: str | None = None, client_auth: str,
        masker: SecretMasker,
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
        self.access_token: str | None = None
        self.expires_at = 0.0
        self.token_requests = 0
        self._lock = anyio.Lock()

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
        if response.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
            excerpt = self.masker.mask(response.text[:200]) if response.content else ""
            raise AuthError(
                f"the token endpoint refused the credentials (HTTP {response.status_code})"
                + (f": {excerpt}" if excerpt else ""),
                operation="auth", status=response.status_code, excerpt=excerpt,
                retryable=response.status_code == 429 or response.status_code >= 500,
            )
        self.access_token = str(body["access_token"])
        self.masker.add(self.access_token)
        if body.get("refresh_token"):  # a rotated refresh token replaces the old one
            self.refresh_token = str(body["refresh_token"])
            self.masker.add(self.refresh_token)
        lifetime = float(body.get("expires_in") or 3600)
        margin = min(_EXPIRY_MARGIN_MAX, lifetime / 10)
        self.expires_at = time.monotonic() + lifetime - margin

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if not self._fresh():
            async with self._lock:
                if not self._fresh():  # another request may have refreshed meanwhile
                    token_response = yield self._token_request()
                    await token_response.aread()
                    self._store(token_response)
        used = self.access_token
        request.headers["Authorization"] = f"Bearer {used}"
        response = yield request
        if response.status_code != 401:
            return
        # The token was revoked or expired early: refresh once, unless a
        # concurrent request already did, and replay the request.
        async with self._lock:
            if self.access_token == used:
                token_response = yield self._token_request()
                await token_response.aread()
                self._store(token_response)
        request.headers["Authorization"] = f"Bearer {self.access_token}"
        yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("syncd's connectors are async only")


def build_auth(
    spec: AuthSpec, context: Mapping[str, Any], masker: SecretMasker
) -> httpx.Auth | None:
    """Render the auth spec's templates and build its flow."""

    def text(template: Any) -> str:
        value: str = template.render_text(context)
        masker.add(value)
        return value

    if isinstance(spec, NoAuth):
        return None
    if isinstance(spec, ApiKeyAuth):
        value = text(spec.value)
        if spec.location == "header":
            return _Static(headers={spec.name: value})
        return _Static(params={spec.name: value})
    if isinstance(spec, BearerAuth):
        return _Static(headers={"Authorization": f"Bearer {text(spec.token)}"})
    if isinstance(spec, BasicAuth):
        raw = f"{text(spec.username)}:{text(spec.password)}".encode()
        header = "Basic " + base64.b64encode(raw).decode()
        masker.add(header.removeprefix("Basic "))
        return _Static(headers={"Authorization": header})
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
            masker=masker,
        )
    raise TypeError(f"unknown auth spec {spec!r}")
