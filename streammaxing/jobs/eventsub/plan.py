"""What to do about EventSub subscriptions: a pure function of what Twitch lists, what guilds
track and what we remember.

Every tracked streamer needs one healthy subscription per topic (`TOPICS`). A subscription is
*ours* when it is a webhook to our callback URL; nothing else is ever touched. For each tracked
streamer and topic, among our subscriptions of that type:

- healthy (`enabled`, or `webhook_callback_verification_pending`: in flight, never duplicated)
  at our version → the best one is kept (enabled before pending, then oldest), others deleted;
- healthy at another version → deleted and recreated at ours;
- `user_removed` (the user no longer exists), or `version_removed` at the version we use →
  deleted and *not* recreated: remembered as a tombstone that suppresses creation for a while;
- any other status (`notification_failures_exceeded`, `webhook_callback_verification_failed`,
  `authorization_revoked`, statuses Twitch adds later, …) is unhealthy → deleted and recreated;
- nothing kept and not suppressed → created.

Our subscriptions of untracked streamers, of streamers left out of a short cost budget, or of
types we do not use, are deleted. Deletions
come before creations: dead webhook subscriptions linger at Twitch for up to 10 days and count
towards the per-condition limit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

from streammaxing.twitch.models import ACTIVE_STATUSES, EventSubSubscription

__all__ = [
    "DROP_STATUSES",
    "TOPICS",
    "Creation",
    "Deletion",
    "Plan",
    "StatusAction",
    "Topic",
    "is_ours",
    "plan_subscriptions",
    "status_action",
    "topic_for",
]


@dataclass(frozen=True, slots=True)
class Topic:
    """An EventSub subscription type at the version we create."""

    type: str
    version: str


#: What every tracked streamer is subscribed to (stream.online and stream.offline v1,
#: channel.update v2: v1 is deprecated).
TOPICS: Final = (
    Topic("stream.online", "1"),
    Topic("stream.offline", "1"),
    Topic("channel.update", "2"),
)

#: Statuses that can stop us from recreating a subscription (see `status_action`).
DROP_STATUSES: Final = frozenset({"user_removed", "version_removed"})


class StatusAction(StrEnum):
    KEEP = "keep"
    """Twitch delivers events for it, or is about to (callback verification in flight)."""
    RECREATE = "recreate"
    """It is dead but a new one can work: delete it and create another."""
    DROP = "drop"
    """It is dead and a new one cannot work: delete it, do not recreate."""


def status_action(status: str, *, version: str, wanted_version: str) -> StatusAction:
    """What a subscription's status calls for; unknown statuses are unhealthy (RECREATE)."""
    if status in ACTIVE_STATUSES:
        return StatusAction.KEEP
    if status == "user_removed":
        return StatusAction.DROP
    if status == "version_removed" and version == wanted_version:
        return StatusAction.DROP
    return StatusAction.RECREATE


def topic_for(subscription_type: str, topics: Sequence[Topic] = TOPICS) -> Topic | None:
    return next((topic for topic in topics if topic.type == subscription_type), None)


def is_ours(subscription: EventSubSubscription, callback: str) -> bool:
    """A webhook subscription delivering to our callback URL (others are never touched)."""
    return subscription.transport_method == "webhook" and subscription.callback == callback


@dataclass(frozen=True, slots=True)
class Deletion:
    subscription: EventSubSubscription
    reason: str
    """`untracked`, `over_budget`, `unwanted_type`, `duplicate`, `outdated_version`, or the
    dead status."""
    tombstone: bool = False
    """Its topic must not be recreated for now: keep remembering it after the deletion."""


@dataclass(frozen=True, slots=True)
class Creation:
    broadcaster_id: str
    topic: Topic
    replaces: str | None = None
    """The status of the dead subscription this one replaces, if any (for the logs)."""


@dataclass(frozen=True, slots=True)
class Plan:
    keep: tuple[EventSubSubscription, ...]
    delete: tuple[Deletion, ...]
    create: tuple[Creation, ...]
    suppressed: tuple[tuple[str, str], ...]
    """(broadcaster id, type) left without a subscription: user or version removed."""

    @property
    def changes_nothing(self) -> bool:
        return not self.delete and not self.create


@dataclass
class _PlanBuilder:
    keep: list[EventSubSubscription]
    delete: list[Deletion]
    create: list[Creation]
    suppressed: list[tuple[str, str]]

    def build(self) -> Plan:
        return Plan(
            tuple(self.keep), tuple(self.delete), tuple(self.create), tuple(self.suppressed)
        )


def _preference(subscription: EventSubSubscription) -> tuple[int, datetime, str]:
    enabled_first = 0 if subscription.status == "enabled" else 1
    created = subscription.created_at or datetime.max.replace(tzinfo=UTC)
    return enabled_first, created, subscription.id


def _plan_topic(
    broadcaster_id: str,
    topic: Topic,
    subscriptions: Sequence[EventSubSubscription],
    suppressed: bool,
    plan: _PlanBuilder,
) -> None:
    healthy: list[EventSubSubscription] = []
    dead_status: str | None = None
    for sub in subscriptions:
        action = status_action(sub.status, version=sub.version, wanted_version=topic.version)
        if action is StatusAction.KEEP and sub.version == topic.version:
            healthy.append(sub)
        elif action is StatusAction.KEEP:
            plan.delete.append(Deletion(sub, "outdated_version"))
        elif action is StatusAction.DROP:
            plan.delete.append(Deletion(sub, sub.status, tombstone=True))
            suppressed = True
        else:
            plan.delete.append(Deletion(sub, sub.status))
            dead_status = sub.status
    healthy.sort(key=_preference)
    if healthy:
        plan.keep.append(healthy[0])
        plan.delete.extend(Deletion(sub, "duplicate") for sub in healthy[1:])
    elif suppressed:
        plan.suppressed.append((broadcaster_id, topic.type))
    else:
        plan.create.append(Creation(broadcaster_id, topic, replaces=dead_status))


def plan_subscriptions(
    tracked: Collection[str],
    subscriptions: Iterable[EventSubSubscription],
    *,
    suppressed: Collection[tuple[str, str]] = (),
    over_budget: Collection[str] = (),
    topics: Sequence[Topic] = TOPICS,
) -> Plan:
    """The changes that make `subscriptions` (ours only) match the `tracked` broadcaster ids.

    `suppressed` holds (broadcaster id, type) pairs we remember as dropped (tombstones): they
    are not created even when missing. `over_budget` are tracked streamers left out of a short
    cost budget: their subscriptions are deleted (reason `over_budget`) to free the points.
    """
    by_broadcaster: dict[str, dict[str, list[EventSubSubscription]]] = defaultdict(
        lambda: defaultdict(list)
    )
    plan = _PlanBuilder([], [], [], [])
    wanted = {topic.type for topic in topics}
    for sub in subscriptions:
        broadcaster = sub.broadcaster_user_id
        if broadcaster is not None and broadcaster in over_budget:
            plan.delete.append(Deletion(sub, "over_budget"))
        elif broadcaster is None or broadcaster not in tracked:
            plan.delete.append(Deletion(sub, "untracked"))
        elif sub.type not in wanted:
            plan.delete.append(Deletion(sub, "unwanted_type"))
        else:
            by_broadcaster[broadcaster][sub.type].append(sub)
    suppressed_pairs = set(suppressed)
    for broadcaster in sorted(tracked):
        current = by_broadcaster.get(broadcaster, {})
        for topic in topics:
            _plan_topic(
                broadcaster,
                topic,
                current.get(topic.type, []),
                (broadcaster, topic.type) in suppressed_pairs,
                plan,
            )
    return plan.build()
