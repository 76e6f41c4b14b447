"""Rotated refresh tokens kept in PostgreSQL, encrypted, one row per account.

Daemons on one database share an account's refresh token, and a rotated
one is valid once: the refresh must be one daemon's at a time. A daemon
about to refresh locks the account's row (``SELECT … FOR UPDATE``, the row
made first if missing) in a transaction held on a connection of its own
for as long as the refresh takes; the others queue on the lock. Whoever gets
it reads the row again: another daemon may have refreshed a moment ago (then
its token is used, with no refresh); else the refresh goes to the vendor and
the new token is written before the commit releases the lock.

A refresh also brings an access token, which the other daemons use too
(else each would refresh in turn, and a rotated refresh token would be spent
once per daemon): the ciphertext holds both, and ``access_due`` says, on the
database's clock, when the access token is due for its own refresh.

The row is ciphertext (:class:`~syncd.state._token_cipher.TokenCipher`) and
a digest of the config's refresh token (never the token): when an operator
re-authorises, the digest no longer matches and the stored chain is
dropped. The table is outside the state tables (see
:mod:`syncd.state._pg_shared`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

from syncd.state._errors import StateError
from syncd.state._pg_errors import from_postgres
from syncd.state._pg_shared import OwnConnection

__all__ = ["HeldRow", "RefreshTokens", "TokenRow"]

LOCK_WAIT_SECONDS = 120  # the longest another daemon's refresh may hold an account's row

_COLUMNS = ("config_digest, ciphertext,"
            " extract(epoch FROM access_due - clock_timestamp())::float8")


@dataclass(frozen=True, slots=True)
class TokenRow:
    config_digest: str
    ciphertext: bytes | None
    access_seconds: float | None  # how long the access token in it is good for; None: none kept

    @classmethod
    def of(cls, row: tuple[Any, ...]) -> TokenRow:
        return cls(row[0], bytes(row[1]) if row[1] is not None else None,
                   float(row[2]) if row[2] is not None else None)


class HeldRow:
    """An account's row, locked by this daemon until the block ends."""

    def __init__(self, conn: psycopg.Connection[Any], url: str, account: str, row: TokenRow) -> None:
        self._conn = conn
        self._url = url
        self.account = account
        self.row = row

    def write(self, config_digest: str, ciphertext: bytes, access_seconds: float | None) -> None:
        """Replace the row (committed when the lock is let go); *access_seconds*: how long the
        access token in *ciphertext* is good for from now, on the database's clock."""
        try:
            self._conn.execute(
                "UPDATE refresh_tokens SET config_digest = %s, ciphertext = %s,"
                " access_due = clock_timestamp() + %s::float8 * interval '1 second', updated_at = clock_timestamp()"
                " WHERE account = %s", (config_digest, ciphertext, access_seconds, self.account))
        except psycopg.Error as exc:
            raise from_postgres(self._url, exc, "storing a refresh token") from exc
        self.row = TokenRow(config_digest, ciphertext, access_seconds)


class RefreshTokens:
    """The ``refresh_tokens`` table of the database at *url*. Every call blocks
    (a worker thread's to make) and raises :class:`StateError` when the database fails."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url
        self._db = OwnConnection(url, timeout=timeout, name="syncd-refresh-tokens")

    def read(self, account: str) -> TokenRow | None:
        """The account's row, unlocked; None without one."""
        conn = self._db.connect()
        try:
            row = conn.execute(f"SELECT {_COLUMNS} FROM refresh_tokens WHERE account = %s",
                               (account,)).fetchone()
        except psycopg.Error as exc:
            raise from_postgres(self.url, exc, "reading a refresh token") from exc
        finally:
            conn.close()
        return TokenRow.of(row) if row else None

    @contextmanager
    def locked(self, account: str) -> Iterator[HeldRow]:
        """Hold the account's row locked (other daemons wait) until the block ends; what the
        block wrote is committed then, even when it raises (a rotated token must not be lost)."""
        conn = self._db.connect()
        try:
            try:
                conn.execute("BEGIN")
                conn.execute("INSERT INTO refresh_tokens (account) VALUES (%s) ON CONFLICT DO NOTHING",
                             (account,))
                conn.execute("COMMIT")  # the row exists for everyone to lock
                conn.execute("BEGIN")
                # Another daemon's refresh (a vendor call, with its own timeout) may hold the row:
                # wait for it that long, not the few seconds a statement gets otherwise.
                conn.execute(f"SET LOCAL statement_timeout = '{LOCK_WAIT_SECONDS}s'")
                row = conn.execute(f"SELECT {_COLUMNS} FROM refresh_tokens WHERE account = %s FOR UPDATE",
                                   (account,)).fetchone()
            except psycopg.Error as exc:
                raise from_postgres(self.url, exc, "locking a refresh token") from exc
            if row is None:  # deleted between the two statements by hand: nothing to hold
                raise StateError(f"the refresh token row of {account} vanished while it was being locked")
            try:
                yield HeldRow(conn, self.url, account, TokenRow.of(row))
            finally:
                try:
                    conn.execute("COMMIT")
                except psycopg.Error as exc:
                    raise from_postgres(self.url, exc, "storing a refresh token") from exc
        finally:
            conn.close()
