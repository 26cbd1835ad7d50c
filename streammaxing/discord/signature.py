"""Verify that a request comes from Discord: Ed25519 over ``X-Signature-Timestamp + raw body``.

Interactions (`POST /interactions`) and webhook events (`POST /webhooks/discord`) are signed
with the application's key pair; the public key comes from the developer portal as 64 hex
characters. Discord probes an endpoint with deliberately invalid signatures and removes it when
one is accepted, so every way a request can fail the check — a missing header, malformed hex, a
signature over other bytes, a timestamp outside the window — is the same refusal,
`SignatureError`, which the endpoint answers with 401. Pure: no I/O; the clock is a parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SIGNATURE_HEADER: Final = "x-signature-ed25519"
TIMESTAMP_HEADER: Final = "x-signature-timestamp"
#: A signed request older (or further in the future) than this is a replay.
MAX_SKEW_SECONDS: Final = 300


class SignatureError(Exception):
    """The request is not one Discord signed just now; ``str(error)`` says why (for logs)."""


class DiscordVerifier:
    """Checks requests against one application public key (built once, at startup)."""

    def __init__(self, public_key_hex: str, *, max_skew_seconds: int = MAX_SKEW_SECONDS) -> None:
        self._key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
        self._max_skew = max_skew_seconds

    def verify(self, headers: Mapping[str, str], body: bytes, *, now: float) -> None:
        """Raise `SignatureError` unless `body` carries Discord's valid, fresh signature.

        ``headers`` are looked up by lower-case name (ASGI gives them so).
        """
        signature_hex = headers.get(SIGNATURE_HEADER)
        timestamp = headers.get(TIMESTAMP_HEADER)
        if not signature_hex or not timestamp:
            raise SignatureError("missing signature headers")
        if not timestamp.isascii() or not timestamp.isdigit():
            raise SignatureError("malformed timestamp")
        if abs(now - int(timestamp)) > self._max_skew:
            raise SignatureError("timestamp outside the accepted window")
        try:
            signature = bytes.fromhex(signature_hex)
        except ValueError:
            raise SignatureError("malformed signature") from None
        try:
            self._key.verify(signature, timestamp.encode("ascii") + body)
        except InvalidSignature:
            raise SignatureError("signature does not match") from None
