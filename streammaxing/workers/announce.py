"""`announce`: deliver a shard's pending announcements to Discord, in go-live order per channel.

For each pending row: take a token from the shared rate limiter (no connection held while
waiting), POST with a nonce derived from the (guild, stream) key and `enforce_nonce`, then mark
the row sent with the message id. A crash after the POST leaves the row pending; the retry
POSTs again with the same nonce and Discord hands back the message it already created.

Rows go out in waves: the next row of each of up to WAVE_SIZE channels at once, so the wave's
limiter slots, its responses and its sent marks each cost one round trip for the whole wave.
A channel's next row waits for the wave that holds its previous one.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

import structlog

from streammaxing.discord.client import SentMessage, create_message_route
from streammaxing.discord.errors import DiscordError, RateLimited
from streammaxing.discord.limiter import Lane, LimiterHalted, WaitTooLong
from streammaxing.discord.ratelimit_headers import RateLimitInfo
from streammaxing.runtime import Runtime
from streammaxing.schema.outbox import (
    PendingAnnouncement,
    SentMark,
    disable_guild_delivery,
    mark_announcement_failed,
    mark_announcement_retry,
    mark_announcement_sent,
    mark_announcements_sent,
    next_announcement_due,
    pending_announcements,
)
from streammaxing.workers.queueing import schedule_announcement_follow_up
from streammaxing.workers.retry import Action, decide, status_of

log = structlog.get_logger(__name__)

BATCH = 500
# Channels of one shard delivered together, one row each per wave. Each wave takes its limiter
# slots in one round trip, sends its requests (each at its own slot), records their responses
# in one round trip and marks the sent rows in one more: three round trips for up to 8
# messages instead of three per message (bench/fanout.py). Sending is paced by the limiter, so
# a few rows per shard keep it busy; more only wait inside `acquire` (64 channels per shard at
# once sent ~230 of 2,000 rows through WaitTooLong and a reschedule in
# bench/fanout_limited.py, 4 workers sharing 50 req/s; 8 send none).
WAVE_SIZE = 8
MAX_LIMITER_WAIT = 20.0
JOB_BUDGET_SECONDS = 240.0
HALT_RECHECK_SECONDS = 60.0


def nonce_for(kind: str, target: str, event_id: str) -> str:
    """A deterministic Discord nonce (25 chars) for one logical message; same across retries."""
    digest = hashlib.sha256(f"{kind}:{target}:{event_id}".encode()).digest()
    return base64.b32encode(digest).decode("ascii").rstrip("=")[:25].lower()


class Outcome(Enum):
    DONE = "done"  # sent, delivered or failed for good: the channel may go on
    WAITING = "waiting"  # must wait (rate limit, backoff): the channel stops here, in order
    HALTED = "halted"  # sending is stopped for everyone


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    waiting: int = 0
    halted: bool = False
    outcomes: dict[str, int] = field(default_factory=dict)


@dataclass
class _Attempt:
    """One row of a wave: what became of its request."""

    row: PendingAnnouncement
    route_key: str
    outcome: Outcome | None = None  # decided before anything was sent (limiter refused)
    sent: SentMessage | None = None
    error: DiscordError | None = None

    def response(self) -> tuple[int, RateLimitInfo | None] | None:
        """(status, rate-limit info) of the request's answer, None if nothing was sent."""
        if self.sent is not None:
            return 200, self.sent.rate_limit
        if self.error is not None:
            return status_of(self.error), self.error.rate_limit
        return None


class ShardDelivery:
    def __init__(
        self,
        runtime: Runtime,
        shard: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        budget_seconds: float = JOB_BUDGET_SECONDS,
    ) -> None:
        self._runtime = runtime
        self._shard = shard
        self._clock = clock
        self._deadline = clock() + budget_seconds
        self.report = DeliveryReport()

    def _may_go_on(self) -> bool:
        return not self.report.halted and self._clock() < self._deadline

    async def run(self) -> DeliveryReport:
        runtime = self._runtime
        while self._may_go_on():
            async with runtime.pool.connection() as conn:
                rows = await pending_announcements(conn, self._shard, BATCH)
            if not rows:
                break
            by_channel: dict[str, deque[PendingAnnouncement]] = {}
            for row in rows:
                by_channel.setdefault(row.channel_id, deque()).append(row)
            if not await self._deliver_channels(list(by_channel.values())):
                break
        await self._schedule_follow_up()
        return self.report

    async def _deliver_channels(self, channels: list[deque[PendingAnnouncement]]) -> bool:
        """Deliver each channel's rows in order, in waves of one row from each of up to
        WAVE_SIZE channels; a channel stops at its first row that must wait. True if any row
        was settled."""
        progressed = False
        waiting = deque(channels)
        while waiting and self._may_go_on():
            wave: list[deque[PendingAnnouncement]] = []
            while waiting and len(wave) < WAVE_SIZE:
                queue = waiting.popleft()
                while queue and queue[0].abandoned:
                    await self._abandon(queue.popleft())
                    progressed = True
                if queue and queue[0].due:
                    wave.append(queue)
            if not wave:
                break
            outcomes = await self._deliver_wave([queue[0] for queue in wave])
            for queue, outcome in zip(wave, outcomes, strict=True):
                if outcome is Outcome.HALTED:
                    self.report.halted = True
                if outcome is Outcome.DONE:
                    progressed = True
                    queue.popleft()
                    if queue:
                        waiting.append(queue)
        return progressed

    async def _abandon(self, row: PendingAnnouncement) -> None:
        async with self._runtime.pool.connection() as conn:
            await mark_announcement_failed(conn, row.id, "never rendered: its fan-out gave up")
        self.report.failed += 1
        log.error("announcement_abandoned", guild_id=row.guild_id, event_id=row.event_id)

    async def _deliver_wave(self, rows: list[PendingAnnouncement]) -> list[Outcome]:
        """Send one row of each of several channels; one outcome per row, in order."""
        runtime = self._runtime
        if runtime.dry_run:
            return await self._dry_run(rows)
        limiter = runtime.limiter
        if runtime.discord is None or limiter is None:
            raise RuntimeError("delivery needs a Discord client and a limiter outside dry-run")
        # Every acquire (and below, every record) is issued in the same event-loop turn, so
        # the limiter serves the wave in one round trip each.
        attempts = await asyncio.gather(*(self._send(row) for row in rows))
        answered = [(attempt, attempt.response()) for attempt in attempts]
        await asyncio.gather(
            *(
                limiter.record(attempt.route_key, attempt.row.channel_id, *response)
                for attempt, response in answered
                if response is not None
            )
        )
        marks = [
            SentMark(attempt.row.id, attempt.sent.channel_id, attempt.sent.id)
            for attempt in attempts
            if attempt.sent is not None
        ]
        if marks:
            async with runtime.pool.connection() as conn:
                await mark_announcements_sent(conn, marks)
        outcomes: list[Outcome] = []
        for attempt in attempts:
            if attempt.outcome is not None:
                outcomes.append(attempt.outcome)
            elif attempt.error is not None:
                outcomes.append(await self._failed(attempt.row, attempt.error))
            elif attempt.sent is not None:
                self._sent(attempt.row, attempt.sent.id)
                outcomes.append(Outcome.DONE)
        return outcomes

    async def _send(self, row: PendingAnnouncement) -> _Attempt:
        """Take a limiter slot for the row and POST it (at once, so it goes out at its slot)."""
        discord, limiter = self._runtime.discord, self._runtime.limiter
        if row.payload is None or discord is None or limiter is None:
            raise RuntimeError("only rendered rows are sent, by a runtime that can send")
        route = create_message_route(row.channel_id)
        attempt = _Attempt(row, route.key)
        try:
            await limiter.acquire(
                Lane.ANNOUNCE, route.key, row.channel_id, max_wait=MAX_LIMITER_WAIT
            )
        except WaitTooLong as wait:
            delay = max(0.0, (wait.retry_at - datetime.now(UTC)).total_seconds())
            await self._retry(row, delay, "waiting for the rate limit", counts=False)
            attempt.outcome = Outcome.WAITING
            return attempt
        except LimiterHalted as halted:
            log.warning("delivery_halted", reason=halted.reason)
            attempt.outcome = Outcome.HALTED
            return attempt
        nonce = nonce_for("announce", row.guild_id, row.event_id)
        try:
            attempt.sent = await discord.create_message(row.channel_id, row.payload, nonce=nonce)
        except DiscordError as error:
            attempt.error = error
        return attempt

    async def _dry_run(self, rows: list[PendingAnnouncement]) -> list[Outcome]:
        for row in rows:
            payload = row.payload or {}
            embeds: list[dict[str, Any]] = payload.get("embeds") or []
            log.warning(
                "announcement_dry_run",
                guild_id=row.guild_id,
                channel_id=row.channel_id,
                content=payload.get("content"),
                embed_title=embeds[0].get("title") if embeds else None,
                allowed_mentions=payload.get("allowed_mentions"),
            )
        marks = [SentMark(row.id, row.channel_id, None, dry_run=True) for row in rows]
        async with self._runtime.pool.connection() as conn:
            await mark_announcements_sent(conn, marks)
        for row in rows:
            self._sent(row, None)
        return [Outcome.DONE] * len(rows)

    def _sent(self, row: PendingAnnouncement, message_id: str | None) -> None:
        self.report.sent += 1
        metrics = self._runtime.metrics
        metrics.discord_requests.labels("create_message", "200").inc()
        if row.stream_started_at is not None:
            latency = (datetime.now(UTC) - row.stream_started_at).total_seconds()
            metrics.send_latency.observe(max(0.0, latency))
        log.info(
            "announcement_sent",
            guild_id=row.guild_id,
            channel_id=row.channel_id,
            event_id=row.event_id,
            message_id=message_id,
        )

    async def _failed(self, row: PendingAnnouncement, error: DiscordError) -> Outcome:
        decision = decide(error, attempts=row.attempts)
        if isinstance(error, RateLimited):
            self._runtime.metrics.discord_rate_limited.labels(error.scope or "unknown").inc()
        self._runtime.metrics.discord_requests.labels("create_message", str(status_of(error))).inc()
        if decision.action is Action.RETRY:
            await self._retry(row, decision.delay, decision.reason, decision.counts_as_attempt)
            return Outcome.WAITING
        if decision.action is Action.HALT:
            await self._retry(row, HALT_RECHECK_SECONDS, decision.reason, counts=False)
            log.error("delivery_halted", reason=decision.reason, guild_id=row.guild_id)
            return Outcome.HALTED
        async with self._runtime.pool.connection() as conn, conn.transaction():
            if decision.action is Action.DELIVERED:
                await mark_announcement_sent(
                    conn, row.id, channel_id=row.channel_id, message_id=None
                )
            elif decision.action is Action.DISABLE_TARGET:
                await mark_announcement_failed(conn, row.id, decision.reason)
                await disable_guild_delivery(conn, row.guild_id, decision.reason)
            else:
                await mark_announcement_failed(conn, row.id, decision.reason)
        if decision.action is not Action.DELIVERED:
            self.report.failed += 1
            log.warning(
                "announcement_failed",
                guild_id=row.guild_id,
                channel_id=row.channel_id,
                event_id=row.event_id,
                action=decision.action.value,
                reason=decision.reason,
            )
        return Outcome.DONE

    async def _retry(
        self, row: PendingAnnouncement, delay: float, reason: str, counts: bool
    ) -> None:
        self.report.waiting += 1
        async with self._runtime.pool.connection() as conn:
            await mark_announcement_retry(conn, row.id, delay=delay, reason=reason, counts=counts)

    async def _schedule_follow_up(self) -> None:
        async with self._runtime.pool.connection() as conn:
            due = await next_announcement_due(conn, self._shard)
        if due is None:
            return
        if self.report.halted:
            due = max(due, datetime.now(UTC) + timedelta(seconds=HALT_RECHECK_SECONDS))
        await schedule_announcement_follow_up(self._runtime.app, self._shard, due)


DeliverFunction = Callable[[Runtime, int], Awaitable[DeliveryReport]]


async def deliver_announcements(runtime: Runtime, shard: int) -> DeliveryReport:
    report = await ShardDelivery(runtime, shard).run()
    log.info(
        "announce_shard_done",
        shard=shard,
        sent=report.sent,
        failed=report.failed,
        waiting=report.waiting,
        halted=report.halted,
    )
    return report
