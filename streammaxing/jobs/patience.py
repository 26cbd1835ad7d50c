"""Wait out Helix's rate-limit bucket instead of failing: background jobs have minutes to spare.

The Helix client waits in-line for at most a minute, but Twitch's `Ratelimit-Reset` names when
the bucket is *full* again — about a minute after it ran dry at 800 points a minute — so a job
making more calls than one bucket holds would see every call after the 800th fail fast. Jobs
wrap their calls in `patiently`, which sleeps until the reset the error names and tries again,
within a waiting budget well inside the job's period.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import structlog

from streammaxing.twitch.errors import TwitchRateLimited

log = structlog.get_logger(__name__)

T = TypeVar("T")

#: Longest a job's call waits in total for the bucket before giving up (→ retry later).
PATIENCE_S: Final = 300.0
_SLACK_S: Final = 0.25


async def patiently(
    call: Callable[[], Awaitable[T]],
    *,
    budget_s: float = PATIENCE_S,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.time,
) -> T:
    """`await call()`, waiting for the bucket's reset after each `TwitchRateLimited`."""
    waited = 0.0
    while True:
        try:
            return await call()
        except TwitchRateLimited as error:
            delay = max(0.0, error.reset_at - clock()) + _SLACK_S
            if waited + delay > budget_s:
                raise
            log.info("helix_bucket_empty_waiting", wait_s=round(delay, 2))
            await sleep(delay)
            waited += delay
