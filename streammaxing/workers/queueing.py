"""Deferring the delivery jobs (their names, queues and locks are in `streammaxing.queues`).

Announcements are delivered per shard of channels: the jobs of one shard share a procrastinate
`lock`, so one channel's messages are never sent by two workers at once and go out in go-live
order. Follow-ups for rows that must wait (rate limits, backoff) are deferred with a lower
priority, so a scheduled follow-up never holds back a fresh delivery job of the same shard.
DMs have their own queue and one lock: a slow lane that never delays announcements.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import procrastinate
from procrastinate import exceptions as procrastinate_exceptions
from procrastinate.jobs import Job
from psycopg import AsyncConnection

from streammaxing.queues import (
    DM_FOLLOW_UP_LOCK,
    DM_LOCK,
    Queue,
    Task,
    shard_follow_up_lock,
    shard_lock,
    stream_lock,
)

FOLLOW_UP_PRIORITY = -1


def _announce_job(shard: int, *, scheduled_at: datetime | None = None) -> Job:
    follow_up = scheduled_at is not None
    return Job(
        queue=Queue.ANNOUNCE,
        task_name=Task.ANNOUNCE,
        lock=shard_lock(shard),
        queueing_lock=shard_follow_up_lock(shard) if follow_up else None,
        priority=FOLLOW_UP_PRIORITY if follow_up else 0,
        task_kwargs={"shard": shard},
        scheduled_at=scheduled_at,
    )


async def defer_announcement_delivery(
    app: procrastinate.App, conn: AsyncConnection[Any], shards: list[int]
) -> None:
    """Queue a delivery job per shard, in the caller's transaction (one statement)."""
    if shards:
        await app.job_manager.batch_defer_jobs_async(
            [_announce_job(shard) for shard in shards], connection=conn
        )


async def schedule_announcement_follow_up(app: procrastinate.App, shard: int, at: datetime) -> None:
    """Run the shard again at `at`, unless a follow-up is already waiting."""
    try:
        await app.job_manager.defer_job_async(_announce_job(shard, scheduled_at=at))
    except procrastinate_exceptions.AlreadyEnqueued:
        return


def _dm_job(*, scheduled_at: datetime | None = None) -> Job:
    follow_up = scheduled_at is not None
    return Job(
        queue=Queue.DM,
        task_name=Task.DM,
        lock=DM_LOCK,
        queueing_lock=DM_FOLLOW_UP_LOCK if follow_up else None,
        priority=FOLLOW_UP_PRIORITY if follow_up else 0,
        task_kwargs={},
        scheduled_at=scheduled_at,
    )


async def defer_dm_delivery(app: procrastinate.App, conn: AsyncConnection[Any]) -> None:
    await app.job_manager.defer_job_async(_dm_job(), connection=conn)


async def schedule_dm_follow_up(app: procrastinate.App, at: datetime) -> None:
    try:
        await app.job_manager.defer_job_async(_dm_job(scheduled_at=at))
    except procrastinate_exceptions.AlreadyEnqueued:
        return


async def defer_edit(
    app: procrastinate.App, conn: AsyncConnection[Any], stream_id: str, kind: str
) -> None:
    await app.job_manager.defer_job_async(
        Job(
            queue=Queue.ANNOUNCE,
            task_name=Task.EDIT_ANNOUNCEMENTS,
            lock=stream_lock(stream_id),
            queueing_lock=None,
            task_kwargs={"stream_id": stream_id, "kind": kind},
        ),
        connection=conn,
    )


async def defer_finish_stream(
    app: procrastinate.App, conn: AsyncConnection[Any], stream_id: str, at: datetime
) -> None:
    await app.job_manager.defer_job_async(
        Job(
            queue=Queue.ANNOUNCE,
            task_name=Task.FINISH_STREAM,
            # Lower priority: a scheduled ending never holds back this stream's other edits.
            lock=stream_lock(stream_id),
            queueing_lock=None,
            priority=FOLLOW_UP_PRIORITY,
            task_kwargs={"stream_id": stream_id},
            scheduled_at=at,
        ),
        connection=conn,
    )
