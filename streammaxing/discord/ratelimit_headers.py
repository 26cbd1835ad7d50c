"""Read Discord's rate-limit facts out of one response (pure; no I/O, no clock).

Discord reports per-route buckets in `X-RateLimit-*` headers on most responses and explains a
429 in both headers and the JSON body. The rules followed here:

- `X-RateLimit-Limit`, `-Remaining`, `-Reset` (epoch seconds), `-Reset-After` (seconds) and
  `-Bucket` describe the route's bucket; any of them may be missing (global 429s, routes without
  a bucket such as `POST /users/@me/channels`) or malformed, which yields `None`, never an error.
- Only 429s carry `X-RateLimit-Scope` (`user`, `global`, `shared`) and `X-RateLimit-Global`.
- How long to wait after a 429 is the latest of the body's `retry_after`, the `Retry-After`
  header (whole seconds, rounded up) and — except for `shared` 429s, whose Reset-After is known
  to be wrong — `X-RateLimit-Reset-After`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SCOPE_USER = "user"
SCOPE_GLOBAL = "global"
SCOPE_SHARED = "shared"


@dataclass(frozen=True, slots=True)
class RateLimitInfo:
    """What one response said about rate limits; every field is optional.

    `retry_after` is set only for a 429 (seconds to wait before the next attempt); `scope` and
    `is_global` describe a 429 too (`scope` falls back to `global` or `user` when a JSON 429
    lacks the header).
    """

    limit: int | None = None
    remaining: int | None = None
    reset_after: float | None = None
    reset_at: float | None = None
    bucket: str | None = None
    scope: str | None = None
    is_global: bool = False
    retry_after: float | None = None

    @property
    def has_bucket(self) -> bool:
        """True when the response named a bucket and its size (enough to learn the route)."""
        return self.bucket is not None and self.limit is not None


NO_RATE_LIMIT_INFO = RateLimitInfo()


def parse_rate_limit(
    headers: Mapping[str, str], body: Any = None, *, status: int | None = None
) -> RateLimitInfo:
    """Collect the rate-limit facts of a response from its `headers` and parsed JSON `body`.

    `headers` may be any mapping (aiohttp's or httpx's headers, a plain dict in any letter
    case). `body` is the decoded JSON (or None / anything else when the body was not a JSON
    object). Pass
    `status` when known: the retry delay is computed for 429s only; without `status` it is
    computed whenever the body or headers hold a retry delay.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    json_body: Mapping[str, Any] = body if isinstance(body, Mapping) else {}

    body_global = json_body.get("global") is True
    header_global = lowered.get("x-ratelimit-global", "").strip().lower() == "true"
    is_global = body_global or header_global
    scope = _text(lowered.get("x-ratelimit-scope"))
    if scope is not None:
        scope = scope.lower()

    reset_after = _non_negative_float(lowered.get("x-ratelimit-reset-after"))
    retry_after: float | None = None
    is_429 = status == 429 if status is not None else _mentions_retry(lowered, json_body)
    if is_429:
        if scope is None:
            scope = SCOPE_GLOBAL if is_global else SCOPE_USER
        retry_after = _retry_after(lowered, json_body, scope=scope, reset_after=reset_after)

    return RateLimitInfo(
        limit=_non_negative_int(lowered.get("x-ratelimit-limit")),
        remaining=_non_negative_int(lowered.get("x-ratelimit-remaining")),
        reset_after=reset_after,
        reset_at=_non_negative_float(lowered.get("x-ratelimit-reset")),
        bucket=_text(lowered.get("x-ratelimit-bucket")),
        scope=scope,
        is_global=is_global,
        retry_after=retry_after,
    )


def _retry_after(
    headers: Mapping[str, str],
    body: Mapping[str, Any],
    *,
    scope: str,
    reset_after: float | None,
) -> float | None:
    candidates = [
        value
        for value in (
            _non_negative_float(body.get("retry_after")),
            _non_negative_float(headers.get("retry-after")),
            reset_after if scope != SCOPE_SHARED else None,
        )
        if value is not None
    ]
    return max(candidates) if candidates else None


def _mentions_retry(headers: Mapping[str, str], body: Mapping[str, Any]) -> bool:
    return "retry-after" in headers or "retry_after" in body


def _text(raw: object) -> str | None:
    if not isinstance(raw, str):
        return None
    stripped = raw.strip()
    return stripped or None


def _non_negative_float(raw: object) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            return None
    else:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return value


def _non_negative_int(raw: object) -> int | None:
    value = _non_negative_float(raw)
    if value is None or not value.is_integer():
        return None
    return int(value)
