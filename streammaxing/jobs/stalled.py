"""`retry_stalled_jobs` (every minute): re-queue jobs whose worker stopped heart-beating.

procrastinate does not re-run a killed worker's jobs by itself; workers heartbeat every 10 s and a
worker silent for `STALLED_AFTER_SECONDS` is considered dead, so its jobs run again within about
two minutes of the kill.
"""

from __future__ import annotations

import structlog

from streammaxing.runtime import Runtime

log = structlog.get_logger(__name__)

STALLED_AFTER_SECONDS = 45.0


async def retry_stalled_jobs(runtime: Runtime) -> int:
    manager = runtime.app.job_manager
    stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER_SECONDS))
    for job in stalled:
        await manager.retry_job(job)
        log.warning(
            "stalled_job_retried", job_id=job.id, task=job.task_name, worker_id=job.worker_id
        )
    await manager.prune_stalled_workers(seconds_since_heartbeat=STALLED_AFTER_SECONDS)
    return len(stalled)
