"""`subscription_revoked` (deferred by the ingest for each revocation): record, then act.

The ingest already stored the new status when the subscription was known; this job stores it
even when the row did not exist yet, and schedules what the status calls for:
`notification_failures_exceeded`, `webhook_callback_verification_failed`,
`authorization_revoked` and statuses we do not know → `subscribe_streamer`, which deletes the
dead subscription and creates a new one (our callback just answered Twitch, so it works);
`user_removed` → nothing is recreated (the row stays as a tombstone); `version_removed` →
logged loudly, and recreated only when we use another version than the removed one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import structlog

from streammaxing.jobs.eventsub.converge import subscription_record
from streammaxing.jobs.eventsub.plan import StatusAction, status_action, topic_for
from streammaxing.jobs.eventsub.subscribe import defer_subscribe
from streammaxing.runtime import Runtime
from streammaxing.schema.subscriptions import (
    record_subscription,
    tracked_among,
)
from streammaxing.twitch.models import parse_subscription

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RevocationResult:
    action: str
    """`recreate` (subscribe_streamer queued), `drop`, `keep`, or `ignored`."""
    recorded: bool = False
    """The status is stored (False when the streamer is unknown to us)."""
    scheduled: bool = False


async def subscription_revoked(
    runtime: Runtime, subscription: Mapping[str, object]
) -> RevocationResult:
    try:
        sub = parse_subscription(subscription)
    except ValueError:
        log.warning("revocation_without_subscription_id")
        return RevocationResult(action="ignored")
    topic = topic_for(sub.type)
    fields = {
        "subscription_id": sub.id,
        "subscription_type": sub.type,
        "version": sub.version,
        "status": sub.status,
        "broadcaster_id": sub.broadcaster_user_id,
    }
    record = subscription_record(sub)
    if record is None or topic is None:
        log.warning("revocation_ignored", **fields)
        return RevocationResult(action="ignored")
    action = status_action(sub.status, version=sub.version, wanted_version=topic.version)
    async with runtime.pool.connection() as conn:
        recorded = await record_subscription(conn, record)
        tracked = await tracked_among(conn, [record.broadcaster_id])
    streamer_id = tracked.get(record.broadcaster_id)
    if sub.status == "version_removed":
        log.error("eventsub_version_removed", action=action.value, **fields)
    else:
        log.warning("eventsub_subscription_revoked", action=action.value, **fields)
    scheduled = False
    if action is StatusAction.RECREATE and streamer_id is not None:
        await defer_subscribe(runtime.app, streamer_id)  # False: one is waiting already
        scheduled = True
    return RevocationResult(action=action.value, recorded=recorded, scheduled=scheduled)
