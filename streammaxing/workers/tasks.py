"""Registers the worker tasks on the procrastinate app. Names are explicit: they are the contract
with the ingest (which defers by name) and with jobs already queued."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import procrastinate
import structlog

from streammaxing.runtime import Runtime, runtime_from
from streammaxing.workers.announce import deliver_announcements
from streammaxing.workers.dm import deliver_dms
from streammaxing.workers.fanout import fan_out
from streammaxing.workers.lifecycle import (
    channel_update,
    edit_announcements,
    finish_stream,
    stream_offline,
)
from streammaxing.workers.queueing import (
    ANNOUNCE_QUEUE,
    ANNOUNCE_TASK,
    DM_QUEUE,
    DM_TASK,
    EDIT_TASK,
    EVENTS_QUEUE,
    FINISH_STREAM_TASK,
    STREAM_ONLINE_TASK,
)
from streammaxing.workers.sweep import sweep_outbox

log = structlog.get_logger(__name__)

# A job that runs longer than this is cancelled and retried (delivery jobs stop themselves
# well before: their budget is 240 s).
JOB_TIME_LIMIT_SECONDS = 300.0
# Unexpected errors (database gone, bugs) retry with exponential backoff: 2, 4, 8 … ~17 min.
RETRY = procrastinate.RetryStrategy(max_attempts=10, exponential_wait=2)

T = TypeVar("T")


async def run_job(
    context: procrastinate.JobContext,
    task: str,
    body: Callable[[Runtime], Awaitable[T]],
) -> T:
    """Bind log context, enforce the time limit, count the outcome."""
    runtime = runtime_from(context)
    job = context.job
    structlog.contextvars.bind_contextvars(job_id=job.id, task=task, attempt=job.attempts)
    try:
        async with asyncio.timeout(JOB_TIME_LIMIT_SECONDS):
            result = await body(runtime)
    except Exception:
        runtime.metrics.jobs.labels(task, "failed").inc()
        log.exception("job_failed")
        raise
    else:
        runtime.metrics.jobs.labels(task, "succeeded").inc()
        return result
    finally:
        structlog.contextvars.clear_contextvars()


def register_worker_tasks(app: procrastinate.App) -> None:
    @app.task(name=STREAM_ONLINE_TASK, queue=EVENTS_QUEUE, pass_context=True, retry=RETRY)
    async def stream_online(
        context: procrastinate.JobContext, /, event: dict[str, Any], **_: Any
    ) -> None:
        await run_job(context, STREAM_ONLINE_TASK, lambda runtime: fan_out(runtime, event))

    @app.task(name="stream_offline", queue=EVENTS_QUEUE, pass_context=True, retry=RETRY)
    async def offline(
        context: procrastinate.JobContext, /, event: dict[str, Any], **_: Any
    ) -> None:
        await run_job(context, "stream_offline", lambda runtime: stream_offline(runtime, event))

    @app.task(name="channel_update", queue=EVENTS_QUEUE, pass_context=True, retry=RETRY)
    async def update(context: procrastinate.JobContext, /, event: dict[str, Any], **_: Any) -> None:
        await run_job(context, "channel_update", lambda runtime: channel_update(runtime, event))

    @app.task(name=FINISH_STREAM_TASK, queue=ANNOUNCE_QUEUE, pass_context=True, retry=RETRY)
    async def finish(context: procrastinate.JobContext, /, stream_id: str) -> None:
        await run_job(
            context, FINISH_STREAM_TASK, lambda runtime: finish_stream(runtime, stream_id)
        )

    @app.task(name=EDIT_TASK, queue=ANNOUNCE_QUEUE, pass_context=True, retry=RETRY)
    async def edit(context: procrastinate.JobContext, /, stream_id: str, kind: str) -> None:
        await run_job(
            context, EDIT_TASK, lambda runtime: edit_announcements(runtime, stream_id, kind)
        )

    @app.task(name=ANNOUNCE_TASK, queue=ANNOUNCE_QUEUE, pass_context=True, retry=RETRY)
    async def announce(context: procrastinate.JobContext, /, shard: int) -> None:
        await run_job(context, ANNOUNCE_TASK, lambda runtime: deliver_announcements(runtime, shard))

    @app.task(name=DM_TASK, queue=DM_QUEUE, pass_context=True, retry=RETRY)
    async def dm(context: procrastinate.JobContext, /) -> None:
        await run_job(context, DM_TASK, deliver_dms)

    @app.periodic(cron="*/5 * * * *", periodic_id="sweep_outbox")
    @app.task(name="sweep_outbox", queue="maintenance", pass_context=True, lock="sweep_outbox")
    async def sweep(context: procrastinate.JobContext, /, timestamp: int) -> None:
        await run_job(context, "sweep_outbox", sweep_outbox)
