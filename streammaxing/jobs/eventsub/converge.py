"""Bring our subscriptions at Twitch, and their rows, in line with what guilds track.

Shared by `reconcile_subscriptions` (every streamer, from the full listing) and
`subscribe_streamer` (one streamer, from a listing filtered by its id): plan with the
tombstones we remember, carry the plan out, then write down what Twitch now has.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Final
from uuid import UUID

import structlog

from streammaxing.jobs.access import SubscriptionAccess
from streammaxing.jobs.eventsub.apply import ApplyOutcome, apply_plan
from streammaxing.jobs.eventsub.counts import SubscriptionCounts
from streammaxing.jobs.eventsub.plan import (
    DROP_STATUSES,
    Plan,
    StatusAction,
    plan_subscriptions,
    status_action,
    topic_for,
)
from streammaxing.runtime import Runtime
from streammaxing.schema.subscriptions import (
    StoredSubscription,
    SubscriptionRecord,
    forget_subscriptions,
    store_subscriptions,
    stored_subscriptions,
    touch_subscriptions,
    tracked_among,
)
from streammaxing.twitch.models import EventSubSubscription

log = structlog.get_logger(__name__)

#: How long a tombstone (user removed, version removed) stops us from recreating a topic.
#: Twitch reuses no user ids, but a suspended account comes back: try again once a day.
TOMBSTONE_TTL: Final = timedelta(hours=24)


def subscription_record(sub: EventSubSubscription) -> SubscriptionRecord | None:
    """The row we keep of a subscription Twitch listed (None: it names no broadcaster)."""
    if sub.broadcaster_user_id is None:
        return None
    return SubscriptionRecord(
        subscription_id=sub.id,
        broadcaster_id=sub.broadcaster_user_id,
        type=sub.type,
        version=sub.version,
        status=sub.status,
        callback=sub.callback,
    )


def _records(subs: Sequence[EventSubSubscription]) -> list[SubscriptionRecord]:
    return [record for sub in subs if (record := subscription_record(sub)) is not None]


def _is_suppressing(row: StoredSubscription) -> bool:
    topic = topic_for(row.type or "")
    return topic is not None and (
        status_action(row.status, version=row.version or "", wanted_version=topic.version)
        is StatusAction.DROP
    )


async def _spare_retracked(runtime: Runtime, plan: Plan) -> Plan:
    """Drop deletions of streamers a guild started tracking since `tracked` was read."""
    untracked = {
        d.subscription.broadcaster_user_id
        for d in plan.delete
        if d.reason == "untracked" and d.subscription.broadcaster_user_id is not None
    }
    if not untracked:
        return plan
    async with runtime.pool.connection() as conn:
        retracked = await tracked_among(conn, untracked)
    if not retracked:
        return plan
    log.info("eventsub_deletions_spared", broadcasters=len(retracked))
    return replace(
        plan,
        delete=tuple(
            d
            for d in plan.delete
            if not (d.reason == "untracked" and d.subscription.broadcaster_user_id in retracked)
        ),
    )


async def converge(
    runtime: Runtime,
    access: SubscriptionAccess,
    *,
    subscriptions: Sequence[EventSubSubscription],
    tracked: Collection[str],
    as_of: datetime,
    streamer_id: UUID | None = None,
    over_budget: Collection[str] = (),
) -> SubscriptionCounts:
    """Make `subscriptions` (ours, listed after `as_of`) match `tracked` broadcaster ids.

    With `streamer_id`, the listing and `tracked` concern that one streamer, and only its rows
    are rewritten; without, they concern every streamer. Subscriptions of `over_budget`
    streamers (tracked, but left out of a short cost budget) are deleted.
    """
    async with runtime.pool.connection() as conn:
        stored = await stored_subscriptions(conn, streamer_id=streamer_id, statuses=DROP_STATUSES)
    tombstones = [row for row in stored if row.broadcaster_id in tracked and _is_suppressing(row)]
    fresh = [row for row in tombstones if row.last_verified > as_of - TOMBSTONE_TTL]
    plan = plan_subscriptions(
        tracked,
        subscriptions,
        suppressed={(row.broadcaster_id, row.type or "") for row in fresh},
        over_budget=over_budget,
    )
    plan = await _spare_retracked(runtime, plan)
    outcome = await apply_plan(access.helix, access.target, plan)
    await _write_down(runtime, plan, outcome, tombstones, as_of=as_of, streamer_id=streamer_id)
    result = SubscriptionCounts(
        kept=len(plan.keep),
        created=len(outcome.created),
        deleted=len(outcome.deleted),
        suppressed=len(plan.suppressed),
        refused=len(outcome.refused),
        failures=outcome.failures,
    )
    if plan.suppressed:
        log.info("eventsub_topics_suppressed", count=len(plan.suppressed))
    return result


async def _write_down(
    runtime: Runtime,
    plan: Plan,
    outcome: ApplyOutcome,
    tombstones: Sequence[StoredSubscription],
    *,
    as_of: datetime,
    streamer_id: UUID | None,
) -> None:
    """Rows = what Twitch has now, plus the tombstones still in force."""
    listed = [*plan.keep, *(d.subscription for d in outcome.undeleted)]
    fresh_news = [*outcome.created, *(d.subscription for d in outcome.deleted if d.tombstone)]
    covered = {(s.broadcaster_user_id, s.type) for s in [*plan.keep, *outcome.created]}
    refused = {(c.broadcaster_id, c.topic.type) for c in outcome.refused}
    kept_tombstones = [t for t in tombstones if (t.broadcaster_id, t.type) not in covered]
    confirmed = [
        t.subscription_id for t in kept_tombstones if (t.broadcaster_id, t.type) in refused
    ]
    keep = {s.id for s in [*listed, *fresh_news]} | {t.subscription_id for t in kept_tombstones}
    async with runtime.pool.connection() as conn, conn.transaction():
        await store_subscriptions(conn, _records(listed), as_of=as_of)
        await store_subscriptions(conn, _records(fresh_news))
        await touch_subscriptions(conn, confirmed)
        await forget_subscriptions(conn, keep=keep, as_of=as_of, streamer_id=streamer_id)
