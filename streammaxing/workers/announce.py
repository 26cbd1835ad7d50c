"""`announce`: deliver a shard's pending announcements to Discord, in go-live order per channel.

For each pending row the Discord port takes a token from the shared rate limiter (no connection
held while waiting), POSTs with a nonce derived from the (guild, stream) key and
`enforce_nonce`, and the row is then marked sent with the message id. A crash after the POST
leaves the row pending; the retry POSTs again with the same nonce and Discord hands back the
message it already created.

This module is the scheduler: which rows go out together, in which order, for how long, and when
the shard's job runs again. What each answer means for its row is `announce_settlement`'s job.

Rows go out in waves: the next row of each of up to WAVE_SIZE channels at once, so the wave's
limiter slots, its responses and its sent marks each cost one round trip for the whole wave.
A channel's next row waits for the wave that holds its previous one.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from streammaxing.discord.port import Announcement
from streammaxing.runtime import Runtime
from streammaxing.schema.outbox import (
    PendingAnnouncement,
    next_announcement_due,
    pending_announcements,
)
from streammaxing.workers.announce_settlement import HALT_RECHECK_SECONDS, AnnouncementSettlement
from streammaxing.workers.delivery import DeliveryReport, Outcome, nonce_for
from streammaxing.workers.queueing import schedule_announcement_follow_up

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


class ShardDelivery:
    """One `announce` job: the shard's pending rows, in waves, within the job's time budget."""

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
        self._settlement = AnnouncementSettlement(runtime, self.report)

    def _may_go_on(self) -> bool:
        return not self.report.halted and self._clock() < self._deadline

    async def run(self) -> DeliveryReport:
        while self._may_go_on():
            async with self._runtime.pool.connection() as conn:
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
                    await self._settlement.abandon(queue.popleft())
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

    async def _deliver_wave(self, rows: list[PendingAnnouncement]) -> list[Outcome]:
        """Send one row of each of several channels; one outcome per row, in order."""
        answers = await self._runtime.port.announce(
            [_announcement(row) for row in rows], max_wait=MAX_LIMITER_WAIT
        )
        return await self._settlement.settle(rows, answers)

    async def _schedule_follow_up(self) -> None:
        async with self._runtime.pool.connection() as conn:
            due = await next_announcement_due(conn, self._shard)
        if due is None:
            return
        if self.report.halted:
            due = max(due, datetime.now(UTC) + timedelta(seconds=HALT_RECHECK_SECONDS))
        await schedule_announcement_follow_up(self._runtime.app, self._shard, due)


def _announcement(row: PendingAnnouncement) -> Announcement:
    if row.payload is None:
        raise RuntimeError("only rendered rows are sent")
    return Announcement(
        guild_id=row.guild_id,
        channel_id=row.channel_id,
        payload=row.payload,
        nonce=nonce_for("announce", row.guild_id, row.event_id),
    )


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
