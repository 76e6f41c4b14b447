"""Encryption of the refresh tokens kept in PostgreSQL.

Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``) is an audited
authenticated encryption: a ciphertext changed or read with another key is
refused, never decrypted to garbage. Its key is derived from
``state.token_key`` (a secret reference: any length, any text) with
HKDF-SHA256, so an operator's passphrase becomes a proper 256-bit key, and
the derivation is bound to its purpose (the ``info``): the same secret used
elsewhere gives another key. The account key is authenticated with the
ciphertext (prefixed to the token before encryption), so a row copied onto
another account's is refused too.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["CannotDecrypt", "TokenCipher"]

_INFO = b"syncd refresh tokens v1"


class CannotDecrypt(Exception):
    """The ciphertext was written under another key (or for another account)."""


class TokenCipher:
    def __init__(self, secret: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def encrypt(self, account: str, token: str) -> bytes:
        return self._fernet.encrypt(f"{account}\0{token}".encode())

    def decrypt(self, account: str, ciphertext: bytes) -> str:
        try:
            plain = self._fernet.decrypt(ciphertext).decode()
        except InvalidToken:
            raise CannotDecrypt(account) from None
        owner, _, token = plain.partition("\0")
        if owner != account:
            raise CannotDecrypt(account)
        return token
