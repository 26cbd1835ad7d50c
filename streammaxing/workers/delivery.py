"""Delivery vocabulary shared by the announcement and DM lanes: outcomes, reports, nonces."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from enum import Enum


def nonce_for(kind: str, target: str, event_id: str) -> str:
    """A deterministic Discord nonce (25 chars) for one logical message; same across retries."""
    digest = hashlib.sha256(f"{kind}:{target}:{event_id}".encode()).digest()
    return base64.b32encode(digest).decode("ascii").rstrip("=")[:25].lower()


class Outcome(Enum):
    DONE = "done"  # sent, delivered or failed for good: the channel may go on
    WAITING = "waiting"  # must wait (rate limit, backoff): the channel stops here, in order
    HALTED = "halted"  # sending is stopped for everyone


@dataclass
class DeliveryReport:
    """What one delivery job did: rows sent, failed for good, put back to wait, and a halt."""

    sent: int = 0
    failed: int = 0
    waiting: int = 0
    halted: bool = False
