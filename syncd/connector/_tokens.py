"""The token store: refresh tokens an API rotated, kept across restarts.

A server that rotates refresh tokens revokes the old one at each refresh,
so the new one must outlive the process, or the next start sends a dead
token and the account is locked out until a human re-authorises.
``tokens.json`` sits beside the state database, owner-only, keyed by
account key (:meth:`AccountRegistry.account_key`, which holds no secret).
Each entry holds the current refresh token and a digest of the refresh
token the config gave when the chain started: when an operator puts a new
one in the config (re-authorised), the digest no longer matches and the
stored chain is dropped.

Writes are atomic (temp file in the same directory, fsync, rename, fsync
of the directory). Processes on the same state (a daemon and a ``syncd
once``) serialise "read the stored token, refresh, persist" with an
exclusive ``flock`` on ``tokens.json.lock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from syncd.connector._errors import AuthError

FILE_NAME = "tokens.json"


class TokenStoreError(AuthError):
    """The token file cannot be read or written: the account's cycles stop."""

    def __init__(self, message: str) -> None:
        super().__init__(message, operation="auth", status=0, excerpt="", retryable=False)


def config_digest(refresh_token: str) -> str:
    """A digest of the config's refresh token: tells a re-authorisation apart,
    without keeping the token itself."""
    return hashlib.sha256(refresh_token.encode()).hexdigest()


class TokenStore:
    """Refresh tokens by account key in *path* (``tokens.json``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")

    @classmethod
    def beside(cls, state_path: Path) -> TokenStore:
        """The store that goes with the state database at *state_path*."""
        return cls(state_path.parent / FILE_NAME)

    def _fail(self, what: str, *, writing: bool = False) -> TokenStoreError:
        advice = (
            "let syncd write in its directory (permissions, free space): the new refresh token "
            "the API sent could not be kept, so the account may need re-authorising"
            if writing else
            "restore it from the backup taken with the state, or delete it and re-authorise "
            "the accounts that use rotating refresh tokens"
        )
        return TokenStoreError(f"the token store {self.path} {what}; it holds the refresh tokens "
                               f"the API rotated: {advice}")

    def _read(self) -> dict[str, Any]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as e:
            raise self._fail(f"cannot be read ({e.strerror})") from None
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise self._fail("is corrupt (not JSON)") from None
        if not isinstance(data, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("refresh_token"), str)
            and isinstance(v.get("config_digest"), str) for v in data.values()
        ):
            raise self._fail("is corrupt (not a map of account to token entry)")
        return data

    def load(self, key: str, config_token: str) -> str | None:
        """The stored refresh token of account *key*, or None when there is
        none or its chain started from another config token than *config_token*."""
        entry = self._read().get(key)
        if entry is None or entry["config_digest"] != config_digest(config_token):
            return None
        token: str = entry["refresh_token"]
        return token

    def load_access(self, key: str, config_token: str) -> tuple[str, float] | None:
        """An access token another process got with the stored refresh token, and for how many
        seconds it is good: none here (a file serves the processes of one host, each refreshes
        with the token it reads); the database's store shares it (:mod:`syncd.connector._db_tokens`)."""
        return None

    def save(self, key: str, config_token: str, refresh_token: str, access_token: str | None = None,
             access_seconds: float | None = None) -> None:
        """Store *refresh_token* for account *key*, durably, before it is used (the access token
        it came with is not kept in the file: see :meth:`load_access`)."""
        data = self._read()
        data[key] = {"refresh_token": refresh_token, "config_digest": config_digest(config_token)}
        self._write(data)

    def chains(self) -> dict[str, tuple[str, str]]:
        """Every chain in the file: account key -> (config digest, current refresh token)."""
        return {key: (entry["config_digest"], entry["refresh_token"]) for key, entry in self._read().items()}

    def write_chains(self, chains: dict[str, tuple[str, str]]) -> None:
        """Write *chains* (as :meth:`chains` gives them) as the whole file, atomically, owner-only."""
        self._write({key: {"refresh_token": token, "config_digest": digest}
                     for key, (digest, token) in chains.items()})

    def _write(self, data: dict[str, Any]) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = _create_private(tmp)
            try:
                os.write(fd, orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)  # the rename itself survives a crash
            finally:
                os.close(dir_fd)
        except OSError as e:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise self._fail(f"cannot be written ({e.strerror})", writing=True) from None

    @contextlib.contextmanager
    def locked(self, key: str = "") -> Iterator[None]:
        """Hold the exclusive lock shared by every process on this store (blocks); one lock for
        every account *key* (the database's store locks the account's own row)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = _create_private(self.lock_path, truncate=False)
        except OSError as e:
            raise self._fail(f"cannot be locked ({self.lock_path}: {e.strerror})", writing=True) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock


def _create_private(path: Path, *, truncate: bool = True) -> int:
    # The umask makes the file 0600 from its creation on: no window in which
    # another user could open it (as the control socket is created).
    old = os.umask(0o177)
    try:
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if truncate else 0)
        fd = os.open(path, flags, 0o600)
    finally:
        os.umask(old)
    os.fchmod(fd, 0o600)  # a file that existed keeps its mode otherwise
    return fd
