"""`announce`: deliver a shard's pending announcements to Discord, in go-live order per channel.

For each pending row the Discord port takes a token from the shared rate limiter (no connection
held while waiting), POSTs with a nonce derived from the (guild, stream) key and
`enforce_nonce`, and the row is then marked sent with the message id. A crash after the POST
leaves the row pending; the retry POSTs again with the same nonce and Discord hands back the
message it already created.

This module is the scheduler: which rows go out together, in which order, for how long, and when
the shard's job runs again. What each answer means for its row is `announce_settlement`'s job.

Each channel's rows go out one after the other, in order; up to LANES channels of the shard are
in flight at once, taken in the order `pending_announcements` gives (round-robin between the
shard's streams). Rows of a small fan-out (`URGENT_STREAM_ROWS`) are urgent: their channel is
started at once, beside the lanes, and the limiter serves them before the rows that are not.
While the lanes are busy, a go-live fanned out into the shard meanwhile wakes the job
(`fresh_shards`), which reads the shard's pending rows again: the new rows do not wait for
the backlog ahead of them. Concurrent
requests of the process share their limiter round trips, and their sent marks are written
together (`announce_settlement`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

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
from streammaxing.workers.fresh_shards import fresh_shards
from streammaxing.workers.queueing import schedule_announcement_follow_up

log = structlog.get_logger(__name__)

BATCH = 500
# Channels of one shard in flight at once. Sending is paced by the limiter, so a few per shard
# keep it busy (64 shards); waiting callers queue in the process (`slot_queue`), costing no
# round trip each. A lane also waits for its response to be recorded and its sent mark to be
# written (up to ~0.35 s and 0.5 s), so near the end of a big fan-out, when only a few shards
# have rows left, lanes limit the pace: with 4 a lane, `bench/fanout_limited.py` reached
# 96.0 % of the budget, with 8, 96.9 %.
LANES = 8
# A stream with at most this many pending rows in the shard is a small fan-out: urgent.
URGENT_STREAM_ROWS = 2
MAX_LIMITER_WAIT = 20.0
JOB_BUDGET_SECONDS = 240.0


class ShardDelivery:
    """One `announce` job: the shard's pending rows, channel by channel, within its time budget."""

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
        self._waiting: deque[deque[PendingAnnouncement]] = deque()  # channels without a lane
        self._held: set[str] = set()  # channels waiting or in flight
        # When each channel was last let go, counted in reads begun: a read begun before that
        # may hold rows the channel has sent since.
        self._reads = 0
        self._released_at: dict[str, int] = {}
        self._settled: set[UUID] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._lanes = 0
        self._stopping = False
        self._failure: BaseException | None = None  # the first channel task that raised

    def _may_go_on(self) -> bool:
        return not self.report.halted and self._failure is None and self._clock() < self._deadline

    async def run(self) -> DeliveryReport:
        wake = asyncio.Event()
        async with fresh_shards(self._runtime.pool).watch(self._shard, wake):
            refresher = asyncio.create_task(self._refresh(wake))
            try:
                while self._may_go_on() and await self._read():
                    while self._tasks:
                        await asyncio.wait(set(self._tasks), return_when=asyncio.FIRST_COMPLETED)
            finally:
                self._stopping = True
                wake.set()
                await refresher
                while self._tasks:  # channels the refresher started after the last wait
                    await asyncio.wait(set(self._tasks))
        if self._failure is not None:
            # The job fails and is retried; the rows left are still pending.
            raise self._failure
        await self._schedule_follow_up()
        return self.report

    async def _refresh(self, wake: asyncio.Event) -> None:
        """Read the shard again each time a fresh fan-out into it is seen."""
        while True:
            await wake.wait()
            wake.clear()
            if self._stopping:
                return
            if self._tasks and self._may_go_on():
                await self._read()

    async def _read(self) -> bool:
        """Read the shard's pending rows and start the channels that can go on and are not held
        already; True if any was started."""
        self._reads += 1
        began = self._reads
        async with self._runtime.pool.connection() as conn:
            rows = await pending_announcements(conn, self._shard, BATCH)
        by_channel: dict[str, deque[PendingAnnouncement]] = {}
        for row in rows:
            channel_id = row.channel_id
            if (
                channel_id in self._held
                or self._released_at.get(channel_id, 0) >= began
                or row.id in self._settled
            ):
                continue
            by_channel.setdefault(channel_id, deque()).append(row)
        started = False
        for channel_id, queue in by_channel.items():
            head = queue[0]
            if not (head.due or head.abandoned):
                continue
            started = True
            self._held.add(channel_id)
            if _urgent(head):
                self._start(self._deliver_channel(queue))
            else:
                self._waiting.append(queue)
        while self._waiting and self._lanes < LANES:
            self._lanes += 1
            self._start(self._lane())
        return started

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None and self._failure is None:
            self._failure = task.exception()

    async def _lane(self) -> None:
        try:
            while self._waiting and self._may_go_on():
                await self._deliver_channel(self._waiting.popleft())
        finally:
            self._lanes -= 1

    async def _deliver_channel(self, queue: deque[PendingAnnouncement]) -> None:
        """Deliver a channel's rows in order; stop at the first that must wait."""
        channel_id = queue[0].channel_id
        try:
            while queue and self._may_go_on():
                row = queue[0]
                if row.abandoned:
                    await self._settlement.abandon(row)
                elif not row.due:
                    return
                else:
                    outcome = await self._deliver(row)
                    if outcome is Outcome.HALTED:
                        self.report.halted = True
                    if outcome is not Outcome.DONE:
                        return
                self._settled.add(row.id)
                queue.popleft()
        finally:
            self._held.discard(channel_id)
            self._released_at[channel_id] = self._reads

    async def _deliver(self, row: PendingAnnouncement) -> Outcome:
        answers = await self._runtime.port.announce([_announcement(row)], max_wait=MAX_LIMITER_WAIT)
        (outcome,) = await self._settlement.settle([row], answers)
        return outcome

    async def _schedule_follow_up(self) -> None:
        async with self._runtime.pool.connection() as conn:
            due = await next_announcement_due(conn, self._shard)
        if due is None:
            return
        if self.report.halted:
            due = max(due, datetime.now(UTC) + timedelta(seconds=HALT_RECHECK_SECONDS))
        await schedule_announcement_follow_up(self._runtime.app, self._shard, due)


def _urgent(row: PendingAnnouncement) -> bool:
    return row.stream_rows <= URGENT_STREAM_ROWS


def _announcement(row: PendingAnnouncement) -> Announcement:
    if row.payload is None:
        raise RuntimeError("only rendered rows are sent")
    return Announcement(
        guild_id=row.guild_id,
        channel_id=row.channel_id,
        payload=row.payload,
        nonce=nonce_for("announce", row.guild_id, row.event_id),
        urgent=_urgent(row),
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
