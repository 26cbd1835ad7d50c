"""How every job runs: one worker middleware around every task, and the task declarations.

A component declares its tasks as `TaskSpec`s (name, queue, retry policy, lock, optional cron
schedule, and the core function it calls with the worker's `Runtime`); `register` puts them on a
procrastinate App as one-line tasks. `job_middleware` wraps every job a worker runs, periodic
ones included, in the same way:

- binds ``job_id``, ``task`` and ``attempt`` (plus the job's id-like arguments) to the log context,
  and clears exactly those keys afterwards;
- cancels a job that runs longer than its time limit (the job then fails and is retried by its
  task's retry strategy);
- counts the outcome per task: ``succeeded``, ``incomplete``, ``timed_out`` or ``failed``;
- turns a result that says ``retry_later`` (some of the work failed for now) into
  `IncompleteRunError`, so procrastinate retries the job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol, runtime_checkable

import procrastinate
import structlog

from streammaxing.queues import Queue, Task
from streammaxing.runtime import runtime_from

log = structlog.get_logger(__name__)

#: A job running longer than this is cancelled and retried. Delivery jobs stop themselves well
#: before (their budget is 240 s); a periodic job that hangs on a dead connection is cut off.
JOB_TIME_LIMIT_SECONDS: Final = 300.0

#: Job arguments bound to the log context when a job has them (ids, never payloads).
_LOGGED_ARGUMENTS: Final = ("message_id", "streamer_id", "stream_id", "shard", "kind")

TaskBody = Callable[..., Awaitable[object]]
WorkerMiddleware = Callable[..., Awaitable[Any]]


@runtime_checkable
class MayBeIncomplete(Protocol):
    """A result that can say some of its work failed for now and should be tried again."""

    @property
    def retry_later(self) -> bool: ...


class IncompleteRunError(Exception):
    """A job did what it could, but some of it failed for now: run it again later."""

    def __init__(self, task: str, result: object) -> None:
        super().__init__(f"{task} left work undone: {result!r}")
        self.result = result


@dataclass(frozen=True)
class TaskSpec:
    """One task: its stored name, queue and retry policy, and the core function it runs.

    ``run(runtime, **job_arguments)`` is the whole task; a ``cron`` schedule makes it periodic
    (procrastinate then passes the scheduled ``timestamp`` as an argument). ``lock`` keeps two
    jobs of the task from running at once, across every worker.
    """

    name: Task
    queue: Queue
    run: TaskBody
    retry: procrastinate.RetryStrategy | Literal[False]
    lock: str | None = None
    cron: str | None = None


def register(app: procrastinate.App, specs: Iterable[TaskSpec], *, schedule: bool = True) -> None:
    """Register each spec on `app`; ``schedule=False`` leaves the cron schedules out (the
    tasks still run when deferred, e.g. by `run-job` or a test)."""
    for spec in specs:
        _register(app, spec, schedule=schedule)


def _register(app: procrastinate.App, spec: TaskSpec, *, schedule: bool) -> None:
    async def task(context: procrastinate.JobContext, /, **arguments: Any) -> object:
        return await spec.run(runtime_from(context), **arguments)

    task.__name__ = task.__qualname__ = spec.name.value
    registered = app.task(
        name=spec.name,
        queue=spec.queue,
        pass_context=True,
        retry=spec.retry,
        lock=spec.lock,
    )(task)
    if schedule and spec.cron is not None:
        # The task takes the scheduled `timestamp` among its keyword arguments, which
        # procrastinate's typing of periodic tasks (a positional int) cannot express.
        app.periodic(cron=spec.cron, periodic_id=spec.name)(registered)  # type: ignore[arg-type]


def job_middleware(*, time_limit: float = JOB_TIME_LIMIT_SECONDS) -> WorkerMiddleware:
    """The middleware every worker runs every job under (see the module docstring)."""

    async def middleware(
        call_next: Callable[[], Awaitable[Any]],
        context: procrastinate.JobContext,
        _worker: object,
    ) -> Any:
        job = context.job
        task = job.task_name
        metrics = runtime_from(context).metrics
        fields: dict[str, object] = {"job_id": job.id, "task": task, "attempt": job.attempts}
        for name in _LOGGED_ARGUMENTS:
            if name in job.task_kwargs:
                fields[name] = job.task_kwargs[name]
        if "timestamp" in job.task_kwargs:
            fields["scheduled_for"] = job.task_kwargs["timestamp"]
        structlog.contextvars.bind_contextvars(**fields)
        limit = asyncio.timeout(time_limit)
        try:
            async with limit:
                result = await call_next()
            if isinstance(result, MayBeIncomplete) and result.retry_later:
                log.warning("job_incomplete", result=repr(result))
                raise IncompleteRunError(task, result)
        except IncompleteRunError:
            metrics.jobs.labels(task, "incomplete").inc()
            raise
        except TimeoutError:
            if not limit.expired():
                metrics.jobs.labels(task, "failed").inc()
                log.exception("job_failed")
                raise
            metrics.jobs.labels(task, "timed_out").inc()
            log.error("job_timed_out", time_limit=time_limit)
            raise
        except Exception:
            metrics.jobs.labels(task, "failed").inc()
            log.exception("job_failed")
            raise
        else:
            metrics.jobs.labels(task, "succeeded").inc()
            return result
        finally:
            structlog.contextvars.unbind_contextvars(*fields)

    return middleware
