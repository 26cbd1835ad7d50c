"""The Postgres-backed Discord limiter: lanes, buckets, 429s, halts and the ban breaker.

Every test runs against a fresh migrated database; timings use the real clock with generous upper
bounds and exact lower bounds (a limiter may be slow, never early).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from streammaxing.discord.limiter import (
    BAN_HALT_SECONDS,
    HALT_BREAKER,
    HALT_CLOUDFLARE_BAN,
    HALT_UNAUTHORIZED,
    IN_FLIGHT_TTL_SECONDS,
    MAX_CATCH_UP_SECONDS,
    MAX_LATE_SECONDS,
    DiscordLimiter,
    Lane,
    LimiterHalted,
    WaitTooLong,
    lane_rates,
    response_effects,
    token_fingerprint,
)
from streammaxing.discord.ratelimit_headers import RateLimitInfo
from streammaxing.schema.ratelimits import (
    AcquireOutcome,
    AcquireRequest,
    RecordedResponse,
    ResponseEffects,
    invalid_request_count,
    prune_idle_buckets,
    record_and_acquire,
    record_responses,
)

Pool = AsyncConnectionPool[psycopg.AsyncConnection[Any]]

POST = "POST /channels/{channel_id}/messages"
PATCH = "PATCH /channels/{channel_id}/messages/{message_id}"
TOKEN = token_fingerprint("test-bot-token")
# A global rate whose lane interval (about a microsecond) is shorter than any round trip, so a
# bucket test's `max_wait=0` never trips over the lane on a fast machine.
FAST = 1_000_000.0


def make_limiter(pool: Pool, **overrides: Any) -> DiscordLimiter:
    options: dict[str, Any] = {"global_rate": FAST, "token_fingerprint": TOKEN} | overrides
    return DiscordLimiter(pool, **options)


def headers(limit: int, remaining: int, reset_after: float, bucket: str = "b1") -> RateLimitInfo:
    return RateLimitInfo(limit=limit, remaining=remaining, reset_after=reset_after, bucket=bucket)


def too_many(retry_after: float, scope: str, *, is_global: bool = False) -> RateLimitInfo:
    return RateLimitInfo(scope=scope, is_global=is_global, retry_after=retry_after)


async def eventually(probe: Callable[[], Awaitable[object]], want: object, within: float) -> None:
    """Poll `probe` until it returns `want`, failing after `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await probe() == want:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"probe did not return {want!r} within {within}s")


async def invalid_count(pool: Pool) -> int:
    async with pool.connection() as conn:
        return await invalid_request_count(conn, TOKEN)


async def _record_and_acquire(
    conn: psycopg.AsyncConnection[Any],
    responses: list[RecordedResponse],
    requests: list[AcquireRequest],
) -> tuple[list[str | None], list[AcquireOutcome]]:
    """`record_and_acquire` for the announce lane at FAST, breaker out of the way."""
    return await record_and_acquire(
        conn,
        responses,
        requests,
        token_key=TOKEN,
        lanes=[lane.value for lane in Lane],
        breaker_threshold=100,
        breaker_seconds=600.0,
        lane=Lane.ANNOUNCE.value,
        interval=1 / FAST,
        catch_up=0.0,
        in_flight_ttl=IN_FLIGHT_TTL_SECONDS,
        poll=0.05,
    )


class TestResponseEffects:
    """The pure mapping from a response to its effects on the shared state."""

    def test_success_teaches_the_bucket(self) -> None:
        """A 2xx with bucket headers is learned and is not an invalid request."""
        effects = response_effects(200, headers(5, 4, 4.5, "abc"))
        assert effects == ResponseEffects(bucket_hash="abc", limit=5, remaining=4, reset_after=4.5)

    def test_no_response_changes_nothing(self) -> None:
        """Status 0 without info (timeout, connection error) only releases the reservation."""
        assert response_effects(0, None) == ResponseEffects()

    @pytest.mark.parametrize(("status", "invalid"), [(403, True), (404, False), (500, False)])
    def test_forbidden_counts_as_invalid(self, status: int, invalid: bool) -> None:
        """403 counts toward Discord's invalid-request budget; 404 and 5xx do not."""
        assert response_effects(status, None).invalid is invalid

    def test_unauthorized_halts_until_cleared(self) -> None:
        """401 halts all sending with no end time, and counts as invalid."""
        effects = response_effects(401, None)
        assert effects.halt_reason == HALT_UNAUTHORIZED
        assert effects.halt_seconds is None
        assert effects.invalid

    def test_user_429_closes_the_bucket(self) -> None:
        """A user-scope 429 closes the bucket for retry_after and counts as invalid."""
        effects = response_effects(429, too_many(1.5, "user"))
        assert (effects.bucket_block, effects.global_block, effects.invalid) == (1.5, None, True)

    def test_shared_429_closes_the_bucket_without_counting(self) -> None:
        """A shared 429 closes the bucket, is not invalid, and its wrong Reset-After is ignored."""
        info = RateLimitInfo(
            limit=10, remaining=9, reset_after=0.1, bucket="abc", scope="shared", retry_after=30.0
        )
        effects = response_effects(429, info)
        assert effects == ResponseEffects(bucket_hash="abc", bucket_block=30.0)

    @pytest.mark.parametrize(
        "info", [too_many(2.0, "global"), too_many(2.0, "user", is_global=True)]
    )
    def test_global_429_closes_every_lane(self, info: RateLimitInfo) -> None:
        """A 429 with scope global (or `global: true`) closes the lanes, not the bucket."""
        effects = response_effects(429, info)
        assert (effects.global_block, effects.bucket_block, effects.invalid) == (2.0, None, True)

    @pytest.mark.parametrize("info", [None, RateLimitInfo(scope="user")])
    def test_429_without_retry_after_is_a_cloudflare_ban(self, info: RateLimitInfo | None) -> None:
        """A 429 without info or without retry_after halts sending for ten minutes."""
        effects = response_effects(429, info)
        assert (effects.halt_reason, effects.halt_seconds) == (HALT_CLOUDFLARE_BAN, 600.0)


class TestConfiguration:
    def test_lanes_split_the_safe_global_rate(self) -> None:
        """ANNOUNCE gets global * safety - dm_rate; DM gets dm_rate."""
        assert lane_rates(50.0, 1.0, 0.97) == {
            Lane.ANNOUNCE: pytest.approx(47.5),
            Lane.DM: 1.0,
        }

    @pytest.mark.parametrize(("global_rate", "dm_rate"), [(50.0, 0.0), (1.0, 1.0), (0.0, 0.1)])
    def test_shares_that_leave_a_lane_empty_are_refused(
        self, global_rate: float, dm_rate: float
    ) -> None:
        """A lane with no share (or no budget at all) is a configuration error."""
        with pytest.raises(ValueError, match="must be"):
            lane_rates(global_rate, dm_rate, 0.97)

    def test_fingerprint_is_short_stable_and_hides_the_token(self) -> None:
        """The key is 16 hex characters, the same for the same token, and not the token."""
        assert token_fingerprint("abc.def") == token_fingerprint("abc.def")
        assert token_fingerprint("abc.def") != token_fingerprint("abc.deg")
        assert len(token_fingerprint("abc.def")) == 16
        assert "abc" not in token_fingerprint("abc.def")


class TestGlobalPacing:
    async def test_n_acquires_take_n_over_the_rate(self, pool: Pool) -> None:
        """20 acquires at global_rate 100 (ANNOUNCE 96/s) take at least 19 emission intervals."""
        limiter = make_limiter(pool, global_rate=100.0)
        interval = 1 / (100.0 * 0.97 - 1.0)
        started = time.monotonic()
        for major in range(20):
            await limiter.acquire(Lane.ANNOUNCE, POST, str(major))
        elapsed = time.monotonic() - started
        assert elapsed >= 19 * interval - MAX_CATCH_UP_SECONDS
        assert elapsed < 19 * interval + 0.5

    async def test_limiters_sharing_a_database_share_the_rate(self, pool: Pool) -> None:
        """Three limiters (as in three processes) together still get one budget."""
        limiters = [make_limiter(pool, global_rate=100.0) for _ in range(3)]
        interval = 1 / (100.0 * 0.97 - 1.0)

        async def send(limiter: DiscordLimiter, offset: int) -> None:
            for major in range(10):
                await limiter.acquire(Lane.ANNOUNCE, POST, str(offset + major))

        started = time.monotonic()
        await asyncio.gather(*(send(limiter, 100 * i) for i, limiter in enumerate(limiters)))
        elapsed = time.monotonic() - started
        assert elapsed >= 29 * interval - MAX_CATCH_UP_SECONDS
        assert elapsed < 29 * interval + 0.5

    async def test_waiting_holds_no_database_connection(self, pool: Pool) -> None:
        """While acquire sleeps, every pool connection is back in the pool."""
        in_use: list[int] = []

        async def observing_sleep(seconds: float) -> None:
            stats = pool.get_stats()
            in_use.append(stats["pool_size"] - stats["pool_available"])
            await asyncio.sleep(seconds)

        limiter = make_limiter(pool, global_rate=50.0, sleep=observing_sleep)
        for major in range(4):
            await limiter.acquire(Lane.ANNOUNCE, POST, str(major))
        assert len(in_use) >= 3
        assert set(in_use) == {0}


class TestBatching:
    async def test_a_crowd_gets_the_next_slots_at_once_and_sleeps_until_them(
        self, pool: Pool
    ) -> None:
        """Eight callers of one turn share one round trip: each is granted its own lane slot,
        one emission interval after the previous, and sleeps until it (never earlier)."""
        sleeps: list[float] = []

        async def observing_sleep(seconds: float) -> None:
            sleeps.append(seconds)
            await asyncio.sleep(seconds)

        limiter = make_limiter(pool, global_rate=100.0, sleep=observing_sleep)
        interval = 1 / (100.0 * 0.97 - 1.0)
        catch_up = min(MAX_CATCH_UP_SECONDS, interval / 4)
        await asyncio.gather(
            *(limiter.acquire(Lane.ANNOUNCE, POST, str(major)) for major in range(8))
        )
        assert len(sleeps) == 7
        for k, slept in enumerate(sorted(sleeps), start=1):
            assert slept == pytest.approx(k * interval - catch_up, abs=0.002)

    async def test_a_caller_that_wakes_late_for_its_slot_asks_for_a_new_one(
        self, pool: Pool
    ) -> None:
        """A caller whose sleep overran its slot by more than MAX_LATE_SECONDS (its process was
        busy) does not send late, in the same instant as the slots after it: it gives its
        bucket back and is granted a later slot, which it sleeps until."""
        skew = [0.0]
        sleeps: list[float] = []

        def clock() -> float:
            return time.monotonic() + skew[0]

        async def oversleeping(seconds: float) -> None:
            sleeps.append(seconds)
            await asyncio.sleep(seconds)
            if len(sleeps) == 1:
                skew[0] += MAX_LATE_SECONDS + 0.1  # the first sleep overruns its slot

        missed: list[str] = []
        limiter = make_limiter(
            pool, global_rate=50.0, sleep=oversleeping, clock=clock, on_slot_missed=missed.append
        )
        # Without the missed slot's bucket given back, the new slot would wait for the
        # unknown bucket's reservation to lapse (IN_FLIGHT_TTL_SECONDS) and raise WaitTooLong.
        await asyncio.gather(
            *(
                limiter.acquire(Lane.ANNOUNCE, POST, m, max_wait=IN_FLIGHT_TTL_SECONDS / 2)
                for m in ("a", "b")
            )
        )
        assert len([s for s in sleeps if s > 0.0]) >= 2
        assert missed == ["wake"]

    async def test_a_granted_slot_is_on_time_until_max_late_after_it(self, pool: Pool) -> None:
        """`acquire` returns the slot's instant; `on_time` says whether a request held up
        since may still go: up to MAX_LATE_SECONDS after the slot, not later."""
        now = [1000.0]
        limiter = make_limiter(pool, clock=lambda: now[0])
        slot_at = await limiter.acquire(Lane.ANNOUNCE, POST, "1", max_wait=0)
        assert slot_at <= now[0]
        now[0] = slot_at + MAX_LATE_SECONDS
        assert limiter.on_time(slot_at)
        now[0] = slot_at + MAX_LATE_SECONDS + 0.001
        assert not limiter.on_time(slot_at)

    async def test_a_request_given_back_frees_its_bucket(self, pool: Pool) -> None:
        """A request not sent after all (its slot missed) releases the unknown bucket's single
        reservation, so the next request of that bucket is let through; the miss is counted."""
        missed: list[str] = []
        limiter = make_limiter(pool, on_slot_missed=missed.append)
        await limiter.acquire(Lane.ANNOUNCE, POST, "1")
        limiter.give_back(POST, "1")
        await limiter.acquire(Lane.ANNOUNCE, POST, "1", max_wait=5)
        assert missed == ["before_write"]

    async def test_responses_recorded_together_never_deadlock(self, pool: Pool) -> None:
        """Two processes recording the same buckets in opposite orders, round after round,
        learn them all: every batch locks its bucket rows in key order."""
        limiters = [make_limiter(pool), make_limiter(pool)]
        majors = [str(n) for n in range(12)]
        for round_ in range(15):
            await asyncio.gather(
                *(
                    limiter.record(
                        POST, major, 200, headers(5, 4, 5.0, bucket=f"hash-{round_ % 3}")
                    )
                    for limiter, order in zip(limiters, (majors, majors[::-1]), strict=True)
                    for major in order
                )
            )
        await limiters[0].acquire(Lane.ANNOUNCE, POST, "0", max_wait=0)

    async def test_limiter_functions_never_plan_sequential_scans(self, pool: Pool) -> None:
        """A plan cached while the tables were tiny must not scan them once they are large."""
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT proname, proconfig FROM pg_proc WHERE proname = ANY(%s) ORDER BY proname",
                (
                    [
                        "discord_rl_acquire_many",
                        "discord_rl_record",
                        "discord_rl_record_and_acquire",
                        "discord_rl_record_many",
                    ],
                ),
            )
            rows = await cur.fetchall()
        assert [(name, config) for name, config in rows] == [
            ("discord_rl_acquire_many", ["enable_seqscan=off"]),
            ("discord_rl_record", ["enable_seqscan=off"]),
            ("discord_rl_record_and_acquire", ["enable_seqscan=off"]),
            ("discord_rl_record_many", ["enable_seqscan=off"]),
        ]


class TestLanes:
    async def test_dm_lane_is_paced_at_the_dm_rate(self, pool: Pool) -> None:
        """Four DMs at dm_rate 10 take at least three tenths of a second."""
        limiter = make_limiter(pool, global_rate=100.0, dm_rate=10.0)
        started = time.monotonic()
        for user in range(4):
            await limiter.acquire(Lane.DM, "POST /users/@me/channels", str(user))
        assert time.monotonic() - started >= 0.3 - MAX_CATCH_UP_SECONDS

    async def test_dms_never_take_the_announcement_share(self, pool: Pool) -> None:
        """A DM lane with no slot left does not slow announcements, and vice versa."""
        limiter = make_limiter(pool, global_rate=50.0, dm_rate=0.5)
        await limiter.acquire(Lane.DM, "POST /users/@me/channels", "")
        with pytest.raises(WaitTooLong):
            await limiter.acquire(Lane.DM, "POST /users/@me/channels", "", max_wait=0.5)
        started = time.monotonic()
        for major in range(5):
            await limiter.acquire(Lane.ANNOUNCE, POST, str(major))
        assert time.monotonic() - started < 0.5

    async def test_callers_of_one_lane_queue_in_one_process(self, pool: Pool) -> None:
        """Many concurrent callers in one process are all served, at the lane's pace."""
        limiter = make_limiter(pool, global_rate=100.0)
        interval = 1 / (100.0 * 0.97 - 1.0)
        started = time.monotonic()
        await asyncio.gather(
            *(limiter.acquire(Lane.ANNOUNCE, POST, str(major)) for major in range(25))
        )
        elapsed = time.monotonic() - started
        assert 24 * interval - MAX_CATCH_UP_SECONDS <= elapsed < 24 * interval + 0.5


class TestUnknownBucket:
    async def test_allows_one_request_in_flight(self, pool: Pool) -> None:
        """Until its response is recorded, an unknown bucket lets no second request through."""
        limiter = make_limiter(pool)
        await limiter.acquire(Lane.ANNOUNCE, POST, "1")
        with pytest.raises(WaitTooLong):
            await limiter.acquire(Lane.ANNOUNCE, POST, "1", max_wait=0.2)
        await limiter.acquire(Lane.ANNOUNCE, POST, "2", max_wait=0)  # another channel

    async def test_recording_the_response_releases_it(self, pool: Pool) -> None:
        """A recorded response (even without headers) frees the bucket for the next request."""
        limiter = make_limiter(pool)
        await limiter.acquire(Lane.ANNOUNCE, POST, "1")
        waiter = asyncio.create_task(limiter.acquire(Lane.ANNOUNCE, POST, "1", max_wait=5))
        await limiter.record(POST, "1", 200, None)
        started = time.monotonic()
        await waiter
        assert time.monotonic() - started < 1.0

    async def test_a_response_riding_with_a_round_trip_frees_its_bucket_for_that_round(
        self, pool: Pool
    ) -> None:
        """In one record_and_acquire call the responses go first: the reservation of bucket 1
        is released and the request for bucket 1 in the same call is granted; bucket 2, still
        reserved, is not. Answers come back in the orders given."""
        limiter = make_limiter(pool)
        await limiter.acquire(Lane.ANNOUNCE, POST, "1")
        await limiter.acquire(Lane.ANNOUNCE, POST, "2")
        async with pool.connection() as conn:
            started, outcomes = await _record_and_acquire(
                conn,
                [RecordedResponse(POST, "1", ResponseEffects())],
                [AcquireRequest(POST, "2", 1.0), AcquireRequest(POST, "1", 1.0)],
            )
        assert started == [None]
        assert [outcome.granted for outcome in outcomes] == [False, True]
        assert outcomes[0].waiting_for == "bucket"

    async def test_a_halt_a_riding_response_starts_answers_the_requests_of_its_round(
        self, pool: Pool
    ) -> None:
        """A 401 recorded in the same call as requests halts them at once."""
        async with pool.connection() as conn:
            started, outcomes = await _record_and_acquire(
                conn,
                [
                    RecordedResponse(POST, "9", response_effects(200, None)),
                    RecordedResponse(POST, "1", response_effects(401, None)),
                ],
                [AcquireRequest(POST, "2", 1.0)],
            )
        assert started == [None, HALT_UNAUTHORIZED]
        assert [(o.granted, o.halt_reason) for o in outcomes] == [(False, HALT_UNAUTHORIZED)]

    async def test_a_halt_recorded_while_a_caller_waits_in_the_slot_queue_stops_it(
        self, pool: Pool
    ) -> None:
        """A 401 recorded while a caller waits in the slot queue (its slot out of reach) is
        applied before the caller's next round trip takes slots: the caller is told sending
        is halted."""
        limiter = make_limiter(pool, global_rate=2.0, dm_rate=0.5, safety=1.0)  # 1.5/s
        await limiter.acquire(Lane.ANNOUNCE, POST, "1")
        queued = asyncio.create_task(limiter.acquire(Lane.ANNOUNCE, POST, "3", max_wait=10))
        await asyncio.sleep(0.05)  # it is in the slot queue, its slot out of reach
        recorded = asyncio.create_task(limiter.record(POST, "1", 401, None))
        with pytest.raises(LimiterHalted):
            await queued
        await recorded

    async def test_a_reservation_never_recorded_expires(self, pool: Pool) -> None:
        """A crashed worker's reservation lapses after in_flight_ttl."""
        limiter = make_limiter(pool, in_flight_ttl=0.3)
        await limiter.acquire(Lane.ANNOUNCE, POST, "1")
        started = time.monotonic()
        await limiter.acquire(Lane.ANNOUNCE, POST, "1", max_wait=3)
        assert 0.25 <= time.monotonic() - started < 1.5


class TestLearnedBucket:
    async def test_blocks_at_remaining_zero_until_reset(self, pool: Pool) -> None:
        """With remaining 0 and a reset in the future, the bucket waits for the reset."""
        limiter = make_limiter(pool)
        await limiter.acquire(Lane.ANNOUNCE, POST, "1")
        await limiter.record(POST, "1", 200, headers(limit=2, remaining=1, reset_after=0.4))
        learned_at = time.monotonic()
        await limiter.acquire(Lane.ANNOUNCE, POST, "1", max_wait=0)
        with pytest.raises(WaitTooLong):
            await limiter.acquire(Lane.ANNOUNCE, POST, "1", max_wait=0.1)
        await limiter.acquire(Lane.ANNOUNCE, POST, "1", max_wait=2)
        assert time.monotonic() - learned_at >= 0.35

    async def test_remaining_never_rises_above_what_is_left(self, pool: Pool) -> None:
        """record keeps min(ours, header): a late response cannot reopen a spent bucket."""
        limiter = make_limiter(pool)
        await limiter.acquire(Lane.ANNOUNCE, POST, "1")
        await limiter.record(POST, "1", 200, headers(limit=5, remaining=2, reset_after=5.0))
        await limiter.acquire(Lane.ANNOUNCE, POST, "1", max_wait=0)
        await limiter.acquire(Lane.ANNOUNCE, POST, "1", max_wait=0)
        await limiter.record(POST, "1", 200, headers(limit=5, remaining=4, reset_after=5.0))
        with pytest.raises(WaitTooLong):
            await limiter.acquire(Lane.ANNOUNCE, POST, "1", max_wait=0.5)

    async def test_routes_with_one_bucket_hash_share_it(self, pool: Pool) -> None:
        """Once two routes name the same X-RateLimit-Bucket, they spend one bucket per channel."""
        limiter = make_limiter(pool)
        await limiter.acquire(Lane.ANNOUNCE, POST, "1")
        await limiter.record(POST, "1", 200, headers(5, 1, 5.0, bucket="shared-hash"))
        await limiter.acquire(Lane.ANNOUNCE, PATCH, "1", max_wait=0)  # not known yet: its own
        await limiter.record(PATCH, "1", 200, headers(5, 1, 5.0, bucket="shared-hash"))
        await limiter.acquire(Lane.ANNOUNCE, PATCH, "1", max_wait=0)  # takes the last one
        with pytest.raises(WaitTooLong):
            await limiter.acquire(Lane.ANNOUNCE, POST, "1", max_wait=0.2)
        await limiter.acquire(Lane.ANNOUNCE, POST, "2", max_wait=0)  # other channel: other bucket

    async def test_idle_buckets_are_pruned(self, pool: Pool) -> None:
        """Idle rows that hold nothing back are deleted; a spent bucket is kept until its reset."""
        limiter = make_limiter(pool)
        await limiter.acquire(Lane.ANNOUNCE, POST, "1")
        await limiter.record(POST, "1", 200, headers(limit=5, remaining=0, reset_after=30.0))
        await limiter.acquire(Lane.ANNOUNCE, POST, "2")
        await limiter.record(POST, "2", 200, headers(limit=5, remaining=4, reset_after=0.0))
        async with pool.connection() as conn:
            # Channel 2's bucket and the route-keyed row used before the hash was known.
            assert await prune_idle_buckets(conn, idle_seconds=0) == 2
        with pytest.raises(WaitTooLong):
            await limiter.acquire(Lane.ANNOUNCE, POST, "1", max_wait=1)


class TestRateLimited:
    async def test_user_429_closes_the_bucket(self, pool: Pool) -> None:
        """A user-scope 429 closes that bucket for retry_after and counts as invalid."""
        limiter = make_limiter(pool)
        await limiter.acquire(Lane.ANNOUNCE, POST, "1")
        await limiter.record(POST, "1", 429, too_many(0.4, "user"))
        blocked_at = time.monotonic()
        with pytest.raises(WaitTooLong):
            await limiter.acquire(Lane.ANNOUNCE, POST, "1", max_wait=0.1)
        await limiter.acquire(Lane.ANNOUNCE, POST, "2", max_wait=0)
        await limiter.acquire(Lane.ANNOUNCE, POST, "1", max_wait=2)
        assert time.monotonic() - blocked_at >= 0.35
        assert await invalid_count(pool) == 1

    async def test_shared_429_closes_the_bucket_without_counting(self, pool: Pool) -> None:
        """A shared 429 closes the bucket but does not count toward the ban breaker."""
        limiter = make_limiter(pool)
        await limiter.acquire(Lane.ANNOUNCE, POST, "1")
        await limiter.record(POST, "1", 429, too_many(5.0, "shared"))
        with pytest.raises(WaitTooLong):
            await limiter.acquire(Lane.ANNOUNCE, POST, "1", max_wait=1)
        assert await invalid_count(pool) == 0

    async def test_global_429_pauses_every_lane(self, pool: Pool) -> None:
        """A global 429 stops every bucket and both lanes until retry_after has passed."""
        limiter = make_limiter(pool)
        await limiter.acquire(Lane.ANNOUNCE, POST, "1")
        await limiter.record(POST, "1", 429, too_many(0.4, "global", is_global=True))
        blocked_at = time.monotonic()
        with pytest.raises(WaitTooLong):
            await limiter.acquire(Lane.ANNOUNCE, POST, "2", max_wait=0.1)
        with pytest.raises(WaitTooLong):
            await limiter.acquire(Lane.DM, "POST /users/@me/channels", "", max_wait=0.1)
        await limiter.acquire(Lane.ANNOUNCE, POST, "2", max_wait=2)
        assert time.monotonic() - blocked_at >= 0.35
        assert await invalid_count(pool) == 1

    async def test_wait_too_long_says_when_to_retry(self, pool: Pool) -> None:
        """A wait beyond max_wait raises at once, with retry_at when the slot comes."""
        limiter = make_limiter(pool)
        await limiter.acquire(Lane.ANNOUNCE, POST, "1")
        await limiter.record(POST, "1", 429, too_many(20.0, "user"))
        started = time.monotonic()
        with pytest.raises(WaitTooLong) as raised:
            await limiter.acquire(Lane.ANNOUNCE, POST, "1", max_wait=5)
        assert time.monotonic() - started < 1.0
        expected = datetime.now(UTC) + timedelta(seconds=20)
        assert abs((raised.value.retry_at - expected).total_seconds()) < 2.0

    async def test_callers_queued_in_the_process_respect_max_wait(self, pool: Pool) -> None:
        """A caller queued behind this process's lane poller gives up at max_wait, too."""
        sleeping = asyncio.Event()

        async def signalling_sleep(seconds: float) -> None:
            sleeping.set()
            await asyncio.sleep(seconds)

        limiter = make_limiter(pool, sleep=signalling_sleep)
        await limiter.acquire(Lane.ANNOUNCE, POST, "1")
        await limiter.record(POST, "1", 429, too_many(0.6, "global"))
        first = asyncio.create_task(limiter.acquire(Lane.ANNOUNCE, POST, "2", max_wait=5))
        started = time.monotonic()
        await asyncio.wait_for(sleeping.wait(), timeout=2)
        with pytest.raises(WaitTooLong) as raised:
            await limiter.acquire(Lane.ANNOUNCE, POST, "3", max_wait=0.2)
        assert time.monotonic() - started < 0.55
        assert raised.value.retry_at > datetime.now(UTC)
        await first

    async def test_max_wait_counts_every_sleep(self, pool: Pool) -> None:
        """Polls behind an in-flight request stop once their sleeps would pass max_wait."""
        now = [0.0]

        async def fake_sleep(seconds: float) -> None:
            now[0] += seconds

        limiter = make_limiter(pool, sleep=fake_sleep, clock=lambda: now[0])
        await limiter.acquire(Lane.ANNOUNCE, POST, "1")
        with pytest.raises(WaitTooLong):
            await limiter.acquire(Lane.ANNOUNCE, POST, "1", max_wait=0.5)
        assert 0.4 <= now[0] <= 0.5


class TestHalts:
    async def test_unauthorized_halts_all_sending_until_cleared(self, pool: Pool) -> None:
        """A 401 stops every lane and bucket of the token until clear_halt."""
        limiter = make_limiter(pool)
        await limiter.acquire(Lane.ANNOUNCE, POST, "1")
        await limiter.record(POST, "1", 401, None)
        assert await limiter.halt_reason() == HALT_UNAUTHORIZED
        for lane in Lane:
            with pytest.raises(LimiterHalted) as raised:
                await limiter.acquire(lane, POST, "2")
            assert (raised.value.reason, raised.value.until) == (HALT_UNAUTHORIZED, None)
        await limiter.clear_halt()
        assert await limiter.halt_reason() is None
        await limiter.acquire(Lane.ANNOUNCE, POST, "2", max_wait=0)

    async def test_a_halt_belongs_to_one_token(self, pool: Pool) -> None:
        """Another bot token's limiter keeps sending."""
        await make_limiter(pool).record(POST, "1", 401, None)
        other = make_limiter(pool, token_fingerprint=token_fingerprint("other-token"))
        await other.acquire(Lane.ANNOUNCE, POST, "1", max_wait=0)
        assert await other.halt_reason() is None

    async def test_cloudflare_ban_halts_for_ten_minutes(self, pool: Pool) -> None:
        """A 429 without retry_after halts sending, ending ten minutes later."""
        limiter = make_limiter(pool)
        await limiter.record(POST, "1", 429, None)
        with pytest.raises(LimiterHalted) as raised:
            await limiter.acquire(Lane.ANNOUNCE, POST, "1")
        assert raised.value.reason == HALT_CLOUDFLARE_BAN
        assert raised.value.until is not None
        remaining = (raised.value.until - datetime.now(UTC)).total_seconds()
        assert BAN_HALT_SECONDS - 5 < remaining <= BAN_HALT_SECONDS

    async def test_a_timed_halt_never_shortens_an_open_ended_one(self, pool: Pool) -> None:
        """A Cloudflare ban after a 401 leaves the 401's halt (until cleared) in force."""
        limiter = make_limiter(pool)
        await limiter.record(POST, "1", 401, None)
        await limiter.record(POST, "1", 429, None)
        with pytest.raises(LimiterHalted) as raised:
            await limiter.acquire(Lane.ANNOUNCE, POST, "1")
        assert (raised.value.reason, raised.value.until) == (HALT_UNAUTHORIZED, None)

    async def test_a_timed_halt_ends_by_itself(self, pool: Pool) -> None:
        """Once halted_until has passed, acquire lets requests through again."""
        limiter = make_limiter(pool)
        async with pool.connection() as conn:
            started = await record_responses(
                conn,
                [
                    RecordedResponse(
                        POST,
                        "1",
                        ResponseEffects(halt_reason=HALT_CLOUDFLARE_BAN, halt_seconds=0.3),
                    )
                ],
                token_key=TOKEN,
                lanes=[lane.value for lane in Lane],
                breaker_threshold=100,
                breaker_seconds=600.0,
            )
        assert started == [HALT_CLOUDFLARE_BAN]
        with pytest.raises(LimiterHalted):
            await limiter.acquire(Lane.ANNOUNCE, POST, "1")
        await eventually(limiter.halt_reason, None, within=3)
        await limiter.acquire(Lane.ANNOUNCE, POST, "1", max_wait=0)

    async def test_breaker_trips_at_the_threshold(self, pool: Pool) -> None:
        """403s and non-shared 429s add up; reaching invalid_threshold halts sending."""
        limiter = make_limiter(pool, invalid_threshold=3)
        for _ in range(4):
            await limiter.record(POST, "1", 429, too_many(0.1, "shared"))
        await limiter.record(POST, "1", 403, None)
        await limiter.record(POST, "1", 404, None)
        await limiter.record(POST, "2", 429, too_many(0.1, "user"))
        assert await limiter.halt_reason() is None
        await limiter.record(POST, "3", 403, None)
        assert await limiter.halt_reason() == HALT_BREAKER
        with pytest.raises(LimiterHalted):
            await limiter.acquire(Lane.ANNOUNCE, POST, "4")

    async def test_clearing_starts_the_breaker_afresh(self, pool: Pool) -> None:
        """After clear_halt, the invalid requests that tripped the breaker no longer count."""
        limiter = make_limiter(pool, invalid_threshold=2)
        await limiter.record(POST, "1", 403, None)
        await limiter.record(POST, "1", 403, None)
        assert await limiter.halt_reason() == HALT_BREAKER
        await limiter.clear_halt()
        await limiter.record(POST, "1", 403, None)
        assert await limiter.halt_reason() is None
        assert await invalid_count(pool) == 1
