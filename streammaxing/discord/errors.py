"""Every way a Discord call can fail, as one small hierarchy.

    DiscordError      base; `rate_limit` holds the response's rate-limit facts (if any)
    ├── RateLimited   429 with a JSON body and `retry_after`: wait, then retry
    ├── CloudflareBan 429 without `Via`, non-JSON or without `retry_after`: halt all traffic
    ├── Unauthorized  401: the token is invalid or revoked; stop ALL sending until fixed
    ├── TransientError  5xx, timeouts, connection errors; `maybe_sent` says whether Discord
    │                 may have acted on the request (retry a create only with the same nonce)
    ├── PermanentError  400/403/404/… with a Discord `code` (10003, 10008, 50001, 50013,
    │                 50007, 50033, 50035, 40058, …): do not resend the same request
    └── DmTooFast     403 code 40003 "opening direct messages too fast": retry much later

The client raises these and never retries; the retry policy maps the classes to decisions.
Each error raised from an aiohttp exception (no answer came) keeps it as `__cause__`.
"""

from __future__ import annotations

from typing import Any

from streammaxing.discord.ratelimit_headers import SCOPE_SHARED, RateLimitInfo

# Discord JSON error codes the code base branches on (Discord's documented error codes).
UNKNOWN_CHANNEL = 10003
UNKNOWN_MESSAGE = 10008
UNKNOWN_USER = 10013
MISSING_ACCESS = 50001
MISSING_PERMISSIONS = 50013
CANNOT_SEND_TO_USER = 50007
INVALID_RECIPIENTS = 50033
NO_MUTUAL_GUILDS = 50278
INVALID_FORM_BODY = 50035
EMPTY_MESSAGE = 50006
FORUM_CHANNEL = 40058
OPENING_DMS_TOO_FAST = 40003
CHANNEL_WRITE_RATE_LIMIT = 20028

#: HTTP statuses Discord counts toward its invalid-request budget (10,000 per 10 min per IP).
INVALID_REQUEST_STATUSES = frozenset({401, 403, 429})


class SlotMissed(Exception):  # noqa: N818 -- named like the limiter's refusals
    """Not a Discord failure: the request's rate-limit slot had passed by more than the
    limiter allows when it was about to be written, so nothing was sent. Take a new slot."""


class DiscordError(Exception):
    """Base of every Discord failure; `rate_limit` is what the response said, when there was one."""

    def __init__(self, message: str, *, rate_limit: RateLimitInfo | None = None) -> None:
        super().__init__(message)
        self.rate_limit = rate_limit


class RateLimited(DiscordError):  # noqa: N818 -- shared interface name
    """429 with a usable JSON body: wait `retry_after` seconds before touching that route again.

    `scope` is `user` (our bucket), `global` (our per-token global limit) or `shared` (a resource
    limit, e.g. code 20028 channel write limit; not counted as an invalid request). `bucket` is the
    `X-RateLimit-Bucket` hash when the response named one; `code` the body's code, if any.
    """

    def __init__(
        self,
        retry_after: float,
        scope: str,
        is_global: bool,
        bucket: str | None,
        *,
        code: int | None = None,
        rate_limit: RateLimitInfo | None = None,
    ) -> None:
        super().__init__(
            f"rate limited ({scope} scope), retry after {retry_after:.3f}s",
            rate_limit=rate_limit,
        )
        self.retry_after = retry_after
        self.scope = scope
        self.is_global = is_global
        self.bucket = bucket
        self.code = code


class CloudflareBan(DiscordError):  # noqa: N818 -- shared interface name
    """A 429 Discord's API did not produce: the IP is banned for a while (invalid requests)."""

    def __init__(
        self, status: int, detail: str, *, rate_limit: RateLimitInfo | None = None
    ) -> None:
        super().__init__(f"Cloudflare ban ({status}): {detail}", rate_limit=rate_limit)
        self.status = status
        self.detail = detail


class Unauthorized(DiscordError):  # noqa: N818 -- shared interface name
    """401: the bot token is invalid or revoked; every further call would fail the same way."""

    def __init__(self, code: int | None, *, rate_limit: RateLimitInfo | None = None) -> None:
        super().__init__(f"unauthorized (code {code})", rate_limit=rate_limit)
        self.status = 401
        self.code = code


class TransientError(DiscordError):
    """5xx, timeout or connection failure: retry with backoff.

    `maybe_sent` is False only when Discord certainly did not act on the request (the connection
    was never made, or the request never fully left); a read timeout, a dropped connection or a
    5xx after sending leaves the outcome unknown, so a create may only be retried with the same
    nonce. `status` is the HTTP status when a response arrived.
    """

    def __init__(
        self,
        message: str,
        *,
        maybe_sent: bool,
        status: int | None = None,
        rate_limit: RateLimitInfo | None = None,
    ) -> None:
        super().__init__(message, rate_limit=rate_limit)
        self.maybe_sent = maybe_sent
        self.status = status


class PermanentError(DiscordError):
    """A 4xx that resending the same request cannot fix (missing access, unknown channel, bad form).

    `code` is Discord's JSON error code (None when the body had none), `errors` the nested
    `errors` tree of a 50035 Invalid Form Body.
    """

    def __init__(
        self,
        status: int,
        code: int | None,
        message: str,
        *,
        errors: dict[str, Any] | None = None,
        rate_limit: RateLimitInfo | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}", rate_limit=rate_limit)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors


class DmTooFast(DiscordError):  # noqa: N818 -- shared interface name
    """403 code 40003: Discord's anti-spam refuses new DMs for now; postpone them for minutes."""

    def __init__(self, message: str, *, rate_limit: RateLimitInfo | None = None) -> None:
        super().__init__(message, rate_limit=rate_limit)
        self.status = 403
        self.code = OPENING_DMS_TOO_FAST


def is_invalid_request(status: int, scope: str | None = None) -> bool:
    """Does a response with this status (and 429 scope) count toward Discord's IP ban budget?

    401, 403 and 429 count, except 429s with `X-RateLimit-Scope: shared`, which Discord does
    not count against the bot.
    """
    if status not in INVALID_REQUEST_STATUSES:
        return False
    return not (status == 429 and scope == SCOPE_SHARED)


def status_of(error: DiscordError) -> int:
    """The HTTP status a failure came with (0 when no response arrived)."""
    if isinstance(error, RateLimited | CloudflareBan):
        return 429
    if isinstance(error, Unauthorized):
        return 401
    if isinstance(error, PermanentError):
        return error.status
    status = getattr(error, "status", None)
    return status if isinstance(status, int) else 0
