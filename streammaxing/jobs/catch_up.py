"""`catch_up_live` (every 5 minutes): the safety net for go-live webhooks that never arrived.

Asks Helix which announceable streamers are live (`GET /streams`, 100 ids a call) and queues a
`stream_online` job, exactly as the ingest would for the webhook, for every stream of type `live`
whose stream id has no announcement yet. The workers fan those out in parallel with the same
idempotency keys, so nothing can be posted twice; a queueing lock per stream keeps a second
catch-up run from queueing the same stream again while its job waits. Streams that
started before the retention window are left alone: their announcement may have been pruned,
and a 24/7 channel must not be announced again every month.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import procrastinate
import structlog
from procrastinate import exceptions as procrastinate_exceptions
from procrastinate.jobs import Job

from streammaxing.jobs.access import Unavailable, helix_access
from streammaxing.jobs.patience import patiently
from streammaxing.queues import Queue, Task, online_lock
from streammaxing.runtime import Runtime
from streammaxing.schema.catch_up import announceable_broadcasters, unannounced_streams
from streammaxing.twitch.models import HelixStream

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class CatchUpResult:
    skipped: str | None = None
    streamers: int = 0
    live: int = 0
    announced: int = 0
    """Streams queued for fan-out by this run (webhooks that never arrived)."""
    too_old: int = 0


def online_event(stream: HelixStream) -> dict[str, Any]:
    """The `stream.online` event Twitch would have sent for this stream."""
    event: dict[str, Any] = {
        "id": stream.id,
        "broadcaster_user_id": stream.user_id,
        "broadcaster_user_login": stream.user_login,
        "broadcaster_user_name": stream.user_name,
        "type": "live",
    }
    if stream.started_at is not None:
        event["started_at"] = stream.started_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return event


async def catch_up_live(runtime: Runtime) -> CatchUpResult:
    helix = helix_access(runtime, Task.CATCH_UP_LIVE)
    if isinstance(helix, Unavailable):
        return CatchUpResult(skipped=helix.reason)
    async with runtime.pool.connection() as conn:
        broadcasters = await announceable_broadcasters(conn)
    streams = await patiently(partial(helix.get_streams, broadcasters)) if broadcasters else []
    live = [stream for stream in streams if stream.is_live]
    horizon = datetime.now(UTC) - timedelta(days=runtime.settings.retention_days)
    recent = [s for s in live if s.started_at is None or s.started_at > horizon]
    async with runtime.pool.connection() as conn:
        missing = await unannounced_streams(conn, [stream.id for stream in recent])
    announced = 0
    for stream in recent:
        if stream.id not in missing:
            continue
        log.warning(
            "catch_up_announcing",
            login=stream.user_login,
            streamer_id=stream.user_id,
            event_id=stream.id,
        )
        if await defer_online(runtime.app, stream):
            announced += 1
    result = CatchUpResult(
        streamers=len(broadcasters),
        live=len(live),
        announced=announced,
        too_old=len(live) - len(recent),
    )
    log.info("catch_up_finished", **asdict(result))
    return result


async def defer_online(app: procrastinate.App, stream: HelixStream) -> bool:
    """Queue the `stream_online` job of a missed go-live; False if one already waits for it."""
    job = Job(
        queue=Queue.EVENTS,
        task_name=Task.STREAM_ONLINE,
        lock=None,
        queueing_lock=online_lock(stream.id),
        task_kwargs={"event": online_event(stream)},
    )
    try:
        await app.job_manager.defer_job_async(job)
    except procrastinate_exceptions.AlreadyEnqueued:
        return False
    return True
