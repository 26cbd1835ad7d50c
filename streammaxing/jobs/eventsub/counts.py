"""What a pass over EventSub subscriptions did, counted the same way by every job."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SubscriptionCounts:
    """Subscriptions kept, created and deleted, topics suppressed (a tombstone in force),
    creations Twitch refused for good, and calls that failed for now."""

    kept: int = 0
    created: int = 0
    deleted: int = 0
    suppressed: int = 0
    refused: int = 0
    failures: int = 0

    @property
    def retry_later(self) -> bool:
        """Some calls failed for now: the job should run again."""
        return self.failures > 0
