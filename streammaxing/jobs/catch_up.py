"""`catch_up_live` (every 5 minutes): the safety net for go-live webhooks that never arrived.

Asks Helix which announceable streamers are live (`GET /streams`, 100 ids a call) and fans out,
exactly as a `stream.online` would (`fan_out`, same idempotency keys, so nothing can be posted
twice), every stream of type `live` whose stream id has no announcement yet. Streams that
started before the retention window are left alone: their announcement may have been pruned,
and a 24/7 channel must not be announced again every month.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Final

import structlog

from streammaxing.jobs.access import Unavailable, helix_access
from streammaxing.jobs.patience import patiently
from streammaxing.runtime import Runtime
from streammaxing.schema.catch_up import announceable_broadcasters, unannounced_streams
from streammaxing.twitch.models import HelixStream
from streammaxing.workers.fanout import fan_out

log = structlog.get_logger(__name__)

JOB_NAME: Final = "catch_up_live"


@dataclass(frozen=True)
class CatchUpResult:
    skipped: str | None = None
    streamers: int = 0
    live: int = 0
    announced: int = 0
    """Streams fanned out by this run (webhooks that never arrived)."""
    too_old: int = 0
    failures: int = 0

    @property
    def retry_later(self) -> bool:
        return self.failures > 0


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
    helix = helix_access(runtime, JOB_NAME)
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
    announced = failures = 0
    for stream in recent:
        if stream.id not in missing:
            continue
        with structlog.contextvars.bound_contextvars(
            streamer_id=stream.user_id, event_id=stream.id
        ):
            log.warning("catch_up_announcing", login=stream.user_login)
            try:
                await fan_out(runtime, online_event(stream))
            except Exception:  # one stream's failure must not block the others (logged with trace)
                log.exception("catch_up_fan_out_failed")
                failures += 1
            else:
                announced += 1
    result = CatchUpResult(
        streamers=len(broadcasters),
        live=len(live),
        announced=announced,
        too_old=len(live) - len(recent),
        failures=failures,
    )
    log.info("catch_up_finished", **asdict(result))
    return result
