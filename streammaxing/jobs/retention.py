"""`prune` (daily): old delivery logs, remembered webhook message ids, finished queue jobs."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from streammaxing.runtime import Runtime
from streammaxing.schema.retention import prune_dm_log, prune_notification_log
from streammaxing.schema.webhooks import prune_message_ids

log = structlog.get_logger(__name__)

# Message ids are kept well beyond the ±10 min replay window (Twitch publishes no retention for
# redeliveries; keeping a day costs a few MB).
MESSAGE_ID_RETENTION_SECONDS = 24 * 3600
FINISHED_JOB_RETENTION_HOURS = 24


@dataclass(frozen=True)
class PruneResult:
    notifications: int
    dms: int
    message_ids: int


async def prune(runtime: Runtime) -> PruneResult:
    days = runtime.settings.retention_days
    async with runtime.pool.connection() as conn:
        notifications = await prune_notification_log(conn, days)
        dms = await prune_dm_log(conn, days)
        message_ids = await prune_message_ids(conn, MESSAGE_ID_RETENTION_SECONDS)
    await runtime.app.job_manager.delete_old_jobs(
        nb_hours=FINISHED_JOB_RETENTION_HOURS, include_failed=False, include_cancelled=True
    )
    result = PruneResult(notifications, dms, message_ids)
    log.info("prune_finished", notifications=notifications, dms=dms, message_ids=message_ids)
    return result
