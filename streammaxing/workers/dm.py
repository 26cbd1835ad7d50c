"""`dm`: deliver pending personal DMs on their own slow lane (own queue, one lock, own rate share).

Only members who subscribed get one; each (user, stream) is claimed once across guilds.
The DM channel is opened once and cached in `users.dm_channel_id`. Discord's "opening DMs too
fast" postpones the lane by minutes; a user Discord refuses (DMs closed, no mutual guild) is not
attempted again.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import partial

import structlog

from streammaxing.discord.client import SentMessage
from streammaxing.discord.errors import DiscordError
from streammaxing.discord.port import Accepted, DirectMessage, Halted, MustWait, Refused
from streammaxing.runtime import Runtime
from streammaxing.schema.outbox import (
    PendingDm,
    cache_dm_channel,
    disable_user_dms,
    expire_stale_dms,
    mark_dm_done,
    mark_dm_retry,
    next_dm_due,
    pending_dms,
)
from streammaxing.workers.delivery import DeliveryReport, Outcome, nonce_for
from streammaxing.workers.queueing import schedule_dm_follow_up
from streammaxing.workers.retry import Action, decide

log = structlog.get_logger(__name__)

BATCH = 50
#: A DM still unsent this long after its go-live is dropped (status 'failed', reason 'stale',
#: counted in `dms_dropped_stale`): a "now live" DM is news only while the stream is young, and
#: at the DM lane's pace (0.5/s) one stream with 358,000 subscribers would otherwise take 8 days
#: and hold back every later stream's DMs. About 900 DMs go out per 30 minutes of lane.
DM_MAX_AGE_SECONDS = 30 * 60
EXPIRE_BATCH = 5000
MAX_LIMITER_WAIT = 30.0
JOB_BUDGET_SECONDS = 240.0


class DmDelivery:
    def __init__(self, runtime: Runtime, *, budget_seconds: float = JOB_BUDGET_SECONDS) -> None:
        self._runtime = runtime
        self._deadline = time.monotonic() + budget_seconds
        self.report = DeliveryReport()

    async def run(self) -> DeliveryReport:
        await self._drop_stale()
        stop = False
        while not stop and time.monotonic() < self._deadline:
            async with self._runtime.pool.connection() as conn:
                rows = await pending_dms(conn, BATCH)
            if not rows:
                break
            for row in rows:
                outcome = await self._deliver(row)
                if outcome is Outcome.HALTED:
                    self.report.halted = True
                if outcome is not Outcome.DONE:
                    stop = True
                    break
        async with self._runtime.pool.connection() as conn:
            due = await next_dm_due(conn)
        if due is not None:
            await schedule_dm_follow_up(self._runtime.app, due)
        return self.report

    async def _drop_stale(self) -> None:
        dropped = 0
        async with self._runtime.pool.connection() as conn:
            while True:
                expired = await expire_stale_dms(
                    conn, max_age_seconds=DM_MAX_AGE_SECONDS, batch=EXPIRE_BATCH
                )
                dropped += expired
                if expired < EXPIRE_BATCH:
                    break
        if dropped:
            self._runtime.metrics.dms_dropped_stale.inc(dropped)
            log.warning("dms_dropped_stale", dropped=dropped, max_age_seconds=DM_MAX_AGE_SECONDS)

    async def _deliver(self, row: PendingDm) -> Outcome:
        dm = DirectMessage(
            user_id=row.user_id,
            event_id=row.event_id,
            channel_id=row.dm_channel_id,
            payload=row.payload,
            nonce=nonce_for("dm", row.user_id, row.event_id),
        )
        answer = await self._runtime.port.send_dm(
            dm, max_wait=MAX_LIMITER_WAIT, channel_opened=partial(self._cache_channel, row.user_id)
        )
        match answer:
            case Accepted(message=message):
                await self._sent(row, message)
                return Outcome.DONE
            case MustWait(error=wait):
                delay = max(0.0, (wait.retry_at - datetime.now(UTC)).total_seconds())
                async with self._runtime.pool.connection() as conn:
                    await mark_dm_retry(
                        conn, row.id, delay=delay, reason="rate limited", counts=False
                    )
                return Outcome.WAITING
            case Halted(error=halted):
                log.warning("dm_delivery_halted", reason=halted.reason)
                return Outcome.HALTED
            case Refused(error=error):
                return await self._failed(row, error)

    async def _cache_channel(self, user_id: str, channel_id: str) -> None:
        async with self._runtime.pool.connection() as conn:
            await cache_dm_channel(conn, user_id, channel_id)

    async def _sent(self, row: PendingDm, message: SentMessage | None) -> None:
        """Mark the DM sent; no message means nothing was sent (dry run)."""
        async with self._runtime.pool.connection() as conn:
            if message is None:
                await mark_dm_done(conn, row.id, status="dry_run", channel_id=None, message_id=None)
            else:
                await mark_dm_done(
                    conn,
                    row.id,
                    status="sent",
                    channel_id=message.channel_id,
                    message_id=message.id,
                )
        self.report.sent += 1
        message_id = message.id if message is not None else None
        log.info("dm_sent", user_id=row.user_id, event_id=row.event_id, message_id=message_id)

    async def _failed(self, row: PendingDm, error: DiscordError) -> Outcome:
        decision = decide(error, attempts=row.attempts, is_dm=True)
        async with self._runtime.pool.connection() as conn, conn.transaction():
            if decision.action is Action.RETRY or decision.action is Action.HALT:
                await mark_dm_retry(
                    conn,
                    row.id,
                    delay=max(decision.delay, 60.0 if decision.action is Action.HALT else 0.0),
                    reason=decision.reason,
                    counts=decision.counts_as_attempt,
                )
            elif decision.action is Action.DELIVERED:
                await mark_dm_done(
                    conn, row.id, status="sent", channel_id=row.dm_channel_id, message_id=None
                )
            else:
                await mark_dm_done(
                    conn,
                    row.id,
                    status="failed",
                    channel_id=row.dm_channel_id,
                    message_id=None,
                    failure_reason=decision.reason,
                )
                if decision.action is Action.DISABLE_TARGET:
                    await disable_user_dms(conn, row.user_id, decision.reason)
        if decision.action is Action.HALT:
            return Outcome.HALTED
        if decision.action is Action.RETRY:
            return Outcome.WAITING
        if decision.action is not Action.DELIVERED:
            self.report.failed += 1
            log.warning(
                "dm_failed",
                user_id=row.user_id,
                action=decision.action.value,
                reason=decision.reason,
            )
        return Outcome.DONE


async def deliver_dms(runtime: Runtime) -> DeliveryReport:
    report = await DmDelivery(runtime).run()
    log.info("dm_lane_done", sent=report.sent, failed=report.failed, halted=report.halted)
    return report
