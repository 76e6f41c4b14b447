"""How the fake app authenticates API requests, and its OAuth2 token endpoint.

Errors follow the specs real APIs follow, so clients are tested against the
real shapes: RFC 6750 for bearer tokens (401 + ``WWW-Authenticate: Bearer
error="invalid_token"``), RFC 6749 section 5.2 for the token endpoint (400
``invalid_grant``, 401 ``invalid_client``).  No error echoes a secret.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import threading
import time
from enum import StrEnum
from urllib.parse import unquote

from ._http import ApiError, Request, Response, json_response

_REALM = 'realm="sampleapp"'


class AuthMode(StrEnum):
    NONE = "none"
    API_KEY_HEADER = "api_key_header"  # X-API-Key: <token>
    API_KEY_QUERY = "api_key_query"  # ?api_key=<token>
    BEARER = "bearer"  # Authorization: Bearer <token>
    BASIC = "basic"  # Authorization: Basic base64(username:password)
    OAUTH2_CLIENT_CREDENTIALS = "oauth2_client_credentials"
    OAUTH2_REFRESH_TOKEN = "oauth2_refresh_token"


_GRANT = {AuthMode.OAUTH2_CLIENT_CREDENTIALS: "client_credentials",
          AuthMode.OAUTH2_REFRESH_TOKEN: "refresh_token"}


def _same(given: str | None, expected: str) -> bool:
    # constant time, as a real server compares secrets
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        user, sep, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def _bearer(header: str | None) -> str | None:
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None


def _oauth_error(status: int, error: str, description: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return json_response(status, {"error": error, "error_description": description}, headers or [])


class Authenticator:
    """Checks each API request's credentials; issues and expires OAuth2 tokens."""

    def __init__(self, mode: AuthMode, *, token: str, username: str, password: str,
                 client_id: str, client_secret: str, token_ttl: float,
                 rotate_refresh_token: bool, token_endpoint_delay: float,
                 stopping: threading.Event) -> None:
        self.mode = mode
        self.token, self.username, self.password = token, username, password
        self.client_id, self.client_secret = client_id, client_secret
        self.token_ttl = token_ttl
        self.rotate_refresh_token = rotate_refresh_token
        self.token_endpoint_delay = token_endpoint_delay
        self._stopping = stopping  # set on stop(): cut a slow token answer short
        self._lock = threading.Lock()
        self._access: dict[str, float] = {}  # access token -> monotonic expiry
        self.refresh_token = "rt-" + secrets.token_urlsafe(16)
        self.token_requests = 0  # every POST to the token endpoint
        self._token_in_flight = 0
        self.token_overlap = 0  # the most token requests served at once
        self.tokens_issued = 0  # access tokens handed out

    # -- API requests --------------------------------------------------------

    def check(self, req: Request) -> None:
        """Raise ApiError(401) unless the request carries valid credentials."""
        mode = self.mode
        if mode is AuthMode.NONE:
            return
        if mode is AuthMode.API_KEY_HEADER or mode is AuthMode.API_KEY_QUERY:
            key = req.headers.get("X-API-Key") if mode is AuthMode.API_KEY_HEADER else req.query.get("api_key")
            if not key:
                raise ApiError(401, "missing API key")
            if not _same(key, self.token):
                raise ApiError(401, "invalid API key")
        elif mode is AuthMode.BASIC:
            creds = _basic_credentials(req.headers.get("Authorization"))
            challenge = [("WWW-Authenticate", f"Basic {_REALM}")]
            if creds is None:
                raise ApiError(401, "missing basic credentials", headers=challenge)
            # both compared, so timing does not reveal which one was wrong
            if not (_same(creds[0], self.username) & _same(creds[1], self.password)):
                raise ApiError(401, "invalid username or password", headers=challenge)
        else:
            given = _bearer(req.headers.get("Authorization"))
            if given is None:
                raise ApiError(401, "missing bearer token",
                               headers=[("WWW-Authenticate", f"Bearer {_REALM}")])
            if mode is AuthMode.BEARER:
                if not _same(given, self.token):
                    raise ApiError(401, "invalid bearer token", headers=[
                        ("WWW-Authenticate", f'Bearer {_REALM}, error="invalid_token"')])
            else:
                with self._lock:
                    expiry = self._access.get(given)
                if expiry is None or expiry <= time.monotonic():
                    what = "unknown access token" if expiry is None else "access token expired"
                    raise ApiError(401, what, error="invalid_token", headers=[(
                        "WWW-Authenticate",
                        f'Bearer {_REALM}, error="invalid_token", error_description="{what}"')])

    # -- OAuth2 ---------------------------------------------------------------

    def issue_access_token(self) -> str:
        """A fresh valid access token (what the token endpoint would hand out)."""
        access = "at-" + secrets.token_urlsafe(16)
        with self._lock:
            self._access[access] = time.monotonic() + self.token_ttl
            self.tokens_issued += 1
        return access

    def expire_tokens(self) -> None:
        """Every access token issued so far is expired from now on."""
        with self._lock:
            self._access = dict.fromkeys(self._access, 0.0)

    def token_endpoint(self, req: Request) -> Response:
        """``POST /oauth/token`` (RFC 6749): form-encoded grant, JSON answer."""
        with self._lock:
            self.token_requests += 1
            self._token_in_flight += 1
            self.token_overlap = max(self.token_overlap, self._token_in_flight)
        try:
            return self._token_answer(req)
        finally:
            with self._lock:
                self._token_in_flight -= 1

    def _token_answer(self, req: Request) -> Response:
        if self.token_endpoint_delay > 0:
            self._stopping.wait(self.token_endpoint_delay)
        if req.content_type != "application/x-www-form-urlencoded":
            return _oauth_error(400, "invalid_request", "the body must be application/x-www-form-urlencoded")
        form = req.form
        denied = self._client_auth(req, form)
        if denied is not None:
            return denied
        grant = form.get("grant_type")
        if not grant:
            return _oauth_error(400, "invalid_request", "grant_type is required")
        if grant not in ("client_credentials", "refresh_token"):
            return _oauth_error(400, "unsupported_grant_type", "unsupported grant_type")
        if grant != _GRANT[self.mode]:
            return _oauth_error(400, "unauthorized_client", f"this client may not use the {grant} grant")
        body: dict[str, object] = {}
        if grant == "refresh_token":
            with self._lock:
                if not _same(form.get("refresh_token"), self.refresh_token):
                    return _oauth_error(400, "invalid_grant", "refresh token is invalid, expired or revoked")
                if self.rotate_refresh_token:
                    # the old one is dead from now on; reuse gets invalid_grant
                    self.refresh_token = "rt-" + secrets.token_urlsafe(16)
                    body["refresh_token"] = self.refresh_token
        ttl = self.token_ttl
        body = {"access_token": self.issue_access_token(), "token_type": "Bearer",
                "expires_in": int(ttl) if float(ttl).is_integer() else ttl, **body}
        if form.get("scope"):
            body["scope"] = form["scope"]
        return json_response(200, body, [("Cache-Control", "no-store")])

    def _client_auth(self, req: Request, form: dict[str, str]) -> Response | None:
        """Client credentials from HTTP Basic or the form; None if they are right."""
        header = req.headers.get("Authorization")
        basic = _basic_credentials(header)
        if header and basic is None:
            return _oauth_error(400, "invalid_request", "unsupported Authorization header")
        if basic is not None:
            if "client_secret" in form:  # RFC 6749 2.3: one client auth method only
                return _oauth_error(400, "invalid_request", "client authenticated twice (Basic and body)")
            # RFC 6749 2.3.1: id and secret are form-encoded before base64
            client_id, secret = unquote(basic[0].replace("+", " ")), unquote(basic[1].replace("+", " "))
            if "client_id" in form and form["client_id"] != client_id:
                return _oauth_error(400, "invalid_request", "client_id differs from the Basic credentials")
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if not (_same(client_id, self.client_id) & _same(secret, self.client_secret)):
            challenge = [("WWW-Authenticate", f"Basic {_REALM}")] if basic else []
            return _oauth_error(401, "invalid_client", "client authentication failed", challenge)
        return None
