"""The jobs: the periodic ones (cron) and the two deferred by name (the middleware in
`streammaxing.runner` wraps all; a result with ``retry_later`` set makes procrastinate retry)."""

from __future__ import annotations

from typing import Any, Final
from uuid import UUID

import procrastinate
import structlog

from streammaxing.jobs.authorization_revoked import authorization_revoked
from streammaxing.jobs.catch_up import catch_up_live
from streammaxing.jobs.cleanup import cleanup_orphans
from streammaxing.jobs.eventsub.reconcile import reconcile_subscriptions
from streammaxing.jobs.eventsub.revocation import subscription_revoked
from streammaxing.jobs.eventsub.subscribe import subscribe_streamer
from streammaxing.jobs.retention import prune
from streammaxing.jobs.stalled import retry_stalled_jobs
from streammaxing.jobs.user_tokens import maintain_twitch_tokens
from streammaxing.queues import Queue, Task
from streammaxing.runner import TaskBody, TaskSpec
from streammaxing.runtime import Runtime

log = structlog.get_logger(__name__)

#: A periodic run that failed (or did only part of its work) is tried again a minute later;
#: the next scheduled run follows anyway.
PERIODIC_RETRY: Final = procrastinate.RetryStrategy(max_attempts=2, wait=60)
#: subscribe_streamer: 4, 8, 16 … 256 s — a new streamer should not wait for the reconcile.
SUBSCRIBE_RETRY: Final = procrastinate.RetryStrategy(max_attempts=8, exponential_wait=2)
#: subscription_revoked only touches the database: retry while it is away.
REVOKED_RETRY: Final = procrastinate.RetryStrategy(max_attempts=10, exponential_wait=2)

#: name → (cron schedule, core function). `run-job NAME` runs the core function directly.
PERIODIC_JOBS: Final[dict[Task, tuple[str, TaskBody]]] = {
    Task.RETRY_STALLED_JOBS: ("* * * * *", retry_stalled_jobs),
    Task.CATCH_UP_LIVE: ("*/5 * * * *", catch_up_live),
    Task.RECONCILE_SUBSCRIPTIONS: ("*/10 * * * *", reconcile_subscriptions),
    Task.CLEANUP_ORPHANS: ("41 * * * *", cleanup_orphans),
    Task.PRUNE: ("17 3 * * *", prune),
    Task.MAINTAIN_TWITCH_TOKENS: ("*/10 * * * *", maintain_twitch_tokens),
}


def _periodic(name: Task, cron: str, function: TaskBody) -> TaskSpec:
    async def run(runtime: Runtime, timestamp: int) -> object:
        return await function(runtime)

    # Two runs of the same job never overlap, even across worker processes.
    return TaskSpec(name, Queue.MAINTENANCE, run, PERIODIC_RETRY, lock=name, cron=cron)


async def _subscribe(runtime: Runtime, streamer_id: str, **_: Any) -> object:
    try:
        streamer = UUID(streamer_id)
    except ValueError:
        log.error("subscribe_streamer_bad_argument", streamer_id=streamer_id)
        return None
    return await subscribe_streamer(runtime, streamer)


async def _revoked(runtime: Runtime, subscription: dict[str, Any], **_: Any) -> object:
    return await subscription_revoked(runtime, subscription)


async def _authorization_revoked(runtime: Runtime, event: dict[str, Any], **_: Any) -> object:
    return await authorization_revoked(runtime, event)


JOB_TASKS: Final = (
    *(_periodic(name, cron, function) for name, (cron, function) in PERIODIC_JOBS.items()),
    TaskSpec(Task.SUBSCRIBE_STREAMER, Queue.MAINTENANCE, _subscribe, SUBSCRIBE_RETRY),
    TaskSpec(Task.SUBSCRIPTION_REVOKED, Queue.EVENTS, _revoked, REVOKED_RETRY),
    TaskSpec(Task.AUTHORIZATION_REVOKED, Queue.EVENTS, _authorization_revoked, REVOKED_RETRY),
)
