"""`sweep_outbox` (every 5 minutes): the safety net that wakes shards with pending deliveries.

Delivery jobs are deferred by the fan-out and re-scheduled by themselves; this catches what a
crash between those steps could leave behind (e.g. a claim whose fan-out gave up for good).
"""

from __future__ import annotations

import structlog

from streammaxing.runtime import Runtime
from streammaxing.schema.outbox import dms_pending, shards_with_pending
from streammaxing.workers.queueing import defer_announcement_delivery, defer_dm_delivery

log = structlog.get_logger(__name__)


async def sweep_outbox(runtime: Runtime) -> int:
    async with runtime.pool.connection() as conn, conn.transaction():
        shards = await shards_with_pending(conn)
        await defer_announcement_delivery(runtime.app, conn, shards)
        dms = await dms_pending(conn)
        if dms:
            await defer_dm_delivery(runtime.app, conn)
    if shards or dms:
        log.info("outbox_swept", shards=shards, dms=dms)
    return len(shards)
