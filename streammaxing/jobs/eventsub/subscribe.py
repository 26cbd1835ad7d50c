"""`subscribe_streamer` (deferred when a guild starts tracking a streamer): live-ready in seconds.

The same convergence as the reconcile, for one streamer, from Twitch's listing filtered by its
broadcaster id: its three subscriptions are created (or found, or repaired) at once instead of
at the next reconcile. Deferred by name — task `subscribe_streamer` on queue `maintenance` with
`{"streamer_id": "<uuid>"}` — by the admin API, by `subscription_revoked` and by
`cleanup_orphans` when a streamer it was about to delete is tracked again, and when a
streamer links their Twitch account: a linked streamer's subscriptions that still cost 1 are
deleted first and created again at cost 0 (`streammaxing.jobs.eventsub.recost`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import partial
from uuid import UUID

import procrastinate
import structlog
from procrastinate import exceptions as procrastinate_exceptions
from procrastinate.jobs import Job

from streammaxing.jobs.access import Unavailable, note_budget, subscription_access
from streammaxing.jobs.eventsub.converge import converge
from streammaxing.jobs.eventsub.counts import SubscriptionCounts
from streammaxing.jobs.eventsub.plan import is_ours
from streammaxing.jobs.eventsub.recost import drop_costly
from streammaxing.jobs.patience import patiently
from streammaxing.queues import Queue, Task, subscribe_lock
from streammaxing.runtime import Runtime
from streammaxing.schema.subscriptions import database_now, tracked_streamer
from streammaxing.schema.twitch_links import is_linked

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SubscribeResult:
    skipped: str | None = None
    counts: SubscriptionCounts = field(default_factory=SubscriptionCounts)

    @property
    def retry_later(self) -> bool:
        return self.counts.retry_later


async def subscribe_streamer(runtime: Runtime, streamer_id: UUID) -> SubscribeResult:
    access = subscription_access(runtime, Task.SUBSCRIBE_STREAMER)
    if isinstance(access, Unavailable):
        return SubscribeResult(skipped=access.reason)
    async with runtime.pool.connection() as conn:
        streamer = await tracked_streamer(conn, streamer_id)
        linked = await is_linked(conn, streamer_id)
        as_of = await database_now(conn)
    if streamer is None:
        log.info("subscribe_streamer_not_tracked", streamer_id=str(streamer_id))
        return SubscribeResult(skipped="no guild tracks this streamer")
    broadcaster = streamer.twitch_broadcaster_id
    listing = await patiently(partial(access.helix.list_subscriptions, user_id=broadcaster))
    ours = [sub for sub in listing.subscriptions if is_ours(sub, access.target.callback)]
    if linked:
        ours = await drop_costly(access.helix, ours)
    done = await converge(
        runtime,
        access,
        subscriptions=ours,
        tracked={broadcaster},
        as_of=as_of,
        streamer_id=streamer_id,
    )
    note_budget(runtime, access.helix.budget)
    result = SubscribeResult(counts=done)
    log.info(
        "subscribe_streamer_finished",
        streamer_id=str(streamer_id),
        broadcaster_id=broadcaster,
        **asdict(done),
    )
    return result


def subscribe_job(streamer_id: UUID) -> Job:
    """The job for one streamer: at most one waiting, and one running, per streamer."""
    key = subscribe_lock(str(streamer_id))
    return Job(
        queue=Queue.MAINTENANCE,
        task_name=Task.SUBSCRIBE_STREAMER,
        lock=key,
        queueing_lock=key,
        task_kwargs={"streamer_id": str(streamer_id)},
    )


async def defer_subscribe(app: procrastinate.App, streamer_id: UUID) -> bool:
    """Queue `subscribe_streamer`; False when one is already waiting for this streamer."""
    try:
        await app.job_manager.defer_job_async(subscribe_job(streamer_id))
    except procrastinate_exceptions.AlreadyEnqueued:
        return False
    return True
