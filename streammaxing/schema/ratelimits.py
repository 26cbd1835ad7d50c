"""Discord rate-limit state shared by every worker process (tables and functions of migrations
004 and 020).

`try_acquire_many` and `record_responses` each call one SQL function, so taking slots for a
crowd of requests, or learning from a crowd of responses, is one round trip (and
`record_and_acquire` does both in one); the functions lock
the bucket rows (in key order) before the lane rows and read `clock_timestamp()` only once they
hold them. Rows are keyed by a fingerprint of the bot token, never the token.
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
class AcquireRequest:
    """One request wanting a slot: its route's bucket (`route_key` + `major`) and how far
    ahead (`horizon`, seconds) a lane slot may be and still be granted now."""

    route_key: str
    major: str
    horizon: float


@dataclass(frozen=True)
class AcquireOutcome:
    """The answer to one `AcquireRequest`.

    `granted` when the lane slot and the bucket were both taken; the request may be sent after
    `delay_seconds` (its lane slot). Otherwise either a halt is in force (`halt_reason`,
    `halted_until`, NULL meaning until cleared) or nothing was taken and the caller should wait
    `wait_seconds` for `waiting_for` (`lane` or `bucket`). `db_now` is the database's clock.
    """

    granted: bool
    delay_seconds: float | None
    wait_seconds: float | None
    waiting_for: str | None
    halt_reason: str | None
    halted_until: datetime | None
    db_now: datetime


_ACQUIRE_MANY = """
SELECT granted, delay_seconds, wait_seconds, waiting_for, halt_reason, halted_until, db_now
FROM discord_rl_acquire_many(
    %(token)s, %(lane)s, %(interval)s, %(catch_up)s, %(routes)s, %(majors)s, %(horizons)s,
    %(in_flight_ttl)s, %(poll)s
)
ORDER BY ord
"""


async def try_acquire_many(
    conn: AsyncConnection[Any],
    requests: Sequence[AcquireRequest],
    *,
    token_key: str,
    lane: str,
    interval: float,
    catch_up: float,
    in_flight_ttl: float,
    poll: float,
) -> list[AcquireOutcome]:
    """Take slots of `lane` (GCRA, `interval` seconds apart) and the requests' buckets, in order.

    Per request both or neither: a blocked bucket never costs a lane slot. An unknown bucket
    admits one request, reserved for `in_flight_ttl` seconds or until its response is recorded;
    a caller waiting behind that reservation is told to poll again after at most `poll` seconds.
    One outcome per request, in the order given.
    """
    async with conn.cursor(row_factory=class_row(AcquireOutcome)) as cur:
        await cur.execute(
            _ACQUIRE_MANY,
            {
                "token": token_key,
                "lane": lane,
                "interval": interval,
                "catch_up": catch_up,
                "routes": [request.route_key for request in requests],
                "majors": [request.major for request in requests],
                "horizons": [request.horizon for request in requests],
                "in_flight_ttl": in_flight_ttl,
                "poll": poll,
            },
        )
        outcomes = await cur.fetchall()
    if len(outcomes) != len(requests):
        raise RuntimeError("discord_rl_acquire_many did not answer every request")
    return outcomes


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


@dataclass(frozen=True)
class RecordedResponse:
    """A response to learn from: the route it was sent on and what it changes."""

    route_key: str
    major: str
    effects: ResponseEffects


_RECORD_MANY = """
SELECT started_halt
FROM discord_rl_record_many(
    %(token)s, %(routes)s, %(majors)s, %(bucket_hashes)s, %(limits)s, %(remainings)s,
    %(reset_afters)s, %(bucket_blocks)s, %(global_blocks)s, %(lanes)s, %(invalids)s,
    %(halt_reasons)s, %(halt_seconds)s, %(breaker_threshold)s, %(breaker_seconds)s
)
ORDER BY ord
"""


async def record_responses(
    conn: AsyncConnection[Any],
    responses: Sequence[RecordedResponse],
    *,
    token_key: str,
    lanes: Sequence[str],
    breaker_threshold: int,
    breaker_seconds: float,
) -> list[str | None]:
    """For each response: release its route's in-flight reservation and apply its effects.

    One statement and one transaction for all of them. They are applied sorted by route, so
    concurrent batches take the route rows in one order; the answers come back in the order
    given. A global block closes every one of `lanes` (the token's lanes, also those not used
    yet). When the invalid requests of the last 10 minutes reach `breaker_threshold`, sending
    halts for `breaker_seconds`. Returns, per response, the halt reason when it started or
    lengthened a halt, else None.
    """
    order, params = _record_params(responses, lanes, breaker_threshold, breaker_seconds)
    cur = await conn.execute(_RECORD_MANY, {"token": token_key, **params})
    rows = await cur.fetchall()
    if len(rows) != len(responses):
        raise RuntimeError("discord_rl_record_many did not answer every response")
    return _in_given_order(order, [row[0] for row in rows])


_RECORD_AND_ACQUIRE = """
SELECT kind, started_halt, granted, delay_seconds, wait_seconds, waiting_for, halt_reason,
       halted_until, db_now
FROM discord_rl_record_and_acquire(
    %(token)s, %(routes)s::text[], %(majors)s::text[], %(bucket_hashes)s::text[],
    %(limits)s::integer[], %(remainings)s::integer[], %(reset_afters)s::float8[],
    %(bucket_blocks)s::float8[], %(global_blocks)s::float8[], %(lanes)s::text[],
    %(invalids)s::boolean[], %(halt_reasons)s::text[], %(halt_seconds)s::float8[],
    %(breaker_threshold)s, %(breaker_seconds)s,
    %(lane)s, %(interval)s, %(catch_up)s, %(acquire_routes)s::text[], %(acquire_majors)s::text[],
    %(horizons)s::float8[], %(in_flight_ttl)s, %(poll)s
)
ORDER BY kind DESC, ord
"""


async def record_and_acquire(
    conn: AsyncConnection[Any],
    responses: Sequence[RecordedResponse],
    requests: Sequence[AcquireRequest],
    *,
    token_key: str,
    lanes: Sequence[str],
    breaker_threshold: int,
    breaker_seconds: float,
    lane: str,
    interval: float,
    catch_up: float,
    in_flight_ttl: float,
    poll: float,
) -> tuple[list[str | None], list[AcquireOutcome]]:
    """`record_responses` and then `try_acquire_many` in one statement and one transaction.

    The responses are applied first (a reservation they release is free for the requests);
    every bucket row of both is locked in key order before either part runs. Returns what each
    of them returns, in the orders given.
    """
    order, params = _record_params(responses, lanes, breaker_threshold, breaker_seconds)
    cur = await conn.execute(
        _RECORD_AND_ACQUIRE,
        {
            "token": token_key,
            **params,
            "lane": lane,
            "interval": interval,
            "catch_up": catch_up,
            "acquire_routes": [request.route_key for request in requests],
            "acquire_majors": [request.major for request in requests],
            "horizons": [request.horizon for request in requests],
            "in_flight_ttl": in_flight_ttl,
            "poll": poll,
        },
    )
    rows = await cur.fetchall()
    recorded = [row[1] for row in rows if row[0] == "record"]
    outcomes = [AcquireOutcome(*row[2:]) for row in rows if row[0] == "acquire"]
    if len(recorded) != len(responses) or len(outcomes) != len(requests):
        raise RuntimeError("discord_rl_record_and_acquire did not answer every item")
    return _in_given_order(order, recorded), outcomes


def _record_params(
    responses: Sequence[RecordedResponse],
    lanes: Sequence[str],
    breaker_threshold: int,
    breaker_seconds: float,
) -> tuple[list[int], dict[str, Any]]:
    """The responses sorted by route (the order their rows are applied in: concurrent batches
    take the route rows in one order), as the record functions' array arguments."""
    order = sorted(
        range(len(responses)), key=lambda i: (responses[i].route_key, responses[i].major)
    )
    ordered = [responses[i] for i in order]
    effects = [response.effects for response in ordered]
    return order, {
        "routes": [response.route_key for response in ordered],
        "majors": [response.major for response in ordered],
        "bucket_hashes": [e.bucket_hash for e in effects],
        "limits": [e.limit for e in effects],
        "remainings": [e.remaining for e in effects],
        "reset_afters": [e.reset_after for e in effects],
        "bucket_blocks": [e.bucket_block for e in effects],
        "global_blocks": [e.global_block for e in effects],
        "lanes": list(lanes),
        "invalids": [e.invalid for e in effects],
        "halt_reasons": [e.halt_reason for e in effects],
        "halt_seconds": [e.halt_seconds for e in effects],
        "breaker_threshold": breaker_threshold,
        "breaker_seconds": breaker_seconds,
    }


def _in_given_order(order: list[int], answers: list[str | None]) -> list[str | None]:
    started: list[str | None] = [None] * len(order)
    for position, answer in zip(order, answers, strict=True):
        started[position] = answer
    return started


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
