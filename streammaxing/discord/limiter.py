"""One Discord rate-limit budget for every worker process, kept in Postgres.

The state lives in the tables of migration 004 and is changed only by two SQL functions, one
round trip per batch of requests or responses (`streammaxing.schema.ratelimits`); all limiter
time is the database's `clock_timestamp()`, so processes on several hosts share one clock.

- **Global budget, two lanes.** Per bot token (keyed by `token_fingerprint`), ANNOUNCE may send
  `global_rate * safety - dm_rate` requests/s and DM `dm_rate`, so DMs never take the
  announcements' share. Each lane is a GCRA with no burst: a request is allowed once the lane's
  theoretical arrival time `tat` has come, and moves it to `max(tat, now - catch_up) + 1/rate`.
  The small `catch_up` (≤ 5 ms) keeps the pace when a waiter wakes a little late. Requests `k`
  apart are then at least `k/rate - catch_up` apart, so a 1 s window holds at most
  `ceil((1 + catch_up) * rate)` per lane: 48 + 2 = 50 with the defaults, never over Discord's 50.
- **Per-route buckets**, keyed `route_key:major` (or `bucket_hash:major` once a response named
  the route's `X-RateLimit-Bucket`). An unknown bucket admits one request at a time until its
  response is recorded (a reservation that is never recorded — a crashed worker — lapses after
  `in_flight_ttl`). `record` learns `limit`, `remaining = min(ours, header)` and
  `reset_at = now + reset_after`; at remaining 0 the bucket is closed until `reset_at`.
- The lane slot and the bucket are taken together or not at all, after checking that sending is
  not halted. A lane slot up to `GRANT_HORIZON_SECONDS` ahead is granted at once and the caller
  sleeps until it (an instant on the limiter's clock: when the round trip returned plus the
  slot's delay); a caller that wakes more than MAX_LATE_SECONDS after its slot does not send
  late, together with the slots after it, but gives the bucket back and asks again. When
  nothing is available, `acquire` sleeps — holding no database
  connection — and tries again; if the wait would end after `max_wait` it raises `WaitTooLong`
  so the caller can reschedule its job instead. Within one process, the callers waiting for a
  lane queue for it (`slot_queue`: urgent first, then oldest first, a few asked per round trip,
  a round at most every `MIN_NAP_SECONDS` while they wait), and the responses ride along with
  the next of those round trips (`pending_responses`; on their own after
  RECORD_LINGER_SECONDS when none comes): a crowd of senders does not hammer the lane's row.
  An `urgent` caller may take a slot up to URGENT_GRANT_HORIZON_SECONDS ahead, so it goes
  before the backlog of callers that are not.
- **429s**: scope `user` closes the bucket for `retry_after`; `global` (or `is_global`) closes
  every lane of the token; `shared` closes the bucket and is not an invalid request.
  **A Cloudflare ban is reported as status 429 with `info` None or without `retry_after`**
  (what the client raises as `CloudflareBan`): sending halts for 10 minutes.
- **401** halts all sending until an operator calls `clear_halt` (the token is bad).
- **Breaker**: 401, 403 and non-shared 429 are counted per minute; when the last 10 minutes
  reach `invalid_threshold` (default 2,500, far below Discord's 10,000), sending halts for 10
  minutes. `acquire` raises `LimiterHalted` while a halt is in force.

Callers call `record` after every `acquire`, whatever happened: with the response's status and
`RateLimitInfo`, or with status 0 and `info=None` when no response arrived (that releases the
bucket's reservation and changes nothing else).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any, Literal, TypeVar

import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool

from streammaxing.discord.errors import is_invalid_request
from streammaxing.discord.pending_responses import PendingResponses
from streammaxing.discord.ratelimit_headers import SCOPE_GLOBAL, SCOPE_SHARED, RateLimitInfo
from streammaxing.discord.slot_queue import SlotQueue
from streammaxing.schema import ratelimits
from streammaxing.schema.ratelimits import (
    AcquireOutcome,
    AcquireRequest,
    RecordedResponse,
    ResponseEffects,
)

log = structlog.get_logger(__name__)

R = TypeVar("R")

HALT_UNAUTHORIZED = "unauthorized"
HALT_CLOUDFLARE_BAN = "cloudflare_ban"
HALT_BREAKER = "invalid_request_breaker"

#: How long sending stops after a Cloudflare ban or a tripped breaker.
BAN_HALT_SECONDS = 600.0
BREAKER_HALT_SECONDS = 600.0
#: How late a lane request may be and still keep the lane's pace (see the module docstring).
MAX_CATCH_UP_SECONDS = 0.005
#: How long an unknown bucket's single request stays reserved without a recorded response.
IN_FLIGHT_TTL_SECONDS = 10.0
#: How often a caller polls an unknown bucket whose single request is still in flight.
IN_FLIGHT_POLL_SECONDS = 0.05
#: How far ahead a lane slot may be handed out: the caller then sleeps until its slot. Lets one
#: round trip serve a crowd of callers (at 50 req/s, the next two dozen slots) without anyone
#: polling the lane's row for each slot. Above the slot queue's MIN_NAP_SECONDS, so a process
#: asks again before the slots it took run out.
GRANT_HORIZON_SECONDS = 0.5
#: How far ahead a lane slot may be handed out to an urgent request. Requests that are not
#: urgent keep the lane's next slot within GRANT_HORIZON_SECONDS of now, so an urgent one is
#: granted the slot after theirs at once, ahead of every non-urgent caller still waiting; the
#: lane's pace is the same, so a big fan-out still uses the whole budget when nothing is urgent.
URGENT_GRANT_HORIZON_SECONDS = 2.0
#: Where a missed slot was found: the caller woke from its sleep too late, or was held up
#: between `acquire` and the write (`on_time` answered False, the caller gave the bucket back).
SlotMissedAt = Literal["wake", "before_write"]

#: How late after its granted lane slot a caller may still send. The lane keeps its pace
#: whoever is late: a caller that sends long after its slot (its event loop or process was busy)
#: sends in the same second as the slots after it, and a crowd of late callers of one process
#: would go out together. Such a caller gives its bucket back and asks for a new slot instead.
#: Requests sent within their slot plus this are at most ceil((1 + catch_up + 0.02) * rate)
#: per second: 49 at 47.5/s.
MAX_LATE_SECONDS = 0.02
#: A response waits at most this long for the process's next slot round trip to record it
#: (`PendingResponses`); then it is recorded in a statement of its own. While a process has
#: callers waiting for slots, it asks every MIN_NAP_SECONDS or sooner, so its responses ride
#: along with those round trips.
RECORD_LINGER_SECONDS = 0.5
#: With no caller of the process waiting for a slot, responses are recorded on their own at
#: once, but at most this often, so responses arriving a little apart share a statement.
RECORD_MIN_GAP_SECONDS = 0.25
#: How many waiting callers of a process (besides the urgent ones) one round trip asks slots
#: for: more than the lane's slots within GRANT_HORIZON_SECONDS (24 at 47.5/s), so one process
#: alone keeps the lane busy.
MAX_ASK = 32
#: Runs of one batch of responses when Postgres picks it as a deadlock victim.
RECORD_DEADLOCK_ATTEMPTS = 3


class Lane(StrEnum):
    """A share of the token's global budget."""

    ANNOUNCE = "announce"
    DM = "dm"


class LimiterError(Exception):
    """Base of the limiter's refusals."""


class LimiterHalted(LimiterError):  # noqa: N818 -- shared interface name
    """Sending is stopped for this token (`reason`: unauthorized, cloudflare_ban or
    invalid_request_breaker) until `until`, or until an operator clears it when None."""

    def __init__(self, reason: str, until: datetime | None = None) -> None:
        when = until.isoformat() if until else "cleared by an operator"
        super().__init__(f"Discord sending halted ({reason}) until {when}")
        self.reason = reason
        self.until = until


class WaitTooLong(LimiterError):  # noqa: N818 -- shared interface name
    """The wait for a slot would exceed `max_wait`: reschedule the job for `retry_at` instead."""

    def __init__(self, retry_at: datetime) -> None:
        super().__init__(f"rate limited until {retry_at.isoformat()}")
        self.retry_at = retry_at


def token_fingerprint(token: str) -> str:
    """A short, stable, non-reversible key for a bot token (never store or log the token)."""
    return hashlib.sha256(f"streammaxing-discord-token:{token}".encode()).hexdigest()[:16]


def lane_rates(global_rate: float, dm_rate: float, safety: float) -> dict[Lane, float]:
    """Requests per second for each lane; raises ValueError when the shares make no sense."""
    if global_rate <= 0 or not 0 < safety <= 1:
        raise ValueError("global_rate must be > 0 and safety in (0, 1]")
    announce = global_rate * safety - dm_rate
    if dm_rate <= 0 or announce <= 0:
        raise ValueError(
            f"dm_rate ({dm_rate}) must be > 0 and below global_rate * safety "
            f"({global_rate * safety})"
        )
    return {Lane.ANNOUNCE: announce, Lane.DM: dm_rate}


def response_effects(status: int, info: RateLimitInfo | None) -> ResponseEffects:
    """What a response with `status` and rate-limit `info` changes in the shared state (pure).

    Status 0 stands for "no response"; a 429 without `retry_after` (or without `info`) is a
    Cloudflare ban.
    """
    learned = _learned_bucket(info)
    if status == 429:
        if info is None or info.retry_after is None:
            return ResponseEffects(
                invalid=True, halt_reason=HALT_CLOUDFLARE_BAN, halt_seconds=BAN_HALT_SECONDS
            )
        if info.is_global or info.scope == SCOPE_GLOBAL:
            return replace(learned, global_block=info.retry_after, invalid=True)
        if info.scope == SCOPE_SHARED:
            # A shared 429's Reset-After is known to be wrong: close the bucket, learn nothing.
            return ResponseEffects(bucket_hash=info.bucket, bucket_block=info.retry_after)
        return replace(learned, bucket_block=info.retry_after, invalid=True)
    if status == 401:
        return replace(learned, invalid=True, halt_reason=HALT_UNAUTHORIZED, halt_seconds=None)
    return replace(learned, invalid=status > 0 and is_invalid_request(status))


def _learned_bucket(info: RateLimitInfo | None) -> ResponseEffects:
    if info is None:
        return ResponseEffects()
    return ResponseEffects(
        bucket_hash=info.bucket,
        limit=info.limit,
        remaining=info.remaining,
        reset_after=info.reset_after,
    )


class DiscordLimiter:
    """The shared limiter; one per process, built by the composition root around its pool."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        *,
        global_rate: float = 50.0,
        dm_rate: float = 1.0,
        token_fingerprint: str,
        invalid_threshold: int = 2500,
        safety: float = 0.97,
        in_flight_ttl: float = IN_FLIGHT_TTL_SECONDS,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        on_slot_missed: Callable[[SlotMissedAt], object] = lambda _at: None,
    ) -> None:
        if not token_fingerprint:
            raise ValueError("token_fingerprint must not be empty")
        if invalid_threshold < 1 or in_flight_ttl <= 0:
            raise ValueError("invalid_threshold must be >= 1 and in_flight_ttl > 0")
        self._pool = pool
        self._token = token_fingerprint
        self._on_slot_missed = on_slot_missed
        self._intervals = {
            lane: 1.0 / rate for lane, rate in lane_rates(global_rate, dm_rate, safety).items()
        }
        self._invalid_threshold = invalid_threshold
        self._in_flight_ttl = in_flight_ttl
        self._sleep = sleep
        self._clock = clock
        # The callers of this process that want a slot wait in one queue per lane, asked for
        # a few at a time.
        self._slot_queues = {
            lane: SlotQueue(
                partial(self._acquire_batch, lane),
                give_back=self._give_back,
                sleep=sleep,
                clock=clock,
                max_ask=MAX_ASK,
            )
            for lane in Lane
        }
        self._unrecorded = PendingResponses[RecordedResponse, str | None](
            self._record_batch,
            linger=RECORD_LINGER_SECONDS,
            min_gap=RECORD_MIN_GAP_SECONDS,
            round_due=self._slot_round_due,
            sleep=sleep,
            clock=clock,
        )
        self._releases: set[asyncio.Task[None]] = set()

    async def acquire(
        self,
        lane: Lane,
        route_key: str,
        major: str,
        *,
        max_wait: float = 30.0,
        urgent: bool = False,
    ) -> float:
        """Wait for a slot of `lane` and of the bucket of `route_key` + `major`, then take both.

        `major` is the route's top-level id (channel, guild or webhook), "" when it has none.
        Returns the slot's instant on this limiter's clock (see `on_time`). Raises
        `LimiterHalted` while sending is halted and `WaitTooLong` when the slot would come
        later than `max_wait` seconds from now. Call `record` once the request is done, or
        `give_back` when it was not sent after all.
        An `urgent` request may take a lane slot further ahead (URGENT_GRANT_HORIZON_SECONDS),
        so it goes before the waiting requests that are not.
        """
        deadline = self._clock() + max_wait
        slots = self._slot_queues[lane]
        reach = URGENT_GRANT_HORIZON_SECONDS if urgent else GRANT_HORIZON_SECONDS
        while True:
            answer = await slots.ask(
                route_key, major, reach=reach, deadline=deadline, urgent=urgent
            )
            outcome = answer.outcome
            if outcome.halt_reason is not None:
                raise LimiterHalted(outcome.halt_reason, outcome.halted_until)
            if outcome.granted:
                if await self._wait_for_slot(route_key, major, answer.slot_at):
                    return answer.slot_at
                # Missed: the slot is spent, the bucket given back; ask for a later one.
                continue
            wait = outcome.wait_seconds or 0.0
            if self._clock() + wait > deadline:
                raise WaitTooLong(outcome.db_now + timedelta(seconds=wait))
            await self._sleep(wait)

    def on_time(self, slot_at: float) -> bool:
        """True while a request whose slot (from `acquire`) is `slot_at` may still be sent:
        at most MAX_LATE_SECONDS after it. Asked again right before the request is written,
        as the sender may have been held up since `acquire` returned (the client's cap on
        requests in flight, a busy event loop)."""
        return self._clock() - slot_at <= MAX_LATE_SECONDS

    def give_back(self, route_key: str, major: str) -> None:
        """A request `acquire` let through was not sent, `on_time` having said its slot passed:
        release its bucket now (its lane slot is spent)."""
        self._on_slot_missed("before_write")
        self._give_back(AcquireRequest(route_key, major, 0.0), None)

    async def _wait_for_slot(self, route_key: str, major: str, slot_at: float) -> bool:
        """Sleep until a granted lane slot (`slot_at`, on this limiter's clock). True when the
        caller may send now; False when it woke more than MAX_LATE_SECONDS after the slot
        (then the bucket is given back). A caller cancelled meanwhile gives the bucket back."""
        delay = slot_at - self._clock()
        if delay > 0:
            try:
                await self._sleep(delay)
            except asyncio.CancelledError:
                self._give_back(AcquireRequest(route_key, major, 0.0), None)
                raise
        late = self._clock() - slot_at
        if late <= MAX_LATE_SECONDS:
            return True
        log.debug("discord_limiter_slot_missed", route=route_key, late_s=round(late, 4))
        self._on_slot_missed("wake")
        self._give_back(AcquireRequest(route_key, major, 0.0), None)
        return False

    async def _acquire_batch(
        self, lane: Lane, requests: list[AcquireRequest]
    ) -> list[AcquireOutcome]:
        """Take slots for `requests`; the responses waiting to be recorded ride along."""
        interval = self._intervals[lane]
        catch_up = min(MAX_CATCH_UP_SECONDS, interval / 4)
        taken = self._unrecorded.take()
        if not taken:
            async with self._pool.connection() as conn:
                return await ratelimits.try_acquire_many(
                    conn,
                    requests,
                    token_key=self._token,
                    lane=lane.value,
                    interval=interval,
                    catch_up=catch_up,
                    in_flight_ttl=self._in_flight_ttl,
                    poll=IN_FLIGHT_POLL_SECONDS,
                )
        try:
            started, outcomes = await self._retry_deadlocks(
                partial(
                    ratelimits.record_and_acquire,
                    responses=[waiting.item for waiting in taken],
                    requests=requests,
                    token_key=self._token,
                    lanes=[lane.value for lane in Lane],
                    breaker_threshold=self._invalid_threshold,
                    breaker_seconds=BREAKER_HALT_SECONDS,
                    lane=lane.value,
                    interval=interval,
                    catch_up=catch_up,
                    in_flight_ttl=self._in_flight_ttl,
                    poll=IN_FLIGHT_POLL_SECONDS,
                ),
                len(taken),
            )
        except BaseException as error:
            PendingResponses.fail(taken, error)
            raise
        PendingResponses.settle(taken, started)
        return outcomes

    def _slot_round_due(self) -> bool:
        """True while callers of this process wait in a slot queue: a round trip is coming."""
        return any(queue.waiting for queue in self._slot_queues.values())

    def _give_back(self, request: AcquireRequest, outcome: AcquireOutcome | None) -> None:
        """A slot was granted to a caller that is gone: release its bucket reservation now
        rather than after `in_flight_ttl` (the lane slot itself is spent)."""
        if outcome is not None and not outcome.granted:
            return
        task = asyncio.create_task(self.record(request.route_key, request.major, 0, None))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def record(
        self, route_key: str, major: str, status: int, info: RateLimitInfo | None
    ) -> None:
        """Learn from the response to a request `acquire` let through.

        `status` 0 with `info` None means no response arrived (timeout, connection error).
        Responses recorded at the same time by this process share one statement.
        """
        effects = response_effects(status, info)
        halted = await self._unrecorded.submit(RecordedResponse(route_key, major, effects))
        if halted is not None:
            log.warning(
                "discord_sending_halted",
                reason=halted,
                status=status,
                route=route_key,
                token_fingerprint=self._token,
            )

    async def _record_batch(self, responses: list[RecordedResponse]) -> list[str | None]:
        """Record `responses` in a statement of their own (no slot round trip took them)."""
        return await self._retry_deadlocks(
            partial(
                ratelimits.record_responses,
                responses=responses,
                token_key=self._token,
                lanes=[lane.value for lane in Lane],
                breaker_threshold=self._invalid_threshold,
                breaker_seconds=BREAKER_HALT_SECONDS,
            ),
            len(responses),
        )

    async def _retry_deadlocks(
        self, statement: Callable[[psycopg.AsyncConnection[Any]], Awaitable[R]], batch: int
    ) -> R:
        """Run `statement` on a pool connection; again when Postgres picked it as a deadlock
        victim. Only possible when two batches meet rows of the rare kinds that are not locked
        up front (invalid-request counts, lanes on a global 429, the bucket a route maps to
        once it learned its first bucket hash in the same call); the transaction was rolled
        back, so running it again is safe."""
        for attempt in range(RECORD_DEADLOCK_ATTEMPTS):
            try:
                async with self._pool.connection() as conn:
                    return await statement(conn)
            except psycopg.errors.DeadlockDetected:
                if attempt + 1 == RECORD_DEADLOCK_ATTEMPTS:
                    raise
                log.warning("discord_limiter_deadlock_retried", batch=batch)
        raise AssertionError("unreachable")

    async def halt_reason(self) -> str | None:
        """Why sending is halted for this token right now, or None when it is not."""
        async with self._pool.connection() as conn:
            halt = await ratelimits.active_halt(conn, self._token)
        return halt.reason if halt else None

    async def clear_halt(self) -> None:
        """Lift the halt and start the breaker's count afresh (operator action, tests)."""
        async with self._pool.connection() as conn:
            await ratelimits.clear_halt(conn, self._token)
        log.info("discord_halt_cleared", token_fingerprint=self._token)
