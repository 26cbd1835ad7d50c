"""Tokens at rest: Fernet encryption under `TOKEN_ENCRYPTION_KEYS`, with key rotation.

The first key encrypts; every key decrypts (`cryptography`'s MultiFernet), so a new key is put
first, `streammaxing rotate-keys` re-encrypts the stored tokens under it, and the old key is
removed afterwards. Ciphertexts are ASCII text (url-safe base64) that fit a TEXT column. A
token that no key opens, or whose ciphertext was altered, raises `TokenUnreadable` — its message
never contains the token or the ciphertext.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr


class TokenUnreadable(Exception):  # noqa: N818 - names the condition
    """No configured key opens this ciphertext (wrong keys, or it was altered)."""


class TokenBox:
    """Encrypts and decrypts tokens with the configured keys (the first one encrypts)."""

    def __init__(self, keys: Sequence[SecretStr]) -> None:
        if not keys:
            raise ValueError("TOKEN_ENCRYPTION_KEYS is empty: no key to encrypt with")
        self._fernet = MultiFernet([Fernet(key.get_secret_value().encode("ascii")) for key in keys])
        self._first = Fernet(keys[0].get_secret_value().encode("ascii"))

    def seal(self, token: str) -> str:
        """The token encrypted under the first key."""
        return self._fernet.encrypt(token.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        """The token a ciphertext holds; `TokenUnreadable` if no key opens it."""
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise TokenUnreadable("a stored token could not be decrypted") from None

    def is_current(self, sealed: str) -> bool:
        """Whether the ciphertext is already under the first key (nothing to rotate)."""
        try:
            self._first.decrypt(sealed.encode("ascii"))
        except (InvalidToken, UnicodeError):
            return False
        return True

    def reseal(self, sealed: str) -> str:
        """The same token, encrypted under the first key (for key rotation)."""
        try:
            return self._fernet.rotate(sealed.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise TokenUnreadable("a stored token could not be decrypted") from None
