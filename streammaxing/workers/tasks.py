"""Registers the worker tasks on the procrastinate app. Names are explicit: they are the contract
with the ingest (which defers by name) and with jobs already queued."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import procrastinate
import structlog

from streammaxing.queues import Queue, Task
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
    @app.task(name=Task.STREAM_ONLINE, queue=Queue.EVENTS, pass_context=True, retry=RETRY)
    async def stream_online(
        context: procrastinate.JobContext, /, event: dict[str, Any], **_: Any
    ) -> None:
        await run_job(context, Task.STREAM_ONLINE, lambda runtime: fan_out(runtime, event))

    @app.task(name=Task.STREAM_OFFLINE, queue=Queue.EVENTS, pass_context=True, retry=RETRY)
    async def offline(
        context: procrastinate.JobContext, /, event: dict[str, Any], **_: Any
    ) -> None:
        await run_job(context, Task.STREAM_OFFLINE, lambda runtime: stream_offline(runtime, event))

    @app.task(name=Task.CHANNEL_UPDATE, queue=Queue.EVENTS, pass_context=True, retry=RETRY)
    async def update(context: procrastinate.JobContext, /, event: dict[str, Any], **_: Any) -> None:
        await run_job(context, Task.CHANNEL_UPDATE, lambda runtime: channel_update(runtime, event))

    @app.task(name=Task.FINISH_STREAM, queue=Queue.ANNOUNCE, pass_context=True, retry=RETRY)
    async def finish(context: procrastinate.JobContext, /, stream_id: str) -> None:
        await run_job(
            context, Task.FINISH_STREAM, lambda runtime: finish_stream(runtime, stream_id)
        )

    @app.task(name=Task.EDIT_ANNOUNCEMENTS, queue=Queue.ANNOUNCE, pass_context=True, retry=RETRY)
    async def edit(context: procrastinate.JobContext, /, stream_id: str, kind: str) -> None:
        await run_job(
            context,
            Task.EDIT_ANNOUNCEMENTS,
            lambda runtime: edit_announcements(runtime, stream_id, kind),
        )

    @app.task(name=Task.ANNOUNCE, queue=Queue.ANNOUNCE, pass_context=True, retry=RETRY)
    async def announce(context: procrastinate.JobContext, /, shard: int) -> None:
        await run_job(context, Task.ANNOUNCE, lambda runtime: deliver_announcements(runtime, shard))

    @app.task(name=Task.DM, queue=Queue.DM, pass_context=True, retry=RETRY)
    async def dm(context: procrastinate.JobContext, /) -> None:
        await run_job(context, Task.DM, deliver_dms)

    @app.periodic(cron="*/5 * * * *", periodic_id=Task.SWEEP_OUTBOX)
    @app.task(
        name=Task.SWEEP_OUTBOX, queue=Queue.MAINTENANCE, pass_context=True, lock=Task.SWEEP_OUTBOX
    )
    async def sweep(context: procrastinate.JobContext, /, timestamp: int) -> None:
        await run_job(context, Task.SWEEP_OUTBOX, sweep_outbox)
