"""Ed25519 verification of Discord's interactions and webhook events: every bad case refused."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from streammaxing.discord.signature import DiscordVerifier, SignatureError

# A published test vector: private key bytes(range(32)).
PUBLIC_KEY = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
VECTOR_TIMESTAMP = "1700000000"
VECTOR_BODY = b'{"type":1}'
VECTOR_SIGNATURE = (
    "c1098e97d711377f30225d53d94b89d43537f92e5b3afaddc590781b1f9f9d4b"
    "2eeab335d370be3b9a090bc61a85b86448bc140dcd195f1569c2bff181257607"
)
NOW = 1_700_000_000.0
PRIVATE = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def signed(body: bytes, timestamp: str = VECTOR_TIMESTAMP) -> dict[str, str]:
    signature = PRIVATE.sign(timestamp.encode() + body).hex()
    return {"x-signature-ed25519": signature, "x-signature-timestamp": timestamp}


def with_signature(value: str) -> dict[str, str]:
    """The vector's headers with the signature header replaced."""
    return {**signed(VECTOR_BODY), "x-signature-ed25519": value}


@pytest.fixture(name="verifier")
def verifier_fixture() -> DiscordVerifier:
    return DiscordVerifier(PUBLIC_KEY)


class TestAccepts:
    def test_the_published_vector(self, verifier: DiscordVerifier) -> None:
        """The known (key, timestamp, body, signature) vector verifies."""
        headers = {"x-signature-ed25519": VECTOR_SIGNATURE, "x-signature-timestamp": "1700000000"}
        verifier.verify(headers, VECTOR_BODY, now=NOW)

    def test_upper_case_hex_and_a_timestamp_inside_the_window(
        self, verifier: DiscordVerifier
    ) -> None:
        """Hex case does not matter; a timestamp up to five minutes off either way is fresh."""
        for skew in (-300, 0, 300):
            timestamp = str(int(NOW) + skew)
            headers = signed(b"{}", timestamp)
            headers["x-signature-ed25519"] = headers["x-signature-ed25519"].upper()
            verifier.verify(headers, b"{}", now=NOW)


class TestRefuses:
    @pytest.mark.parametrize(
        ("case", "headers", "body"),
        [
            ("no headers", {}, VECTOR_BODY),
            ("no signature", {"x-signature-timestamp": VECTOR_TIMESTAMP}, VECTOR_BODY),
            ("no timestamp", {"x-signature-ed25519": VECTOR_SIGNATURE}, VECTOR_BODY),
            ("empty signature", with_signature(""), VECTOR_BODY),
            ("odd-length hex", with_signature("abc"), VECTOR_BODY),
            ("not hex", with_signature("zz" * 64), VECTOR_BODY),
            (
                "short signature",
                with_signature("00" * 63),
                VECTOR_BODY,
            ),
            (
                "zero signature",
                with_signature("00" * 64),
                VECTOR_BODY,
            ),
            ("body changed", signed(VECTOR_BODY), b'{"type":2}'),
            ("body re-serialised", signed(VECTOR_BODY), b'{"type": 1}'),
            ("trailing newline", signed(VECTOR_BODY), VECTOR_BODY + b"\n"),
            ("empty body", signed(VECTOR_BODY), b""),
            (
                "timestamp swapped",
                {**signed(VECTOR_BODY), "x-signature-timestamp": "1700000001"},
                VECTOR_BODY,
            ),
            ("stale", signed(VECTOR_BODY, "1699999699"), VECTOR_BODY),
            ("future", signed(VECTOR_BODY, "1700000301"), VECTOR_BODY),
            ("timestamp not a number", signed(VECTOR_BODY, "17e8"), VECTOR_BODY),
            ("negative timestamp", signed(VECTOR_BODY, "-1"), VECTOR_BODY),
            ("non-ascii digits", signed(VECTOR_BODY, "١٧٠٠٠٠٠٠٠٠"), VECTOR_BODY),
        ],
    )
    def test_every_bad_request_is_one_refusal(
        self, verifier: DiscordVerifier, case: str, headers: dict[str, str], body: bytes
    ) -> None:
        """Missing, malformed, mismatched and stale signatures all raise SignatureError —
        never ValueError or InvalidSignature, which the endpoint would turn into a 500."""
        with pytest.raises(SignatureError):
            verifier.verify(headers, body, now=NOW)

    def test_a_signature_by_another_key(self, verifier: DiscordVerifier) -> None:
        """A well-formed signature made with any other key is refused (Discord's probe)."""
        other = Ed25519PrivateKey.generate()
        signature = other.sign(VECTOR_TIMESTAMP.encode() + VECTOR_BODY).hex()
        headers = {"x-signature-ed25519": signature, "x-signature-timestamp": VECTOR_TIMESTAMP}
        with pytest.raises(SignatureError):
            verifier.verify(headers, VECTOR_BODY, now=NOW)

    def test_one_flipped_bit_anywhere_in_the_signature(self, verifier: DiscordVerifier) -> None:
        """Flipping any single byte of a valid signature makes it invalid."""
        good = bytes.fromhex(VECTOR_SIGNATURE)
        for index in range(len(good)):
            flipped = bytearray(good)
            flipped[index] ^= 0x01
            headers = {
                "x-signature-ed25519": flipped.hex(),
                "x-signature-timestamp": VECTOR_TIMESTAMP,
            }
            with pytest.raises(SignatureError):
                verifier.verify(headers, VECTOR_BODY, now=NOW)


class TestKey:
    def test_a_malformed_public_key_fails_at_startup(self) -> None:
        """The key is parsed once when the verifier is built: a wrong length is a ValueError
        there (settings validate the form first), never at request time."""
        with pytest.raises(ValueError, match="32 bytes"):
            DiscordVerifier("00" * 31)
