"""What the answer to one announcement means for its outbox row.

Accepted → the row is sent (dry-run when no message came back); MustWait → it waits for the
rate limit, not counted as an attempt; Halted → it stays pending and sending stops; Refused →
the retry policy decides: retry later, halt, delivered after all, fail, or fail and stop
announcing to the guild. Each row's result is counted in the job's report, the metrics and the
log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any
from weakref import WeakKeyDictionary

import structlog
from psycopg_pool import AsyncConnectionPool

from streammaxing.batching import MicroBatcher
from streammaxing.discord.client import SentMessage
from streammaxing.discord.errors import DiscordError, RateLimited, status_of
from streammaxing.discord.port import Accepted, Answer, Halted, MustWait, Refused
from streammaxing.runtime import Runtime
from streammaxing.schema.outbox import (
    PendingAnnouncement,
    SentMark,
    disable_guild_delivery,
    mark_announcement_failed,
    mark_announcement_retry,
    mark_announcement_sent,
    mark_announcements_sent,
)
from streammaxing.workers.delivery import DeliveryReport, Outcome
from streammaxing.workers.retry import Action, decide

log = structlog.get_logger(__name__)

# A halted row is looked at again after this long (the halt itself lasts minutes, or until an
# operator clears it).
HALT_RECHECK_SECONDS = 60.0


class AnnouncementSettlement:
    """Settles the rows of one delivery job and counts them in `report`."""

    def __init__(self, runtime: Runtime, report: DeliveryReport) -> None:
        self._runtime = runtime
        self._report = report

    async def settle(
        self, rows: Sequence[PendingAnnouncement], answers: Sequence[Answer]
    ) -> list[Outcome]:
        """Record each row's answer; one outcome per row, in order.

        The accepted rows are marked sent together with those the process's other deliveries
        settle at the same time: one statement for all of them.
        """
        marks = [
            _sent_mark(row, answer.message)
            for row, answer in zip(rows, answers, strict=True)
            if isinstance(answer, Accepted)
        ]
        if marks:
            marker = _sent_markers.get(self._runtime.pool)
            if marker is None:
                marker = MicroBatcher(
                    partial(_mark_sent, self._runtime.pool), linger=MARK_LINGER_SECONDS
                )
                _sent_markers[self._runtime.pool] = marker
            await asyncio.gather(*(marker.submit(mark) for mark in marks))
        return [await self._settle(row, answer) for row, answer in zip(rows, answers, strict=True)]

    async def abandon(self, row: PendingAnnouncement) -> None:
        """Fail a row whose fan-out never rendered it, so its channel can go on."""
        async with self._runtime.pool.connection() as conn:
            await mark_announcement_failed(conn, row.id, "never rendered: its fan-out gave up")
        self._report.failed += 1
        log.error("announcement_abandoned", guild_id=row.guild_id, event_id=row.event_id)

    async def _settle(self, row: PendingAnnouncement, answer: Answer) -> Outcome:
        match answer:
            case Accepted(message=message):
                self._sent(row, message.id if message is not None else None)
                return Outcome.DONE
            case MustWait(error=wait):
                delay = max(0.0, (wait.retry_at - datetime.now(UTC)).total_seconds())
                await self._retry(row, delay, "waiting for the rate limit", counts=False)
                return Outcome.WAITING
            case Halted(error=halted):
                log.warning("delivery_halted", reason=halted.reason)
                return Outcome.HALTED
            case Refused(error=error):
                return await self._failed(row, error)

    def _sent(self, row: PendingAnnouncement, message_id: str | None) -> None:
        self._report.sent += 1
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
        metrics = self._runtime.metrics
        if isinstance(error, RateLimited):
            metrics.discord_rate_limited.labels(error.scope or "unknown").inc()
        metrics.discord_requests.labels("create_message", str(status_of(error))).inc()
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
            self._report.failed += 1
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
        self._report.waiting += 1
        async with self._runtime.pool.connection() as conn:
            await mark_announcement_retry(conn, row.id, delay=delay, reason=reason, counts=counts)


# Sent marks are written at most this often per process, so those of deliveries answered a
# little apart share a statement (`MicroBatcher`'s linger): at 47.5 sends/s over 4 processes,
# about 6 marks a statement. A row's mark waits at most this long after its send; the
# channel's next row waits for it, other channels do not.
MARK_LINGER_SECONDS = 0.5
# One batcher of sent marks per pool (so per process, and per test's pool).
_sent_markers: WeakKeyDictionary[AsyncConnectionPool[Any], MicroBatcher[SentMark, bool]] = (
    WeakKeyDictionary()
)


async def _mark_sent(pool: AsyncConnectionPool[Any], marks: list[SentMark]) -> list[bool]:
    async with pool.connection() as conn:
        changed = await mark_announcements_sent(conn, marks)
    return [mark.log_id in changed for mark in marks]


def _sent_mark(row: PendingAnnouncement, message: SentMessage | None) -> SentMark:
    """The row's sent mark; no message means nothing was sent (dry run)."""
    if message is None:
        return SentMark(row.id, row.channel_id, None, dry_run=True)
    return SentMark(row.id, message.channel_id, message.id)
