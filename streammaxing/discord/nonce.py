"""Deterministic message nonces: the same logical message gets the same nonce on every retry, so
Discord's ``enforce_nonce`` returns the message already made instead of posting it twice."""

from __future__ import annotations

import base64
import hashlib


def nonce_for(kind: str, target: str, event_id: str) -> str:
    """A deterministic Discord nonce (25 chars) for one logical message; same across retries."""
    digest = hashlib.sha256(f"{kind}:{target}:{event_id}".encode()).digest()
    return base64.b32encode(digest).decode("ascii").rstrip("=")[:25].lower()
