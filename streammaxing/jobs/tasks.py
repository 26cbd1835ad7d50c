"""Registers the jobs on the procrastinate app: periodic ones (cron) and the two deferred ones.

Names are explicit — they are the contract with `run-job`, with the ingest and the admin API
(which defer `subscription_revoked` and `subscribe_streamer` by name) and with queued jobs.
Each task only unpacks its arguments, binds log context and calls a core function; a core
result with `retry_later` set (some Twitch calls failed for now) makes the task raise
`IncompleteRunError`, so procrastinate retries it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

import procrastinate
import structlog

from streammaxing.jobs.catch_up import catch_up_live
from streammaxing.jobs.cleanup import cleanup_orphans
from streammaxing.jobs.reconcile import reconcile_subscriptions
from streammaxing.jobs.retention import prune
from streammaxing.jobs.revocation import subscription_revoked
from streammaxing.jobs.stalled import retry_stalled_jobs
from streammaxing.jobs.subscribe import subscribe_streamer
from streammaxing.queues import Queue, Task
from streammaxing.runtime import Runtime, runtime_from

log = structlog.get_logger(__name__)


JobFunction = Callable[[Runtime], Awaitable[Any]]

# name → (cron schedule, core function). `run-job NAME` runs the core function directly.
PERIODIC_JOBS: dict[str, tuple[str, JobFunction]] = {
    "retry_stalled_jobs": ("* * * * *", retry_stalled_jobs),
    "catch_up_live": ("*/5 * * * *", catch_up_live),
    "reconcile_subscriptions": ("*/10 * * * *", reconcile_subscriptions),
    "cleanup_orphans": ("41 * * * *", cleanup_orphans),
    "prune": ("17 3 * * *", prune),
}

# A periodic run that failed (or did only part of its work) is tried again a minute later;
# the next scheduled run follows anyway.
PERIODIC_RETRY = procrastinate.RetryStrategy(max_attempts=2, wait=60)
# subscribe_streamer: 4, 8, 16 … 256 s — a new streamer should not wait for the reconcile.
SUBSCRIBE_RETRY = procrastinate.RetryStrategy(max_attempts=8, exponential_wait=2)
# subscription_revoked only touches the database: retry while it is away.
REVOKED_RETRY = procrastinate.RetryStrategy(max_attempts=10, exponential_wait=2)


@runtime_checkable
class MayBeIncomplete(Protocol):
    @property
    def retry_later(self) -> bool: ...


class IncompleteRunError(Exception):
    """A job did what it could, but some of it failed for now: run it again later."""

    def __init__(self, task: str, result: object) -> None:
        super().__init__(f"{task} left work undone: {result!r}")
        self.result = result


async def _run(
    context: procrastinate.JobContext,
    task: str,
    body: Callable[[Runtime], Awaitable[Any]],
    **log_fields: object,
) -> None:
    runtime = runtime_from(context)
    structlog.contextvars.bind_contextvars(job_id=context.job.id, task=task, **log_fields)
    try:
        result = await body(runtime)
        if isinstance(result, MayBeIncomplete) and result.retry_later:
            log.warning("job_incomplete", result=repr(result))
            raise IncompleteRunError(task, result)
    except IncompleteRunError:
        runtime.metrics.jobs.labels(task, "incomplete").inc()
        raise
    except Exception:
        runtime.metrics.jobs.labels(task, "failed").inc()
        log.exception("job_failed")
        raise
    else:
        runtime.metrics.jobs.labels(task, "succeeded").inc()
    finally:
        structlog.contextvars.unbind_contextvars("job_id", "task", *log_fields)


def register_job_tasks(app: procrastinate.App, *, schedule: bool = True) -> None:
    """Every job of this package: the periodic ones and the two deferred by name.

    `schedule=False` registers the periodic jobs as plain tasks, without their cron schedule
    (for a worker that must not defer them by itself, e.g. in tests).
    """
    register_periodic_jobs(app, PERIODIC_JOBS, schedule=schedule)

    @app.task(
        name=Task.SUBSCRIBE_STREAMER,
        queue=Queue.MAINTENANCE,
        pass_context=True,
        retry=SUBSCRIBE_RETRY,
    )
    async def subscribe(context: procrastinate.JobContext, /, streamer_id: str, **_: Any) -> None:
        try:
            streamer = UUID(streamer_id)
        except ValueError:
            log.error("subscribe_streamer_bad_argument", streamer_id=streamer_id)
            return
        await _run(
            context,
            Task.SUBSCRIBE_STREAMER,
            lambda runtime: subscribe_streamer(runtime, streamer),
            streamer_id=streamer_id,
        )

    @app.task(
        name=Task.SUBSCRIPTION_REVOKED, queue=Queue.EVENTS, pass_context=True, retry=REVOKED_RETRY
    )
    async def revoked(
        context: procrastinate.JobContext,
        /,
        subscription: dict[str, Any],
        message_id: str | None = None,
        **_: Any,
    ) -> None:
        await _run(
            context,
            Task.SUBSCRIPTION_REVOKED,
            lambda runtime: subscription_revoked(runtime, subscription),
            message_id=message_id,
        )


def register_periodic_jobs(
    app: procrastinate.App, jobs: dict[str, tuple[str, JobFunction]], *, schedule: bool = True
) -> None:
    for name, (cron, function) in jobs.items():
        _register(app, name, cron, function, schedule=schedule)


def _register(
    app: procrastinate.App, name: str, cron: str, function: JobFunction, *, schedule: bool
) -> None:
    async def run(context: procrastinate.JobContext, timestamp: int) -> None:
        await _run(context, name, function, scheduled_for=timestamp)

    task = app.task(
        name=name,
        queue=Queue.MAINTENANCE,
        pass_context=True,
        retry=PERIODIC_RETRY,
        # Two runs of the same job never overlap, even across worker processes.
        lock=name,
    )(run)
    if schedule:
        app.periodic(cron=cron, periodic_id=name)(task)
