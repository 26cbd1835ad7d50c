"""`prune` (daily): old delivery logs, remembered webhook message ids, finished queue jobs, and
Discord rate-limit buckets nobody has used for a while. It also counts the guilds with no
delivery in `INACTIVE_GUILD_DAYS` days for the `inactive_guilds` gauge (reported, never
deleted: `streammaxing guilds-inactive` lists them)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

import structlog
from psycopg import AsyncConnection

from streammaxing.runtime import Runtime
from streammaxing.schema.inactive_guilds import count_inactive_guilds
from streammaxing.schema.ratelimits import prune_idle_buckets
from streammaxing.schema.retention import PRUNE_BATCH, prune_dm_log, prune_notification_log
from streammaxing.schema.webhooks import prune_message_ids

log = structlog.get_logger(__name__)

# Message ids are kept well beyond the ±10 min replay window (Twitch publishes no retention for
# redeliveries; keeping a day costs a few MB).
MESSAGE_ID_RETENTION_SECONDS = 24 * 3600
FINISHED_JOB_RETENTION_HOURS = 24
# One bucket row is learned per channel ever posted to. Discord's buckets reset within seconds
# to minutes; a bucket forgotten after an idle hour is learned again from the next response
# (one request in flight until then), so the table holds only channels posted to lately.
IDLE_BUCKET_SECONDS = 3600.0
#: A guild with no announcement delivered for this long counts as inactive.
INACTIVE_GUILD_DAYS = 90


@dataclass(frozen=True)
class PruneResult:
    notifications: int
    dms: int
    message_ids: int
    rate_limit_buckets: int
    inactive_guilds: int


async def _in_batches(
    conn: AsyncConnection[Any],
    prune_batch: Callable[[AsyncConnection[Any], int], Awaitable[int]],
    days: int,
) -> int:
    """Run a bounded prune statement (each its own transaction) until a batch comes back short."""
    total = 0
    while True:
        deleted = await prune_batch(conn, days)
        total += deleted
        if deleted < PRUNE_BATCH:
            return total


async def prune(runtime: Runtime) -> PruneResult:
    days = runtime.settings.retention_days
    async with runtime.pool.connection() as conn:
        notifications = await _in_batches(conn, prune_notification_log, days)
        dms = await _in_batches(conn, prune_dm_log, days)
        message_ids = await prune_message_ids(conn, MESSAGE_ID_RETENTION_SECONDS)
        buckets = await prune_idle_buckets(conn, idle_seconds=IDLE_BUCKET_SECONDS)
        inactive = await count_inactive_guilds(conn, INACTIVE_GUILD_DAYS)
    runtime.metrics.inactive_guilds.labels(str(INACTIVE_GUILD_DAYS)).set(inactive)
    await runtime.app.job_manager.delete_old_jobs(
        nb_hours=FINISHED_JOB_RETENTION_HOURS, include_failed=False, include_cancelled=True
    )
    result = PruneResult(notifications, dms, message_ids, buckets, inactive)
    log.info("prune_finished", **asdict(result))
    return result
