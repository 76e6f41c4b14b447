"""The rotated refresh tokens that ``syncd state copy`` carries from one store to the other.

On SQLite they are in ``tokens.json`` beside the state file
(:mod:`syncd.connector._tokens`), on PostgreSQL in the ``refresh_tokens``
table, encrypted under ``state.token_key`` (:mod:`syncd.connector._db_tokens`).
A move that left them behind would start each rotating account from the
config's refresh token, which the vendor revoked at the first rotation: the
account locked out until a human re-authorises. So the chains go along,
decrypted and encrypted by the same code the daemon uses, with the key of
the config the command runs with, and a copy that cannot carry one (no key,
another key) is refused before anything is written.

Only the refresh token and the digest of the config's token are carried:
an access token is short-lived, and the target's first cycle gets a new one.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from syncd.connector._db_tokens import seal, unseal
from syncd.connector._tokens import TokenStore, TokenStoreError
from syncd.state._copy import SealedToken
from syncd.state._token_cipher import CannotDecrypt, TokenCipher

__all__ = ["CarriedTokens", "TokenCopyRefused"]


class TokenCopyRefused(TokenStoreError):
    """The tokens cannot be carried (no key, another key, a target's tokens.json in use): nothing was written."""


def _accounts(n: int) -> str:
    return f"{n} account" + ("" if n == 1 else "s")


class CarriedTokens:
    """The chains of a copy from *source* (the configured state: a SQLite file's path, or a
    ``postgresql://`` URL shown as *source_shown*) to *target*; *key*: ``state.token_key``
    as configured (None: not set). Implements :class:`syncd.state._copy.TokenCarrier`."""

    def __init__(self, source: Path | str, target: Path | str, key: str | None, *, source_shown: str) -> None:
        self._source_file = TokenStore.beside(source) if isinstance(source, Path) else None
        self._target_file = TokenStore.beside(target) if isinstance(target, Path) else None
        self._source_shown = source_shown
        self._cipher = TokenCipher(key) if key else None
        self._chains: dict[str, tuple[str, str]] = {}  # account key -> (config digest, refresh token)

    @property
    def count(self) -> int:
        """How many accounts' tokens the copy carries."""
        return len(self._chains)

    def check(self) -> None:
        """Read a SQLite source's ``tokens.json`` and refuse what could not be written, before the
        copy opens its target. Raises :class:`TokenCopyRefused` or :class:`TokenStoreError`."""
        if self._source_file is not None and self._target_file is not None \
                and self._source_file.path.resolve() == self._target_file.path.resolve():
            self._source_file = self._target_file = None  # one directory: both states use that file already
            return
        if self._target_file is not None and self._target_file.chains():
            raise TokenCopyRefused(
                f"{self._target_file.path} already holds refresh tokens: copy only into a new directory, "
                "never beside a store in use; nothing was written")
        if self._source_file is None:
            return
        self._chains = self._source_file.chains()
        if self._chains and self._target_file is None and self._cipher is None:
            raise TokenCopyRefused(
                f"{self._source_file.path} holds the rotated refresh tokens of {_accounts(self.count)}, and "
                "state.token_key is not set: on PostgreSQL they are kept encrypted with it; add state.token_key "
                "to syncd.yaml's state (a ${file:…}, ${cred:…} or ${env:…} reference: the key the daemons will "
                "use) and copy again; nothing was written")

    def take(self, rows: list[SealedToken]) -> None:
        if rows and self._cipher is None:
            raise TokenCopyRefused(
                f"the state database {self._source_shown} holds the rotated refresh tokens of "
                f"{_accounts(len(rows))}, encrypted, and state.token_key is not set: set it in syncd.yaml's "
                "state to the key they were stored with and copy again; nothing was written")
        for account, digest, ciphertext in rows:
            assert self._cipher is not None
            try:
                payload = unseal(self._cipher, account, ciphertext)
            except CannotDecrypt:
                raise TokenCopyRefused(
                    f"the refresh token of {account} in the state database {self._source_shown} cannot be "
                    "decrypted with state.token_key (it was stored under another key): set state.token_key to "
                    "the key the daemons used and copy again; nothing was written") from None
            self._chains[account] = (digest, str(payload["refresh_token"]))

    def sealed(self) -> list[SealedToken]:
        if not self._chains:
            return []
        if self._cipher is None:  # check() refuses this first; a guard, never a plain-text row
            raise TokenCopyRefused("state.token_key is not set: the refresh tokens cannot be encrypted; "
                                   "nothing was written")
        return [(account, digest, seal(self._cipher, account, token))
                for account, (digest, token) in sorted(self._chains.items())]

    def write_beside(self) -> None:
        if self._target_file is not None and self._chains:
            self._target_file.write_chains(self._chains)

    def discard(self) -> None:
        if self._target_file is not None and self._chains:
            with contextlib.suppress(FileNotFoundError):
                self._target_file.path.unlink()
