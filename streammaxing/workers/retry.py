"""The retry policy: what to do after each kind of Discord failure.

RateLimited       → retry after `retry_after`, never before (not counted as an attempt)
TransientError    → retry with exponential backoff, same nonce; give up after MAX_ATTEMPTS
PermanentError    → target gone / no access → stop attempting the target (guild or user);
                    10008 after a create → delivered (Discord returned a deleted message);
                    anything else → this message fails, no retry
Unauthorized,
CloudflareBan     → halt all sending (the limiter records why)
DmTooFast         → postpone DMs by minutes, never fail them
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from streammaxing.discord.errors import (
    CANNOT_SEND_TO_USER,
    FORUM_CHANNEL,
    INVALID_RECIPIENTS,
    MISSING_ACCESS,
    MISSING_PERMISSIONS,
    NO_MUTUAL_GUILDS,
    UNKNOWN_CHANNEL,
    UNKNOWN_MESSAGE,
    UNKNOWN_USER,
    CloudflareBan,
    DiscordError,
    DmTooFast,
    PermanentError,
    RateLimited,
    TransientError,
    Unauthorized,
)

MAX_ATTEMPTS = 10
MAX_BACKOFF_SECONDS = 300.0
DM_TOO_FAST_DELAY_SECONDS = 600.0
UNKNOWN_GUILD = 10004

# Codes that mean "this channel / guild cannot receive announcements until an admin acts".
TARGET_GONE_CODES = frozenset(
    {UNKNOWN_CHANNEL, UNKNOWN_GUILD, MISSING_ACCESS, MISSING_PERMISSIONS, FORUM_CHANNEL}
)
# Codes that mean "this user cannot be DMed".
USER_UNREACHABLE_CODES = frozenset(
    {CANNOT_SEND_TO_USER, NO_MUTUAL_GUILDS, INVALID_RECIPIENTS, UNKNOWN_USER}
)


class Action(StrEnum):
    RETRY = "retry"
    FAIL = "fail"
    DISABLE_TARGET = "disable_target"
    DELIVERED = "delivered"
    HALT = "halt"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    delay: float = 0.0
    counts_as_attempt: bool = True


def backoff(attempts: int, *, jitter: float = 0.2) -> float:
    """Exponential backoff for the n-th failed attempt (1, 2, 4 … s, capped), with jitter."""
    base: float = min(MAX_BACKOFF_SECONDS, 2.0 ** max(0, attempts))
    return base * (1 + random.uniform(-jitter, jitter))  # noqa: S311 - jitter, not security


def describe(error: DiscordError) -> str:
    if isinstance(error, PermanentError):
        return f"discord {error.status} code {error.code}: {error}"
    return f"{type(error).__name__}: {error}"


def decide(error: DiscordError, *, attempts: int, is_dm: bool = False) -> Decision:
    """Map one failure (after `attempts` earlier attempts) to what happens next."""
    if isinstance(error, RateLimited):
        return Decision(Action.RETRY, "rate limited", error.retry_after, counts_as_attempt=False)
    if isinstance(error, Unauthorized | CloudflareBan):
        return Decision(Action.HALT, describe(error), counts_as_attempt=False)
    if isinstance(error, DmTooFast):
        return Decision(
            Action.RETRY, "opening DMs too fast", DM_TOO_FAST_DELAY_SECONDS, counts_as_attempt=False
        )
    if isinstance(error, TransientError):
        if attempts + 1 >= MAX_ATTEMPTS:
            return Decision(Action.FAIL, f"gave up after {MAX_ATTEMPTS} attempts: {error}")
        return Decision(Action.RETRY, describe(error), backoff(attempts + 1))
    if isinstance(error, PermanentError):
        if error.code == UNKNOWN_MESSAGE:
            # A create retried with the same nonce after the first one was deleted.
            return Decision(Action.DELIVERED, "created earlier, since deleted")
        unreachable = USER_UNREACHABLE_CODES if is_dm else TARGET_GONE_CODES
        if error.code in unreachable:
            return Decision(Action.DISABLE_TARGET, describe(error))
        return Decision(Action.FAIL, describe(error))
    return Decision(Action.RETRY, describe(error), backoff(attempts + 1))
