"""Ed25519 signing of the calls Discord makes to an app (interactions, Webhook Events), and
one signed POST with its measured answer.

Discord signs `X-Signature-Timestamp + raw body` with the application's key and sends the hex
signature in `X-Signature-Ed25519`; the app verifies with the public key from the portal.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

# The fixed test key: private key bytes 0..31, whose public key is
# 03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8.
TEST_PRIVATE_KEY = bytes(range(32))


class SigningKey:
    """An application's Ed25519 key pair as Discord holds it."""

    def __init__(self, private_bytes: bytes = TEST_PRIVATE_KEY) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(private_bytes)

    @property
    def public_key_hex(self) -> str:
        """What the portal shows as the app's public key (DISCORD_PUBLIC_KEY)."""
        raw = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return raw.hex()

    def sign(self, timestamp: str, body: bytes) -> str:
        """The hex `X-Signature-Ed25519` value for this timestamp and raw body."""
        return self._key.sign(timestamp.encode() + body).hex()


def flip_first_byte(signature_hex: str) -> str:
    """The signature with its first byte inverted, like Discord's invalid-signature probes."""
    first = int(signature_hex[:2], 16) ^ 0xFF
    return f"{first:02x}{signature_hex[2:]}"


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the app answered to one signed POST, and how long it took (seconds)."""

    status: int
    body: bytes
    headers: dict[str, str]
    latency_s: float

    def json(self) -> Any:
        return httpx.Response(self.status, content=self.body).json()


async def post_signed(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    key: SigningKey,
    *,
    timestamp: str | None = None,
    signature: str | None = None,
    bad_signature: bool = False,
) -> Delivery:
    """POST `body` with Discord's signature headers and measure the answer.

    `timestamp` defaults to now (epoch seconds); `signature` overrides the computed one;
    `bad_signature` flips a byte of it.
    """
    stamp = timestamp if timestamp is not None else str(int(time.time()))
    signed = signature if signature is not None else key.sign(stamp, body)
    if bad_signature:
        signed = flip_first_byte(signed)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Discord-Interactions/1.0 (+https://discord.com)",
        "X-Signature-Ed25519": signed,
        "X-Signature-Timestamp": stamp,
    }
    started = time.monotonic()
    response = await client.post(url, content=body, headers=headers)
    latency = time.monotonic() - started
    return Delivery(response.status_code, response.content, dict(response.headers), latency)
