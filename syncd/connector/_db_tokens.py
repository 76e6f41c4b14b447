"""The token store on PostgreSQL: rotated refresh tokens kept encrypted in the
database (:mod:`syncd.state._pg_refresh_tokens`) rather than in a file beside
a SQLite state, so that every daemon on the database shares them and one
refreshes at a time (a row lock instead of ``flock``).

A token is only ever stored encrypted, under ``state.token_key``; without
the key nothing is stored (a precise error, never plain text). A row that
cannot be decrypted (another key) is an error naming the account and the way
out, never dropped: dropping it would send the config's dead token.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from syncd.config import DaemonSettings
from syncd.connector._tokens import FILE_NAME, TokenStore, TokenStoreError, config_digest
from syncd.state import StateError
from syncd.state._pg_refresh_tokens import HeldRow, RefreshTokens, TokenRow
from syncd.state._token_cipher import CannotDecrypt, TokenCipher

__all__ = ["DatabaseTokenStore", "database_tokens", "seal", "unseal"]

NO_KEY = ("state.token_key is not set: with state.url (PostgreSQL) the refresh token the API of {account} "
          "rotated is kept in the database, encrypted with that key, and never in plain text; set "
          "state.token_key to a secret reference (e.g. ${{file:/etc/syncd/token.key}}) on every daemon, then "
          "re-authorise the account (the token just rotated could not be kept)")


def seal(cipher: TokenCipher, account: str, refresh_token: str, access_token: str | None = None) -> bytes:
    """A ``refresh_tokens`` row's ciphertext: what the daemon stores, and what ``syncd state copy`` carries."""
    plain = orjson.dumps({"refresh_token": refresh_token, "access_token": access_token}).decode()
    return cipher.encrypt(account, plain)


def unseal(cipher: TokenCipher, account: str, ciphertext: bytes) -> dict[str, Any]:
    """The tokens in a row's ciphertext ({"refresh_token", "access_token"}); raises :class:`CannotDecrypt`."""
    payload: dict[str, Any] = orjson.loads(cipher.decrypt(account, ciphertext))
    return payload


class DatabaseTokenStore(TokenStore):
    """Refresh tokens by account key in the ``refresh_tokens`` table; *key*: ``state.token_key``.

    ``path`` is the file a SQLite state would use, never written here: it
    only tells two flows on the same state apart (:meth:`OAuth2.params`)."""

    def __init__(self, state_path: Path, table: RefreshTokens, key: str | None) -> None:
        super().__init__(state_path.parent / FILE_NAME)
        self.table = table
        self._cipher = TokenCipher(key) if key else None
        self._held: dict[str, HeldRow] = {}  # the accounts whose row this process holds locked

    def _decrypt(self, key: str, config_token: str, row: TokenRow | None) -> dict[str, Any] | None:
        """The row's tokens ({"refresh_token", "access_token"}); None when there are none, or they
        belong to a chain the operator's new config token replaced."""
        if row is None or row.ciphertext is None or row.config_digest != config_digest(config_token):
            return None
        if self._cipher is None:
            raise TokenStoreError(
                f"the refresh token of {key} is kept encrypted in the state database, and state.token_key "
                "is not set: set it to the key it was stored with")
        try:
            payload = unseal(self._cipher, key, row.ciphertext)
        except CannotDecrypt:
            raise TokenStoreError(
                f"the refresh token of {key} in the state database cannot be decrypted with state.token_key "
                "(it was stored under another key): restore the key it was stored with on this daemon, or "
                "re-authorise the account and put its new refresh token in the config") from None
        return payload

    def _row(self, key: str) -> TokenRow | None:
        held = self._held.get(key)
        if held is not None:  # read under the lock, a moment ago
            return held.row
        try:
            return self.table.read(key)
        except StateError as e:
            raise TokenStoreError(f"the refresh token of {key} cannot be read: {e}") from None

    def load(self, key: str, config_token: str) -> str | None:
        payload = self._decrypt(key, config_token, self._row(key))
        return str(payload["refresh_token"]) if payload else None

    def load_access(self, key: str, config_token: str) -> tuple[str, float] | None:
        row = self._row(key)
        payload = self._decrypt(key, config_token, row)
        if not payload or not payload.get("access_token") or row is None or not row.access_seconds:
            return None
        return (str(payload["access_token"]), row.access_seconds) if row.access_seconds > 0 else None

    def save(self, key: str, config_token: str, refresh_token: str, access_token: str | None = None,
             access_seconds: float | None = None) -> None:
        if self._cipher is None:
            raise TokenStoreError(NO_KEY.format(account=key))
        ciphertext = seal(self._cipher, key, refresh_token, access_token)
        digest = config_digest(config_token)
        seconds = access_seconds if access_token else None
        try:
            held = self._held.get(key)
            if held is not None:
                held.write(digest, ciphertext, seconds)  # committed as the lock is let go
                return
            with self.table.locked(key) as row:
                row.write(digest, ciphertext, seconds)
        except StateError as e:
            raise TokenStoreError(f"the refresh token the API of {key} rotated could not be stored ({e}): "
                                  "the account may need re-authorising") from None

    @contextlib.contextmanager
    def locked(self, key: str = "") -> Iterator[None]:
        """Hold the account's row locked against every daemon on the database (blocks)."""
        try:
            with self.table.locked(key) as row:
                self._held[key] = row
                try:
                    yield
                finally:
                    del self._held[key]
        except StateError as e:
            raise TokenStoreError(f"the refresh token of {key} cannot be locked for a refresh: {e}") from None


def database_tokens(settings: DaemonSettings) -> DatabaseTokenStore:
    """The token store of *settings*' PostgreSQL state (``state.url`` set)."""
    assert settings.state_url is not None
    key = settings.token_key.reveal() if settings.token_key is not None else None
    return DatabaseTokenStore(settings.state_path, RefreshTokens(settings.state_url.reveal()), key)
