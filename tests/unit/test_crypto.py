"""Tokens at rest: round trip, rotation, wrong keys and tampering, and no token in an error."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from streammaxing.crypto import TokenBox, TokenUnreadable

TOKEN = "oauth-access-token-3f9a"
OLD, NEW, OTHER = (SecretStr(Fernet.generate_key().decode()) for _ in range(3))


class TestRoundTrip:
    def test_sealed_token_opens_and_is_not_readable(self) -> None:
        """seal → open gives the token back; the ciphertext does not contain it."""
        box = TokenBox([NEW])
        sealed = box.seal(TOKEN)
        assert TOKEN not in sealed
        assert sealed.isascii()
        assert box.open(sealed) == TOKEN

    def test_each_seal_differs(self) -> None:
        """Fernet is randomised: the same token sealed twice gives two ciphertexts."""
        box = TokenBox([NEW])
        assert box.seal(TOKEN) != box.seal(TOKEN)

    def test_no_keys_is_refused_at_construction(self) -> None:
        """Without a key nothing can be encrypted: that is a configuration error up front."""
        with pytest.raises(ValueError, match="TOKEN_ENCRYPTION_KEYS"):
            TokenBox([])


class TestRotation:
    def test_every_key_decrypts_and_the_first_encrypts(self) -> None:
        """After a new key is put first, old ciphertexts still open; new ones use the new key."""
        old_sealed = TokenBox([OLD]).seal(TOKEN)
        rotating = TokenBox([NEW, OLD])
        assert rotating.open(old_sealed) == TOKEN
        assert not rotating.is_current(old_sealed)
        assert TokenBox([NEW]).open(rotating.seal(TOKEN)) == TOKEN

    def test_reseal_moves_a_token_to_the_first_key(self) -> None:
        """reseal gives a ciphertext the new key alone opens; resealing it again is harmless."""
        old_sealed = TokenBox([OLD]).seal(TOKEN)
        rotating = TokenBox([NEW, OLD])
        resealed = rotating.reseal(old_sealed)
        assert rotating.is_current(resealed)
        assert TokenBox([NEW]).open(resealed) == TOKEN
        assert TokenBox([NEW]).open(rotating.reseal(resealed)) == TOKEN


class TestRefusals:
    def test_a_wrong_key_cannot_open(self) -> None:
        """A ciphertext made under a key that is no longer configured is unreadable."""
        sealed = TokenBox([OTHER]).seal(TOKEN)
        with pytest.raises(TokenUnreadable) as caught:
            TokenBox([NEW, OLD]).open(sealed)
        assert TOKEN not in str(caught.value)
        assert sealed not in str(caught.value)
        assert caught.value.__cause__ is None

    @pytest.mark.parametrize("position", [0, 10, 40, -5])
    def test_a_tampered_ciphertext_is_refused(self, position: int) -> None:
        """Changing any character of a ciphertext makes it unreadable (it is authenticated)."""
        box = TokenBox([NEW])
        sealed = box.seal(TOKEN)
        index = position % len(sealed)
        swapped = "A" if sealed[index] != "A" else "B"
        tampered = sealed[:index] + swapped + sealed[index + 1 :]
        with pytest.raises(TokenUnreadable):
            box.open(tampered)
        with pytest.raises(TokenUnreadable):
            box.reseal(tampered)

    def test_garbage_is_refused(self) -> None:
        """Text that is not a ciphertext at all (not even ASCII) is unreadable, not a crash."""
        box = TokenBox([NEW])
        for garbage in ("", "not-a-token", "ü" * 10):
            with pytest.raises(TokenUnreadable):
                box.open(garbage)
            assert not box.is_current(garbage)
