"""`cleanup_orphans` (hourly): streamers no guild tracks lose their subscriptions, then their row.

For each orphan (`NOT EXISTS`, never the seed's `NOT IN`): list its subscriptions at Twitch (by
broadcaster id) and delete those that are ours — remembered in our rows or delivering to our
callback — and only when every deletion succeeded, delete the row (which cascades to its
subscription rows). A failed deletion keeps the row, so the next run tries again. A streamer a
guild tracks again meanwhile keeps its row and gets `subscribe_streamer` to restore what was
just deleted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial
from typing import Final

import structlog

from streammaxing.jobs.access import (
    EventSubTarget,
    Unavailable,
    eventsub_target,
    helix_access,
)
from streammaxing.jobs.bounded import bounded_map
from streammaxing.jobs.eventsub.plan import is_ours
from streammaxing.jobs.eventsub.subscribe import defer_subscribe
from streammaxing.jobs.patience import patiently
from streammaxing.queues import Task
from streammaxing.runtime import Runtime
from streammaxing.schema.streamers import (
    StreamerRow,
    delete_streamer_if_orphaned,
    orphaned_streamers,
)
from streammaxing.schema.subscriptions import stored_subscriptions
from streammaxing.twitch.client import HelixClient
from streammaxing.twitch.errors import TwitchAuthError, TwitchError

log = structlog.get_logger(__name__)

#: Orphans handled at once (each is a listing and up to three deletions).
CONCURRENCY: Final = 4


@dataclass(frozen=True)
class CleanupResult:
    skipped: str | None = None
    orphans: int = 0
    subscriptions_deleted: int = 0
    streamers_deleted: int = 0
    tracked_again: int = 0
    failures: int = 0

    @property
    def retry_later(self) -> bool:
        return self.failures > 0


@dataclass(frozen=True)
class _Removal:
    deleted: int
    ok: bool


async def _remove_subscriptions(
    runtime: Runtime, helix: HelixClient, target: EventSubTarget | None, streamer: StreamerRow
) -> _Removal:
    async with runtime.pool.connection() as conn:
        remembered = {
            row.subscription_id for row in await stored_subscriptions(conn, streamer_id=streamer.id)
        }
    broadcaster = streamer.twitch_broadcaster_id
    deleted = 0
    try:
        listing = await patiently(partial(helix.list_subscriptions, user_id=broadcaster))
        for sub in listing.subscriptions:
            if sub.id in remembered or (target is not None and is_ours(sub, target.callback)):
                await patiently(partial(helix.delete_subscription, sub.id))
                deleted += 1
    except TwitchAuthError:
        raise
    except TwitchError as error:
        log.warning(
            "orphan_subscriptions_not_deleted",
            streamer_id=str(streamer.id),
            broadcaster_id=broadcaster,
            error=str(error),
        )
        return _Removal(deleted, ok=False)
    return _Removal(deleted, ok=True)


async def cleanup_orphans(runtime: Runtime) -> CleanupResult:
    helix = helix_access(runtime, Task.CLEANUP_ORPHANS)
    if isinstance(helix, Unavailable):
        return CleanupResult(skipped=helix.reason)
    target = eventsub_target(runtime.settings.public_url, runtime.settings.eventsub_secrets)
    async with runtime.pool.connection() as conn:
        orphans = await orphaned_streamers(conn)

    async def clean(streamer: StreamerRow) -> tuple[_Removal, bool | None]:
        removal = await _remove_subscriptions(runtime, helix, target, streamer)
        if not removal.ok:
            return removal, None
        async with runtime.pool.connection() as conn:
            gone = await delete_streamer_if_orphaned(conn, streamer.id)
        if gone:
            log.info(
                "orphan_deleted",
                streamer_id=str(streamer.id),
                broadcaster_id=streamer.twitch_broadcaster_id,
                subscriptions_deleted=removal.deleted,
            )
        else:
            log.info("orphan_tracked_again", streamer_id=str(streamer.id))
            await defer_subscribe(runtime.app, streamer.id)
        return removal, gone

    outcomes = await bounded_map(orphans, clean, limit=CONCURRENCY)
    result = CleanupResult(
        orphans=len(orphans),
        subscriptions_deleted=sum(removal.deleted for removal, _ in outcomes),
        streamers_deleted=sum(1 for _, gone in outcomes if gone),
        tracked_again=sum(1 for _, gone in outcomes if gone is False),
        failures=sum(1 for _, gone in outcomes if gone is None),
    )
    log.info("cleanup_orphans_finished", **asdict(result))
    return result
