"""Every way a call to Twitch (Helix or the OAuth token endpoint) can fail, modelled once.

Callers decide what to do from the class alone; the original `httpx` exception, when there is
one, stays reachable as ``__cause__``::

    TwitchError
    ├── TwitchAuthError              the client id/secret were rejected, or Helix refused a
    │                                freshly issued app token: fix the configuration
    ├── TwitchRateLimited            the Helix rate-limit bucket is empty for longer than we
    │                                wait in-line; try again after `reset_at`
    ├── TwitchTransientError         5xx (after the one 503 retry), timeout, connection failure:
    │                                retry later with backoff
    └── TwitchPermanentError         any other 4xx: retrying the same request cannot succeed
        ├── SubscriptionConflict     409 on create: that type + condition already exists
        └── SubscriptionLimitExceeded
                                     429 on create while the rate-limit bucket still has
                                     points: too many subscriptions for that type + condition
                                     (or the cost budget is spent); not a rate limit
"""

from __future__ import annotations

import httpx

__all__ = [
    "SubscriptionConflict",
    "SubscriptionLimitExceeded",
    "TwitchAuthError",
    "TwitchError",
    "TwitchPermanentError",
    "TwitchRateLimited",
    "TwitchTransientError",
    "twitch_message",
]


class TwitchError(Exception):
    """Base class of every Twitch client error."""


class TwitchAuthError(TwitchError):
    """The app credentials were rejected (bad client id or secret, or a token Helix refuses)."""


class TwitchRateLimited(TwitchError):  # noqa: N818 - names a condition, like the other errors here
    """The Helix bucket is empty; it is full again at `reset_at` (Unix epoch seconds)."""

    def __init__(self, reset_at: float, message: str = "Helix rate limit exhausted") -> None:
        super().__init__(f"{message}; resets at {reset_at:.0f}")
        self.reset_at = reset_at


class TwitchTransientError(TwitchError):
    """A failure that may pass: 5xx, timeout or connection error (`status` is None for those)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TwitchPermanentError(TwitchError):
    """A 4xx answer that the same request will get again; `message` is Twitch's own text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"Twitch answered {status}: {message}")
        self.status = status
        self.message = message


class SubscriptionConflict(TwitchPermanentError):  # noqa: N818 - names a condition
    """409 on create: a subscription with the same type and condition already exists."""


class SubscriptionLimitExceeded(TwitchPermanentError):  # noqa: N818 - names a condition
    """429 on create that is a subscription limit, not the request rate limit."""


def twitch_message(response: httpx.Response) -> str:
    """The `message` of a Twitch error body (`{"error", "status", "message"}`), else the reason."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase
    message = body.get("message") if isinstance(body, dict) else None
    return message if isinstance(message, str) and message else response.reason_phrase
