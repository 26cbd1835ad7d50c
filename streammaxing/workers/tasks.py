"""The worker tasks: what each job name runs (the middleware in `streammaxing.runner` wraps all).

Jobs deferred by the ingest carry ``message_id`` and ``subscription_id`` besides the event; the
tasks take what they need and ignore the rest.
"""

from __future__ import annotations

from typing import Any, Final

import procrastinate

from streammaxing.queues import Queue, Task
from streammaxing.runner import TaskSpec
from streammaxing.runtime import Runtime
from streammaxing.workers.announce import deliver_announcements
from streammaxing.workers.dm import deliver_dms
from streammaxing.workers.fanout import fan_out
from streammaxing.workers.lifecycle import (
    channel_update,
    edit_announcements,
    finish_stream,
    stream_offline,
)
from streammaxing.workers.sweep import sweep_outbox

#: Unexpected errors (database gone, bugs) retry with exponential backoff: 2, 4, 8 … ~17 min.
RETRY: Final = procrastinate.RetryStrategy(max_attempts=10, exponential_wait=2)


async def _online(
    runtime: Runtime, event: dict[str, Any], accepted_seq: int | None = None, **_: Any
) -> object:
    return await fan_out(runtime, event, accepted_seq)


async def _offline(runtime: Runtime, event: dict[str, Any], **_: Any) -> object:
    return await stream_offline(runtime, event)


async def _update(runtime: Runtime, event: dict[str, Any], **_: Any) -> object:
    return await channel_update(runtime, event)


async def _sweep(runtime: Runtime, timestamp: int) -> object:
    return await sweep_outbox(runtime)


# fmt: off
WORKER_TASKS: Final = (
    TaskSpec(Task.STREAM_ONLINE, Queue.EVENTS, _online, RETRY),
    TaskSpec(Task.STREAM_OFFLINE, Queue.EVENTS, _offline, RETRY),
    TaskSpec(Task.CHANNEL_UPDATE, Queue.EVENTS, _update, RETRY),
    TaskSpec(Task.FINISH_STREAM, Queue.ANNOUNCE, finish_stream, RETRY),
    TaskSpec(Task.EDIT_ANNOUNCEMENTS, Queue.ANNOUNCE, edit_announcements, RETRY),
    TaskSpec(Task.ANNOUNCE, Queue.ANNOUNCE, deliver_announcements, RETRY),
    TaskSpec(Task.DM, Queue.DM, deliver_dms, RETRY),
    # Not retried: the next run is five minutes away.
    TaskSpec(Task.SWEEP_OUTBOX, Queue.MAINTENANCE, _sweep, False,
             lock=Task.SWEEP_OUTBOX, cron="*/5 * * * *"),
)
# fmt: on
