"""Delivery vocabulary shared by the announcement and DM lanes: outcomes, reports, nonces."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from streammaxing.discord.nonce import nonce_for

__all__ = ["DeliveryReport", "Outcome", "nonce_for"]


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
