"""Discord rate-limit state shared by every worker process (tables and functions of migration 004).

`try_acquire` and `record_response` each call one SQL function, so taking a request and learning
from its response are one round trip apiece; the functions lock the bucket row before the lane
row and read `clock_timestamp()` only once they hold them. Rows are keyed by a fingerprint of the
bot token, never the token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row

#: `AcquireOutcome.waiting_for`: the lane's next slot is later, or the bucket is closed.
WAITING_FOR_LANE = "lane"
WAITING_FOR_BUCKET = "bucket"


@dataclass(frozen=True)
class AcquireOutcome:
    """One attempt to take a request from a lane and its bucket.

    `granted` when both were taken. Otherwise either a halt is in force (`halt_reason`,
    `halted_until`, NULL meaning until cleared) or nothing was taken and the caller should wait
    `wait_seconds` for `waiting_for` (`lane` or `bucket`). `db_now` is the database's clock.
    """

    granted: bool
    wait_seconds: float | None
    waiting_for: str | None
    halt_reason: str | None
    halted_until: datetime | None
    db_now: datetime


_ACQUIRE = """
SELECT granted, wait_seconds, waiting_for, halt_reason, halted_until, db_now
FROM discord_rl_acquire(
    %(token)s, %(lane)s, %(interval)s, %(catch_up)s, %(route)s, %(major)s,
    %(in_flight_ttl)s, %(poll)s
)
"""


async def try_acquire(
    conn: AsyncConnection[Any],
    *,
    token_key: str,
    lane: str,
    interval: float,
    catch_up: float,
    route_key: str,
    major: str,
    in_flight_ttl: float,
    poll: float,
) -> AcquireOutcome:
    """Take one request from `lane` (GCRA, `interval` seconds apart) and from the route's bucket.

    Both or neither: a blocked bucket never costs a lane slot. An unknown bucket admits one
    request, reserved for `in_flight_ttl` seconds or until its response is recorded; a caller
    waiting behind that reservation is told to poll again after at most `poll` seconds.
    """
    async with conn.cursor(row_factory=class_row(AcquireOutcome)) as cur:
        await cur.execute(
            _ACQUIRE,
            {
                "token": token_key,
                "lane": lane,
                "interval": interval,
                "catch_up": catch_up,
                "route": route_key,
                "major": major,
                "in_flight_ttl": in_flight_ttl,
                "poll": poll,
            },
        )
        row = await cur.fetchone()
    if row is None:
        raise RuntimeError("discord_rl_acquire returned no row")
    return row


@dataclass(frozen=True)
class ResponseEffects:
    """What one response changes in the shared state; None/False means "nothing".

    - `bucket_hash`, `limit`, `remaining`, `reset_after`: the bucket as the headers describe it
      (learned only when limit, remaining and reset_after are all known);
    - `bucket_block`: seconds the route's bucket stays closed (user or shared 429);
    - `global_block`: seconds every lane of the token stays closed (global 429);
    - `invalid`: counts toward the invalid-request breaker (401, 403, non-shared 429);
    - `halt_reason`, `halt_seconds`: stop all sending, for that long (None: until cleared).
    """

    bucket_hash: str | None = None
    limit: int | None = None
    remaining: int | None = None
    reset_after: float | None = None
    bucket_block: float | None = None
    global_block: float | None = None
    invalid: bool = False
    halt_reason: str | None = None
    halt_seconds: float | None = None


_RECORD = """
SELECT discord_rl_record(
    %(token)s, %(route)s, %(major)s, %(bucket_hash)s, %(limit)s, %(remaining)s,
    %(reset_after)s, %(bucket_block)s, %(global_block)s, %(lanes)s, %(invalid)s, %(halt_reason)s,
    %(halt_seconds)s, %(breaker_threshold)s, %(breaker_seconds)s
)
"""


async def record_response(
    conn: AsyncConnection[Any],
    *,
    token_key: str,
    route_key: str,
    major: str,
    effects: ResponseEffects,
    lanes: Sequence[str],
    breaker_threshold: int,
    breaker_seconds: float,
) -> str | None:
    """Release the route's in-flight reservation and apply `effects` in one statement.

    A global block closes every one of `lanes` (the token's lanes, also those not used yet).
    When the invalid requests of the last 10 minutes reach `breaker_threshold`, sending halts
    for `breaker_seconds`. Returns the halt reason when this call started or lengthened a halt.
    """
    cur = await conn.execute(
        _RECORD,
        {
            "token": token_key,
            "route": route_key,
            "major": major,
            "bucket_hash": effects.bucket_hash,
            "limit": effects.limit,
            "remaining": effects.remaining,
            "reset_after": effects.reset_after,
            "bucket_block": effects.bucket_block,
            "global_block": effects.global_block,
            "lanes": list(lanes),
            "invalid": effects.invalid,
            "halt_reason": effects.halt_reason,
            "halt_seconds": effects.halt_seconds,
            "breaker_threshold": breaker_threshold,
            "breaker_seconds": breaker_seconds,
        },
    )
    row = await cur.fetchone()
    return row[0] if row else None


@dataclass(frozen=True)
class HaltRow:
    """Sending is stopped for a token: why, since when, and until when (None: until cleared)."""

    reason: str
    halted_until: datetime | None
    halted_at: datetime


_ACTIVE_HALT = """
SELECT reason, halted_until, halted_at FROM discord_rl_halts
WHERE token_key = %s AND (halted_until IS NULL OR halted_until > clock_timestamp())
"""


async def active_halt(conn: AsyncConnection[Any], token_key: str) -> HaltRow | None:
    async with conn.cursor(row_factory=class_row(HaltRow)) as cur:
        await cur.execute(_ACTIVE_HALT, (token_key,))
        return await cur.fetchone()


_CLEAR_HALT = """
WITH cleared AS (DELETE FROM discord_rl_invalid WHERE token_key = %(token)s)
DELETE FROM discord_rl_halts WHERE token_key = %(token)s
"""


async def clear_halt(conn: AsyncConnection[Any], token_key: str) -> None:
    """Lift the token's halt and forget its invalid-request count (a fresh breaker window)."""
    await conn.execute(_CLEAR_HALT, {"token": token_key})


_INVALID_COUNT = """
SELECT coalesce(sum(hits), 0) FROM discord_rl_invalid
WHERE token_key = %s AND minute > date_trunc('minute', clock_timestamp()) - interval '10 minutes'
"""


async def invalid_request_count(conn: AsyncConnection[Any], token_key: str) -> int:
    """Invalid requests (401, 403, non-shared 429) recorded in the last 10 minutes."""
    cur = await conn.execute(_INVALID_COUNT, (token_key,))
    row = await cur.fetchone()
    return int(row[0]) if row else 0


_PRUNE_BUCKETS = """
DELETE FROM discord_rl_buckets
WHERE touched_at < clock_timestamp() - make_interval(secs => %(idle)s)
  AND (blocked_until IS NULL OR blocked_until < clock_timestamp())
  AND (reset_at IS NULL OR reset_at < clock_timestamp())
  AND (in_flight_until IS NULL OR in_flight_until < clock_timestamp())
"""


async def prune_idle_buckets(conn: AsyncConnection[Any], *, idle_seconds: float) -> int:
    """Delete bucket rows untouched for `idle_seconds` that hold no block; returns the count.

    A deleted bucket is simply unknown again (one request in flight until a response is seen).
    """
    cur = await conn.execute(_PRUNE_BUCKETS, {"idle": idle_seconds})
    return cur.rowcount
